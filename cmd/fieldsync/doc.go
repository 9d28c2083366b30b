// Command fieldsync is the one binary of fieldsync. It only wires the
// packages of the flow together, on github.com/spf13/cobra, one file per
// group of subcommands:
//
//	server.go    fieldsync server: the server components in one process, or some of them (package server);
//	             settings.go: its settings from the environment and a settings file
//	record.go    fieldsync record: a connected user's create, get, list, update, delete, files (package api)
//	admin.go     fieldsync admin: nodes and the status of the flow (package api); conflicts.go: admin conflicts
//	client.go    fieldsync client: a remote node's side (package client); clientlocal.go: its
//	             records, clientsync.go: sync and watch
//	demo.go      fieldsync demo: the whole flow, narrated
//	main.go      the command tree, version and schema; errors: one line on stderr, exit 1 (2 for usage errors)
//
// commands.go holds what the commands share: groups, argument checks, flag
// errors, and commandFirst, which lets flags come before, between or after
// the command's words; help.go the help texts; conn.go the flags of the
// commands that call the API; output.go tables, JSON and times.
package main
