package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
)

const clientUsage = `fieldsync client: a remote node's side

  fieldsync client init --dir DIR --server URL --node NAME --secret SECRET [--ca FILE]
  fieldsync client get TABLE ID            fieldsync client list TABLE [col=value ...]
  fieldsync client create TABLE col=value  fieldsync client update TABLE ID col=value ...
  fieldsync client delete TABLE ID
  fieldsync client sync [--wait]           fieldsync client status
  fieldsync client sync --watch [--every DURATION]   (keep in step in the background)
  fieldsync client apply                   (apply downloaded inbox files)
  fieldsync client request TABLE ID        (fetch a requested-mode file at the next sync)
  fieldsync client attach TABLE ID FILE [--mode MODE]   (attach a file offline; it goes up at the next sync)

--dir defaults to $FIELDSYNC_DIR, else ./fieldsync-client.
`

func clientCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, clientUsage)
		return fmt.Errorf("%w: client needs a command", errUsage)
	}
	verb := args[0]
	fs := newFlags("client "+verb, stderr)
	dir := fs.String("dir", defaultDir(), "the node's `folder`")
	asJSON := fs.Bool("json", false, "print JSON")
	mode := fs.String("mode", "", "attach: published, requested or broadcast")
	var server, node, secret, ca *string
	var wait, watch *bool
	var every *time.Duration
	switch verb {
	case "init":
		server = fs.String("server", os.Getenv("FIELDSYNC_SERVER"), "server `URL`")
		node = fs.String("node", "", "node `name`")
		secret = fs.String("secret", "", "the node's `secret` (from admin node add)")
		ca = fs.String("ca", os.Getenv("FIELDSYNC_CA"), "PEM `file` of the authority that signed an https server's certificate, if the system does not trust it")
	case "sync":
		wait = fs.Bool("wait", false, "wait until the downloaded changes are applied")
		watch = fs.Bool("watch", false, "keep syncing: soon after local changes, when the server has news, and --every")
		every = fs.Duration("every", time.Minute, "with --watch: the longest time between two syncs")
	}
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if verb == "init" {
		if *server == "" || *node == "" || *secret == "" {
			return fmt.Errorf("%w: client init --dir DIR --server URL --node NAME --secret SECRET", errUsage)
		}
		cfg := client.Config{Dir: *dir, Server: *server, Node: *node, Secret: *secret}
		if *ca != "" {
			pem, err := os.ReadFile(*ca)
			if err != nil {
				return fmt.Errorf("CA certificate: %w", err)
			}
			cfg.CACert = string(pem)
		}
		if isTerminal(stderr) {
			pl := newProgressLine(stderr)
			defer pl.end()
			cfg.Progress = pl.update
		}
		c, err := client.Init(ctx, cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		st, _ := c.Status(ctx)
		fmt.Fprintf(stdout, "node %s ready in %s (extract at sequence %d)\n", *node, *dir, st.ExtractSeq)
		return nil
	}
	c, err := client.Open(ctx, *dir, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	switch verb {
	case "sync":
		if *watch {
			fmt.Fprintf(stdout, "keeping %s in step with %s (Ctrl-C stops)\n", c.Node(), *dir)
			return c.Watch(ctx, client.WatchOptions{Every: *every, Report: func(sum client.Summary, err error) {
				if err != nil {
					fmt.Fprintf(stderr, "%s sync failed (will retry): %v\n", time.Now().Format("15:04:05"), oneLine(err.Error()))
					return
				}
				if sum.UpFiles+sum.DownFiles+len(sum.Conflicts) > 0 {
					fmt.Fprintf(stdout, "%s synced: up %d files (%d changes), down %d files, %d conflicts\n",
						time.Now().Format("15:04:05"), sum.UpFiles, sum.Uploaded, sum.DownFiles, len(sum.Conflicts))
				}
			}})
		}
		return clientSync(ctx, c, *dir, *wait, stdout, stderr)
	case "attach":
		if len(pos) != 3 {
			return fmt.Errorf("%w: client attach TABLE ID FILE [--mode published|requested|broadcast]", errUsage)
		}
		row, err := c.Attach(ctx, pos[0], pos[1], pos[2], *mode)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, row)
		}
		printRow(stdout, row)
		return nil
	case "request":
		if len(pos) != 2 {
			return fmt.Errorf("%w: client request TABLE ID", errUsage)
		}
		if err := c.Request(ctx, pos[0], pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "the file of %s %s comes at the next sync\n", pos[0], pos[1])
		return nil
	case "apply":
		n, err := c.ApplyInbox(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "applied %d inbox files\n", n)
		return nil
	case "status":
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, st)
		}
		fmt.Fprintf(stdout, "node             %s\nserver           %s\nlast sync        %s\nresult           %s\n"+
			"pending changes  %d\npending uploads  %d\ninbox to apply   %d\nfiles to fetch   %d\nfiles to send    %d\nrequested files  %d\n",
			st.Node, st.Server, orDash(st.LastSync), orDash(st.LastResult), st.PendingChanges, st.PendingUploads, st.InboxFiles,
			st.FilesPending, st.FilesToUpload, len(st.Requested))
		for _, cf := range st.Conflicts {
			fmt.Fprintf(stdout, "conflict         %s %s/%s %s: kept %s, lost %s\n", cf.Kind, cf.Table, cf.RowID, cf.Field, cf.Winner, cf.Loser)
		}
		return nil
	}
	return localRecord(ctx, c, verb, pos, *asJSON, stdout)
}

func defaultDir() string {
	if d := os.Getenv("FIELDSYNC_DIR"); d != "" {
		return d
	}
	return "fieldsync-client"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clientSync synchronizes, then applies the inbox: itself with --wait, or
// in a background process that outlives this command.
func clientSync(ctx context.Context, c *client.Client, dir string, wait bool, stdout, stderr io.Writer) error {
	opts := client.SyncOptions{Wait: wait}
	if isTerminal(stderr) {
		pl := newProgressLine(stderr)
		defer pl.end()
		opts.Progress = pl.update
	}
	// The plain command disconnects, reports, and leaves the apply to a
	// background process, so the user can go on working at once.
	sum, err := syncNoApply(ctx, c, opts)
	if err != nil {
		return err
	}
	st, _ := c.Status(ctx)
	line := fmt.Sprintf("synced %s: up %d files (%d changes, %s), down %d files (%s), %d conflicts, %s",
		c.Node(), sum.UpFiles, sum.Uploaded, size(sum.UpBytes), sum.DownFiles, size(sum.DownBytes), len(sum.Conflicts), sum.Took.Round(time.Millisecond))
	for _, r := range sum.Refused {
		fmt.Fprintln(stdout, "refused: "+r)
	}
	if sum.Reextracted {
		fmt.Fprintln(stdout, "the local data was rebuilt from the node's new Database Extract")
	}
	switch {
	case wait:
		fmt.Fprintf(stdout, "%s; applied %d inbox files\n", line, sum.Applied)
	case st.InboxFiles == 0:
		fmt.Fprintln(stdout, line)
	default:
		if err := startApply(dir); err != nil {
			return fmt.Errorf("%s; could not start applying in the background (run fieldsync client apply): %w", line, err)
		}
		fmt.Fprintf(stdout, "%s; applying %d inbox files in the background (fieldsync client status shows when done)\n", line, st.InboxFiles)
	}
	return nil
}

// syncNoApply syncs; with Wait it applies too, otherwise the inbox is
// left for the background process.
func syncNoApply(ctx context.Context, c *client.Client, opts client.SyncOptions) (client.Summary, error) {
	if opts.Wait {
		return c.Sync(ctx, opts)
	}
	return c.SyncOnly(ctx, opts)
}

// startApply starts "fieldsync client apply --dir DIR" detached.
func startApply(dir string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "client", "apply", "--dir", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Process.Release()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

func size(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// localRecord is the record verbs against the local database.
func localRecord(ctx context.Context, c *client.Client, verb string, pos []string, asJSON bool, stdout io.Writer) error {
	need := func(n int, shape string) error {
		exact := verb == "get" || verb == "delete"
		if len(pos) < n || exact && len(pos) > n {
			return fmt.Errorf("%w: client %s %s", errUsage, verb, shape)
		}
		return nil
	}
	show := func(r fieldsync.Row) error {
		if asJSON {
			return printJSON(stdout, r)
		}
		printRow(stdout, r)
		return nil
	}
	switch verb {
	case "get":
		if err := need(2, "TABLE ID"); err != nil {
			return err
		}
		r, err := c.Get(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		return show(r)
	case "list":
		if err := need(1, "TABLE [col=value ...]"); err != nil {
			return err
		}
		where, err := parseValues(pos[1:])
		if err != nil {
			return err
		}
		var rows []map[string]any
		after := ""
		for {
			p, err := c.List(ctx, pos[0], fieldsync.Query{Where: where, After: after, Limit: 1000})
			if err != nil {
				return err
			}
			for _, r := range p.Rows {
				rows = append(rows, r)
			}
			if p.Next == "" {
				break
			}
			after = p.Next
		}
		if asJSON {
			if rows == nil {
				rows = []map[string]any{}
			}
			return printJSON(stdout, rows)
		}
		printRows(stdout, rows)
		return nil
	case "create", "update", "delete":
		var ch fieldsync.Change
		switch verb {
		case "create":
			if err := need(2, "TABLE col=value ..."); err != nil {
				return err
			}
			vals, err := parseValues(pos[1:])
			if err != nil {
				return err
			}
			ch = fieldsync.Change{Op: fieldsync.OpInsert, Table: pos[0], Values: vals}
		case "update":
			if err := need(3, "TABLE ID col=value ..."); err != nil {
				return err
			}
			vals, err := parseValues(pos[2:])
			if err != nil {
				return err
			}
			ch = fieldsync.Change{Op: fieldsync.OpUpdate, Table: pos[0], ID: pos[1], Values: vals}
		default:
			if err := need(2, "TABLE ID"); err != nil {
				return err
			}
			ch = fieldsync.Change{Op: fieldsync.OpDelete, Table: pos[0], ID: pos[1]}
		}
		txns, err := c.Apply(ctx, ch)
		if err != nil {
			return err
		}
		if verb == "delete" {
			fmt.Fprintf(stdout, "deleted %s %s locally (%d rows); it goes to the server at the next sync\n", pos[0], pos[1], len(txns))
			return nil
		}
		id := ch.ID
		if verb == "create" && len(txns) > 0 {
			id = txns[0].RowID
		}
		r, err := c.Get(ctx, pos[0], id)
		if err != nil {
			return err
		}
		return show(r)
	}
	return fmt.Errorf("%w: unknown client command %q (init, get, list, create, update, delete, sync, apply, status)", errUsage, verb)
}
