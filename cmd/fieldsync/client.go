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
	f := clientFlags{dir: fs.String("dir", defaultDir(), "the node's `folder`")}
	switch verb {
	case "init":
		f.server = fs.String("server", os.Getenv("FIELDSYNC_SERVER"), "server `URL`")
		f.node = fs.String("node", "", "node `name`")
		f.secret = fs.String("secret", "", "the node's `secret` (from admin node add)")
		f.ca = fs.String("ca", os.Getenv("FIELDSYNC_CA"), "PEM `file` of the authority that signed an https server's certificate, if the system does not trust it")
	case "sync":
		f.wait = fs.Bool("wait", false, "wait until the downloaded changes are applied")
		f.watch = fs.Bool("watch", false, "keep syncing: soon after local changes, when the server has news, and --every")
		f.every = fs.Duration("every", time.Minute, "with --watch: the longest time between two syncs")
	case "attach":
		f.mode = fs.String("mode", "", "published, requested or broadcast")
		f.json = fs.Bool("json", false, "print JSON")
	case "apply", "request":
	default:
		f.json = fs.Bool("json", false, "print JSON")
	}
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if verb == "init" {
		return clientInit(ctx, f, stdout, stderr)
	}
	c, err := client.Open(ctx, *f.dir, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	switch verb {
	case "sync":
		if *f.watch {
			return clientWatch(ctx, c, *f.dir, *f.every, stdout, stderr)
		}
		return clientSync(ctx, c, *f.dir, *f.wait, stdout, stderr)
	case "attach", "request", "apply", "status":
		return clientFiles(ctx, c, verb, pos, f, stdout)
	}
	return localRecord(ctx, c, verb, pos, *f.json, stdout)
}

// clientFlags are the flags of a client verb; a verb registers only its own.
type clientFlags struct {
	dir, server, node, secret, ca, mode *string
	json, wait, watch                   *bool
	every                               *time.Duration
}

func clientInit(ctx context.Context, f clientFlags, stdout, stderr io.Writer) error {
	if *f.server == "" || *f.node == "" || *f.secret == "" {
		return fmt.Errorf("%w: client init --dir DIR --server URL --node NAME --secret SECRET", errUsage)
	}
	cfg := client.Config{Dir: *f.dir, Server: *f.server, Node: *f.node, Secret: *f.secret}
	if *f.ca != "" {
		pem, err := os.ReadFile(*f.ca)
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
	fmt.Fprintf(stdout, "node %s ready in %s (extract at sequence %d)\n", *f.node, *f.dir, st.ExtractSeq)
	return nil
}

func clientWatch(ctx context.Context, c *client.Client, dir string, every time.Duration, stdout, stderr io.Writer) error {
	fmt.Fprintf(stdout, "keeping %s in step with %s (Ctrl-C stops)\n", c.Node(), dir)
	return c.Watch(ctx, client.WatchOptions{Every: every, Report: func(sum client.Summary, err error) {
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

// clientFiles runs the verbs about attachment files, the inbox and the
// node's status.
func clientFiles(ctx context.Context, c *client.Client, verb string, pos []string, f clientFlags, stdout io.Writer) error {
	switch verb {
	case "attach":
		if len(pos) != 3 {
			return fmt.Errorf("%w: client attach TABLE ID FILE [--mode published|requested|broadcast]", errUsage)
		}
		row, err := c.Attach(ctx, pos[0], pos[1], pos[2], *f.mode)
		if err != nil {
			return err
		}
		if *f.json {
			return printJSON(stdout, row)
		}
		printRow(stdout, row)
	case "request":
		if len(pos) != 2 {
			return fmt.Errorf("%w: client request TABLE ID", errUsage)
		}
		if err := c.Request(ctx, pos[0], pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "the file of %s %s comes at the next sync\n", pos[0], pos[1])
	case "apply":
		n, err := c.ApplyInbox(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "applied %d inbox files\n", n)
	case "status":
		return clientStatus(ctx, c, *f.json, stdout)
	}
	return nil
}

func clientStatus(ctx context.Context, c *client.Client, asJSON bool, stdout io.Writer) error {
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, st)
	}
	fmt.Fprintf(stdout, "node             %s\nserver           %s\nlast sync        %s\nresult           %s\n"+
		"pending changes  %d\npending uploads  %d\ninbox to apply   %d\nfiles to fetch   %d\nfiles to send    %d\nrequested files  %d\n",
		st.Node, st.Server, orDash(st.LastSync), orDash(st.LastResult), st.PendingChanges, st.PendingUploads, st.InboxFiles,
		st.FilesPending, st.FilesToUpload, len(st.Requested))
	if st.LastFailureAt != "" {
		fmt.Fprintf(stdout, "last failure     %s %s\n", st.LastFailureAt, oneLine(st.LastFailure))
	}
	if st.Damaged != "" {
		fmt.Fprintf(stdout, "damaged          %s\n", oneLine(st.Damaged))
	}
	if st.ReadOnly != "" {
		fmt.Fprintf(stdout, "folder           not writable: %s\n", oneLine(st.ReadOnly))
	}
	for _, r := range st.Recoveries {
		fmt.Fprintf(stdout, "recovery         %s %s\n", r.At, oneLine(r.What))
	}
	for _, cf := range st.Conflicts {
		fmt.Fprintf(stdout, "conflict         %s %s/%s %s: kept %s, lost %s\n", cf.Kind, cf.Table, cf.RowID, cf.Field, cf.Winner, cf.Loser)
	}
	return nil
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
	opts := client.SyncOptions{Apply: wait}
	if isTerminal(stderr) {
		pl := newProgressLine(stderr)
		defer pl.end()
		opts.Progress = pl.update
	}
	// The plain command disconnects, reports, and leaves the apply to a
	// background process, so the user can go on working at once.
	sum, err := c.Sync(ctx, opts)
	if err != nil {
		return err
	}
	st, _ := c.Status(ctx)
	line := fmt.Sprintf("synced %s: up %d files (%d changes, %s), down %d files (%s), %d conflicts, %s",
		c.Node(), sum.UpFiles, sum.Uploaded, size(sum.UpBytes), sum.DownFiles, size(sum.DownBytes), len(sum.Conflicts), sum.Took.Round(time.Millisecond))
	for _, r := range sum.Refused {
		fmt.Fprintln(stdout, "refused: "+r)
	}
	for _, r := range sum.Recovered {
		fmt.Fprintln(stdout, "recovered: "+oneLine(r))
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
	shapes := map[string]struct {
		min   int
		exact bool
		shape string
	}{
		"get": {2, true, "TABLE ID"}, "list": {1, false, "TABLE [col=value ...]"}, "delete": {2, true, "TABLE ID"},
		"create": {2, false, "TABLE col=value ..."}, "update": {3, false, "TABLE ID col=value ..."},
	}
	sh, ok := shapes[verb]
	if !ok {
		return fmt.Errorf("%w: unknown client command %q (init, get, list, create, update, delete, sync, apply, status, attach, request)", errUsage, verb)
	}
	if len(pos) < sh.min || sh.exact && len(pos) > sh.min {
		return fmt.Errorf("%w: client %s %s", errUsage, verb, sh.shape)
	}
	if verb == "list" {
		return localList(ctx, c, pos, asJSON, stdout)
	}
	var r fieldsync.Row
	var err error
	if verb == "get" {
		r, err = c.Get(ctx, pos[0], pos[1])
	} else {
		r, err = localWrite(ctx, c, verb, pos, stdout)
	}
	if err != nil || r == nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, r)
	}
	printRow(stdout, r)
	return nil
}

// localList prints the local rows a list selects.
func localList(ctx context.Context, c *client.Client, pos []string, asJSON bool, stdout io.Writer) error {
	where, err := parseValues(pos[1:])
	if err != nil {
		return err
	}
	rows := []map[string]any{}
	err = fieldsync.Each(ctx, c, pos[0], fieldsync.Query{Where: where}, func(r fieldsync.Row) error {
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, rows)
	}
	printRows(stdout, rows)
	return nil
}

// localWrite makes a create, update or delete through the local write
// path and returns the row as it is now (nil after a delete, which it
// reports itself).
func localWrite(ctx context.Context, c *client.Client, verb string, pos []string, stdout io.Writer) (fieldsync.Row, error) {
	var ch fieldsync.Change
	switch verb {
	case "create":
		vals, err := parseValues(pos[1:])
		if err != nil {
			return nil, err
		}
		ch = fieldsync.Insert(pos[0], vals)
	case "update":
		vals, err := parseValues(pos[2:])
		if err != nil {
			return nil, err
		}
		ch = fieldsync.Update(pos[0], pos[1], vals)
	default:
		ch = fieldsync.Delete(pos[0], pos[1])
	}
	txns, err := c.Apply(ctx, ch)
	if err != nil {
		return nil, err
	}
	if verb == "delete" {
		fmt.Fprintf(stdout, "deleted %s %s locally (%d rows); it goes to the server at the next sync\n", pos[0], pos[1], len(txns))
		return nil, nil
	}
	id := ch.ID
	if verb == "create" && len(txns) > 0 {
		id = txns[0].RowID
	}
	return c.Get(ctx, pos[0], id)
}
