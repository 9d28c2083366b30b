// Package localui is the field user's view of a node's local database: a
// small JSON API (and pages) served on loopback by `fieldsync client ui`,
// so that the field user, or an application in any language on the
// laptop, can read and write the local database, open, request and attach
// the rows' files, and trigger a sync. It sits beside the remote client
// (package client) and links no server component. Every request must carry
// the token printed at start (as a bearer token, or as a cookie set by the
// first visit through the printed URL), name a loopback host, and keep its
// body within MaxBody (Server.MaxFile for an attachment's upload).
package localui
