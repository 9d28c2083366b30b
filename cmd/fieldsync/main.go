package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/fieldsync/fieldsync/schema"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `fieldsync: keeps remote users' local databases in step with a central server

usage:
  fieldsync server [--data DIR] [--listen ADDR] [--schema FILE] [--max-body BYTES] [--only COMPONENTS]
  fieldsync record create TABLE col=value ...       (col:=JSON for a JSON value)
  fieldsync record get TABLE ID
  fieldsync record list TABLE [col=value ...]
  fieldsync record update TABLE ID col=value ...
  fieldsync record delete TABLE ID
  fieldsync record attach TABLE ID FILE [--mode published|requested|broadcast]
  fieldsync record fetch TABLE ID --out PATH
  fieldsync admin node add NAME --employee EMPLOYEE_ID
  fieldsync admin node list
  fieldsync admin node get NAME
  fieldsync admin node deactivate NAME
  fieldsync admin node reextract NAME | --all
  fieldsync admin node reset-secret NAME
  fieldsync admin node resume NAME
  fieldsync admin status
  fieldsync admin conflicts [--node NAME]
  fieldsync client init --dir DIR --server URL --node NAME --secret SECRET
  fieldsync client get|list|create|update|delete ...   (as record, on the local database)
  fieldsync client sync [--wait]
  fieldsync client status
  fieldsync demo                 run the whole flow on a temporary folder, narrated
  fieldsync schema               print the built-in schema (a start for your own)
  fieldsync version
  fieldsync help

record and admin commands take --server URL and --token TOKEN (defaults: $FIELDSYNC_SERVER
or http://127.0.0.1:7070; $FIELDSYNC_TOKEN or ./fieldsync-data/admin.token); read commands
take --json. Run "fieldsync COMMAND --help" for a command's flags.
`

// errUsage marks errors in how a command was called (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs one command line and returns the exit status: errors are one
// line on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "fieldsync: %v\n", err)
		return 2
	default:
		var bad schema.Errors
		if errors.As(err, &bad) {
			// A schema file's problems: one line each, all of them.
			for _, line := range strings.Split(bad.Error(), "\n") {
				fmt.Fprintf(stderr, "fieldsync: %s\n", line)
			}
			return 1
		}
		fmt.Fprintf(stderr, "fieldsync: %v\n", oneLine(err.Error()))
		return 1
	}
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	switch args[0] {
	case "server":
		return serverCmd(ctx, args[1:], stdout, stderr)
	case "record":
		return recordCmd(ctx, args[1:], stdout, stderr)
	case "admin":
		return adminCmd(ctx, args[1:], stdout, stderr)
	case "client":
		return clientCmd(ctx, args[1:], stdout, stderr)
	case "demo":
		return demoCmd(ctx, args[1:], stdout, stderr)
	case "schema":
		return schemaCmd(args[1:], stdout)
	case "version", "--version":
		fmt.Fprintln(stdout, "fieldsync", buildVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q (run fieldsync help)", errUsage, args[0])
}

// buildVersion is the version set at build time, or else what the Go
// toolchain recorded: the module's version (go install ...@v1.2.3) or the
// commit it was built from.
func buildVersion() string {
	if version != "dev" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ", modified"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return version
	}
	return fmt.Sprintf("dev (commit %s%s)", rev, dirty)
}
