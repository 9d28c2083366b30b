package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/fieldsync/fieldsync/client"
)

// clientFlags are the flags every client verb takes.
type clientFlags struct {
	dir       string
	json      bool
	logFormat string // --log-format: the client's log on stderr (clientlog.go)
}

// folder is the node's folder: --dir, else $FIELDSYNC_DIR, else
// ./fieldsync-client.
func (f *clientFlags) folder() string {
	if d := orEnv(f.dir, "FIELDSYNC_DIR"); d != "" {
		return d
	}
	return "fieldsync-client"
}

// open makes the run of a verb on the node's folder: run gets the open
// client, the positional arguments and where to print.
func (f *clientFlags) open(run func(ctx context.Context, c *client.Client, pos []string, out io.Writer) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, pos []string) error {
		log, err := f.clientLogger(cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		c, err := client.Open(cmd.Context(), f.folder(), log)
		if err != nil {
			return err
		}
		defer c.Close()
		return run(cmd.Context(), c, pos, cmd.OutOrStdout())
	}
}

// print prints a verb's result: v as JSON with --json, else text.
func (f *clientFlags) print(out io.Writer, v any, text func()) error {
	if f.json {
		return printJSON(out, v)
	}
	text()
	return nil
}

func clientCmd() *cobra.Command {
	f := &clientFlags{}
	g := group("client", "a remote node's side: its local database, synchronization, files", "command",
		clientInit(f), localGet(f), localList(f), localCreate(f), localUpdate(f), localDelete(f),
		clientSync(f), clientStatus(f), clientApply(f), clientRequest(f), clientAttach(f), clientFiles(f), clientUI(f))
	g.Long = "The node's folder (--dir) holds its local database, its inbox and its uploads (docs/sync.md)."
	g.Example = "fieldsync client init --dir ann --server http://127.0.0.1:7070 --node ann-laptop --secret SECRET\nfieldsync client sync --dir ann --wait"
	g.PersistentFlags().StringVar(&f.dir, "dir", "", "the node's folder `DIR` (default $FIELDSYNC_DIR, else ./fieldsync-client)")
	g.PersistentFlags().StringVar(&f.logFormat, "log-format", "", "log the client's warnings and events on stderr in `FORMAT`: text or json (default: not logged)")
	// Every verb prints a result, and takes --json, but ui: it serves, as
	// the server does, and refuses --json as the server does.
	for _, v := range leaves(g) {
		if v.Name() != "ui" {
			v.Flags().BoolVar(&f.json, "json", false, "print the result as JSON")
		}
	}
	return g
}

func clientInit(f *clientFlags) *cobra.Command {
	var cfg client.Config
	var ca string
	cmd := &cobra.Command{
		Use: "init --server URL --node NAME --secret SECRET", Short: "make a node's folder from its Database Extract", Args: noArgs,
		Long:    "The folder keeps the server's address, the node's name and secret, and the --ca file's authority for later syncs.",
		Example: "fieldsync client init --dir ann --server http://127.0.0.1:7070 --node ann-laptop --secret SECRET\nfieldsync client init --server https://fieldsync.example:7070 --ca ca.pem --node ann-laptop --secret SECRET",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Dir, cfg.Server = f.folder(), serverURL(orEnv(cfg.Server, "FIELDSYNC_SERVER"))
			if cfg.Server == "" || cfg.Node == "" || cfg.Secret == "" {
				return fmt.Errorf("%w: client init --dir DIR --server URL --node NAME --secret SECRET", errUsage)
			}
			var err error
			if cfg.Logger, err = f.clientLogger(cmd.ErrOrStderr()); err != nil {
				return err
			}
			if ca = orEnv(ca, "FIELDSYNC_CA"); ca != "" {
				pem, err := os.ReadFile(ca)
				if err != nil {
					return fmt.Errorf("CA certificate: %w", err)
				}
				cfg.CACert = string(pem)
			}
			if stderr := cmd.ErrOrStderr(); isTerminal(stderr) {
				pl := newProgressLine(stderr)
				defer pl.end()
				cfg.Progress = pl.update
			}
			c, err := client.Init(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer c.Close()
			st, _ := c.Status(cmd.Context())
			out := cmd.OutOrStdout()
			return f.print(out, map[string]any{"node": cfg.Node, "dir": cfg.Dir, "extract_seq": st.ExtractSeq}, func() {
				fmt.Fprintf(out, "node %s ready in %s (extract at sequence %d)\n", cfg.Node, cfg.Dir, st.ExtractSeq)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Server, "server", "", "server `URL` (default $FIELDSYNC_SERVER; without a scheme, http://)")
	fl.StringVar(&cfg.Node, "node", "", "the node's `NAME` (from admin node add)")
	fl.StringVar(&cfg.Secret, "secret", "", "the node's `SECRET` (from admin node add)")
	fl.StringVar(&ca, "ca", "", "PEM `FILE` of the authority that signed an https server's certificate, if the system does not trust it (default $FIELDSYNC_CA)")
	return cmd
}

func clientStatus(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use: "status", Short: "show the node's state: syncs, what waits, failures, conflicts", Args: noArgs,
		Example: "fieldsync client status --dir ann\nfieldsync client status --dir ann --json",
		RunE: f.open(func(ctx context.Context, c *client.Client, _ []string, out io.Writer) error {
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			return f.print(out, st, func() { printClientStatus(out, st) })
		}),
	}
}

// printClientStatus prints a node's state, a labelled line each.
func printClientStatus(out io.Writer, st client.Status) {
	tw := newTable(out)
	line := func(label, format string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", label, fmt.Sprintf(format, a...)) }
	line("node", "%s", st.Node)
	line("server", "%s", st.Server)
	line("last sync", "%s", stamp(st.LastSync))
	line("result", "%s", orDash(oneLine(st.LastResult)))
	line("changes not yet sent", "%d", st.PendingChanges)
	line("uploads not yet confirmed merged", "%d%s", st.PendingUploads, uploadsNote(st))
	line("inbox to apply", "%d", st.InboxFiles)
	line("files to fetch", "%d", st.FilesPending)
	line("files to send", "%d", st.FilesToUpload)
	line("requested files", "%d", len(st.Requested))
	if st.LastFailureAt != "" {
		line("last failure", "%s %s", stamp(st.LastFailureAt), oneLine(st.LastFailure))
	}
	if st.Damaged != "" {
		line("damaged", "%s", oneLine(st.Damaged))
	}
	if st.ReadOnly != "" {
		line("folder", "not writable: %s", oneLine(st.ReadOnly))
	}
	for _, r := range st.Recoveries {
		line("recovery", "%s %s", stamp(r.At), oneLine(r.What))
	}
	for _, cf := range st.Conflicts {
		line("conflict", "%s %s/%s %s: kept %s, lost %s", cf.Kind, cf.Table, cf.RowID, cf.Field, cf.Winner, cf.Loser)
	}
	tw.Flush()
}

// uploadsNote says what becomes of the upload files a node holds: the
// client keeps each until the server confirms it merged, which it learns
// at the start of a sync.
func uploadsNote(st client.Status) string {
	switch {
	case st.PendingUploads == 0:
		return ""
	case st.LastResult == "ok":
		return " (sent; the next sync confirms them merged)"
	}
	return " (the next sync sends them, or confirms them merged)"
}

func clientApply(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use: "apply", Short: "apply the downloaded inbox files", Args: noArgs,
		Long:    "client sync without --wait starts this in the background; run it when that could not start.",
		Example: "fieldsync client apply --dir ann",
		RunE: f.open(func(ctx context.Context, c *client.Client, _ []string, out io.Writer) error {
			n, err := c.ApplyInbox(ctx)
			if err != nil {
				return err
			}
			return f.print(out, map[string]int{"applied": n}, func() { fmt.Fprintf(out, "applied %d inbox files\n", n) })
		}),
	}
}

func clientRequest(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use: "request TABLE ID", Short: "ask for a requested-mode file: it comes at the next sync", Args: exactly(2),
		Annotations: arguments("TABLE", "a table with a file column", "ID", idArg),
		Example:     "fieldsync client request attachment ATTACHMENT_ID --dir ann",
		RunE: f.open(func(ctx context.Context, c *client.Client, pos []string, out io.Writer) error {
			if err := c.Request(ctx, pos[0], pos[1]); err != nil {
				return err
			}
			return f.print(out, map[string]any{"table": pos[0], "id": pos[1], "requested": true}, func() {
				fmt.Fprintf(out, "the file of %s %s comes at the next sync\n", pos[0], pos[1])
			})
		}),
	}
}

func clientAttach(f *clientFlags) *cobra.Command {
	var mode string
	cmd := &cobra.Command{
		Use: "attach TABLE ID FILE", Short: "attach a file offline: it goes up at the next sync", Args: exactly(3),
		Annotations: arguments("TABLE", "a table with a file column", "ID", idArg, "FILE", "the file to attach"),
		Example:     "fieldsync client attach attachment ATTACHMENT_ID notes.txt --dir ann",
		RunE: f.open(func(ctx context.Context, c *client.Client, pos []string, out io.Writer) error {
			row, err := c.Attach(ctx, pos[0], pos[1], pos[2], mode)
			if err != nil {
				return err
			}
			return f.print(out, row, func() { printRow(out, row) })
		}),
	}
	cmd.Flags().StringVar(&mode, "mode", "", "how nodes get the file (`MODE`: published, requested or broadcast; default: the table's)")
	return cmd
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
