// Package server runs the server components of fieldsync together in one
// process, or any subset of them, over one data folder:
//
//	DATA/server.db      the server database (SQLite), with the Transaction Log
//	DATA/admin.token    the administrator's API token (0600, made on first start; see Config.NoTokenFile)
//	DATA/docking/       txnproc files, and each node's extract and outbox
//	DATA/locks/         a lock per router partition, held by the process running it (Claim)
//
// The components, in the order of the flow: the HTTP API of connected users
// and administrators (package api, with the Database Extract behind node
// registration), the Transaction Processor (txnproc), the Transaction Router
// partitions (router), the Synchronization Manager that remote clients talk
// to under /sync/ (syncmgr), and the Transaction Merger that applies their
// uploads (merger). Config.Only picks the components a process runs, so an
// installation can spread them across machines; `fieldsync server` is this
// package with flags.
//
// Open prepares the folder and the database, Serve runs the components until
// its context ends and then stops them gracefully, Close closes the
// database.
//
// A program that embeds the server administers it in-process through
// Admin (nodes, extracts, status, conflicts, records), asks the database
// whether every component has caught up with Idle or WaitIdle, and may
// keep the administrator's token out of the data folder
// (Config.NoTokenFile, Config.AdminToken). Store is the server database
// itself, as the root package's fieldsync.Store.
package server
