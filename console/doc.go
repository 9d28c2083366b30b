// Package console is the server console: server-rendered pages under /ui/
// on the server's own port, for connected users (browse, search, create and
// edit the records of every table of the schema, with forms built from it,
// and upload and download their attachment files) and administrators
// (nodes, the pipeline at a glance with a chart of its last hour, users,
// synchronization sessions, conflicts and refusals).
//
// It sits beside the HTTP API at the edge of the server: it writes through
// the one write path (internal/admin, fieldsync.Writer) with the signed-in
// user in the context, so the Transaction Log records who made each write.
// Sign-in takes a user's login and password (bcrypt hashes in the server
// database) or the administrator's token; sessions are cookies (HttpOnly,
// SameSite=Strict, Secure under TLS) that expire, and every form POST
// carries the session's CSRF token. See docs/console.md.
package console
