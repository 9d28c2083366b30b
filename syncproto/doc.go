// Package syncproto is what the Synchronization Manager (syncmgr) and a
// remote client (client) say to each other over HTTP: the messages, the
// paths of the endpoints under /sync/v1/ and the headers, and Client, the
// Go client of those endpoints. It is the protocol's one owner: the server
// mounts its handlers on the routes named here, and the remote client
// links this package instead of the server's Synchronization Manager.
//
// Errors travel as internal/httperr writes them: a Client's errors unwrap
// to the root package's sentinels (errors.Is(err, fieldsync.ErrBusy)).
//
// docs/sync.md documents the protocol.
package syncproto
