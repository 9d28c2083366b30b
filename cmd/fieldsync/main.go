package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/fieldsync/fieldsync/internal/buildinfo"
	"github.com/fieldsync/fieldsync/schema"
)

// version, when set at build time with -ldflags "-X main.version=...",
// replaces the version the build's module information gives.
var version = "dev"

func init() { cobra.EnableCommandSorting = false } // commands are listed in the order they are added

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs one command line and returns the exit status: errors are one
// line on stderr, with status 2 for a command line called wrong and 1 for
// the rest.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWithInput(ctx, args, os.Stdin, stdout, stderr)
}

// runWithInput is run with stdin read from in (a password on a pipe).
func runWithInput(ctx context.Context, args []string, in io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetIn(in)
	args, unknown := commandFirst(root, args)
	root.SetArgs(append([]string{}, args...)) // never nil, which would make cobra read os.Args
	var err error
	if unknown != "" { // said before any complaint about its flags
		err = fmt.Errorf("%w: unknown command %q (run fieldsync help)", errUsage, unknown)
	} else {
		err = root.ExecuteContext(ctx)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "fieldsync: %v\n", oneLine(err.Error()))
		return 2
	}
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

// newRoot is the whole command line: every command, its flags and help.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "fieldsync",
		Short: "keeps remote users' local databases in step with a central server",
		Long: `record and admin commands take --server URL and --token TOKEN (defaults: $FIELDSYNC_SERVER
or http://127.0.0.1:7070; $FIELDSYNC_TOKEN or ./fieldsync-data/admin.token); client commands
take --dir DIR (default: $FIELDSYNC_DIR, else ./fieldsync-client). Every command that prints a
result takes --json. Flags may come before or after the command's words and arguments.`,
		Example: `fieldsync server
fieldsync record list account --json
fieldsync help client sync`,
		Version:       buildVersion(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.ArbitraryArgs, // run says which command is unknown
		RunE: func(cmd *cobra.Command, _ []string) error {
			usage(cmd.ErrOrStderr(), cmd)
			return fmt.Errorf("%w: no command given", errUsage)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(flagError)
	root.PersistentPreRunE = flagLooksLikeFlag
	root.SetHelpFunc(showHelp)
	root.SetUsageFunc(func(cmd *cobra.Command) error { usage(cmd.OutOrStdout(), cmd); return nil })
	root.SetVersionTemplate("fieldsync {{.Version}}\n")
	root.Flags().BoolP("version", "v", false, "print fieldsync's version")
	root.AddCommand(serverCmd(), recordCmd(), adminCmd(), clientCmd(), demoCmd(), schemaCmd(), versionCmd())
	builtins(root)
	return root
}

// buildVersion is the version set at build time, or else what the Go
// toolchain recorded in the binary (internal/buildinfo).
func buildVersion() string {
	if version != "dev" {
		return version
	}
	return buildinfo.Version()
}

func versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "print fieldsync's version",
		Long: `The version is the one set at build time (-ldflags "-X main.version=..."), else the module's
version the Go toolchain recorded (a release, or the pseudo-version of the commit built), else
the commit, else "dev" when the build recorded none of them.`,
		Example: "fieldsync version\nfieldsync version --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]string{"version": buildVersion(), "commit": buildinfo.Revision(), "go": runtime.Version()})
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "fieldsync", buildVersion())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the version, the commit and the Go version as JSON")
	return cmd
}

func schemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "print the built-in CRM schema (a start for your own)",
		Long:  "The schema file's format is in docs/schema.md; give your own to fieldsync server --schema FILE.",
		Example: `fieldsync schema > crm.yaml
fieldsync server --schema crm.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(schema.DefaultYAML())
			return err
		},
	}
}
