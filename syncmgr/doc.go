// Package syncmgr is the Synchronization Manager: the HTTP endpoints remote
// clients use to synchronize. It validates each request's node and secret
// against the node registry (unknown, deactivated and wrongly authenticated
// nodes are refused with distinct messages, and logged), serves the node's
// extract and outbox files (ranged, so broken downloads resume), takes its
// uploads into its server inbox for the Transaction Merger, deletes outbox
// files the client acknowledges, and records each session. A node reaches
// only its own folders. Concurrent sessions are limited; past the limit a
// client is told "busy, retry later". What one node may take is bounded
// too (limits.go): sessions, requests and news waits at once, uploads
// numbered ahead of its last merged one; past a bound it is told which,
// with a Retry-After. Waiting news requests share one poller (news.go).
//
// What is said over the wire (messages, paths, headers) is package
// syncproto's; errors are answered as internal/httperr's table says.
// docs/sync.md documents the protocol.
package syncmgr
