// Command fieldsync is the one binary of fieldsync. It only wires the
// packages of the flow together, one file per group of subcommands:
//
//	server.go   fieldsync server: the server components in one process, or some of them (package server)
//	record.go   fieldsync record: a connected user's create, get, list, update, delete (package api)
//	admin.go    fieldsync admin: nodes and the status of the flow (package api)
//	client.go   fieldsync client: a remote node's side (package client)
//	main.go     dispatch, usage, and errors: one line on stderr, exit 1 (2 for usage errors)
//
// flags.go lets flags come before, between or after positional arguments;
// conn.go holds the flags and output shared by the commands that call the
// API.
package main
