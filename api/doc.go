// Package api is the HTTP API of connected users and administrators, and a
// Go client for it.
//
// It sits at the start of the flow: a connected user (a call-center user
// working against the server) creates, reads, changes and deletes records
// here, and every write goes through the store's one write path, which
// appends it to the Transaction Log in the same database transaction; the
// Transaction Processor and the Transaction Router take it from there. The
// administrator registers nodes here (each with a secret shown once, and a
// Database Extract to start from), deactivates and re-extracts them, and
// reads the status of the flow.
//
// Requests and answers are JSON; errors are {"error": "one line", "code":
// "kind"} with the HTTP status of their kind. Every endpoint except /health
// needs a bearer token. docs/api.md documents the endpoints.
//
// The remote clients' synchronization endpoints are not here: they belong
// to the Synchronization Manager.
package api
