package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
)

func clientSync(f *clientFlags) *cobra.Command {
	var wait, watch bool
	var every time.Duration
	cmd := &cobra.Command{
		Use: "sync [--wait | --watch [--every DURATION]]", Short: "synchronize: send local changes, download and apply the outbox", Args: noArgs,
		Long: `Without --wait the downloaded changes are applied in the background, by a process of its own,
and the local database stays usable meanwhile. --watch keeps the node in step until stopped
(Ctrl-C): it syncs soon after local changes and as soon as the server says the node's outbox
has news, and at least every --every; it backs off when the server is unreachable or busy.
With --json the summary is one JSON object (with --watch, one line per sync).`,
		Example: "fieldsync client sync --dir ann --wait\nfieldsync client sync --dir ann --json\nfieldsync client sync --watch --every 5m --dir ann",
		RunE: func(cmd *cobra.Command, pos []string) error {
			return f.open(func(ctx context.Context, c *client.Client, _ []string, out io.Writer) error {
				if watch {
					return clientWatch(ctx, c, f, every, out, cmd.ErrOrStderr())
				}
				return syncOnce(ctx, c, f, wait, out, cmd.ErrOrStderr())
			})(cmd, pos)
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "apply the downloaded changes before returning")
	cmd.Flags().BoolVar(&watch, "watch", false, "keep syncing: soon after local changes, when the server has news, and every --every")
	cmd.Flags().DurationVar(&every, "every", time.Minute, "with --watch: at most `DURATION` between two syncs")
	return cmd
}

// syncSummary is what client sync --json prints.
type syncSummary struct {
	Node        string               `json:"node"`
	UpFiles     int                  `json:"up_files"`
	UpBytes     int64                `json:"up_bytes"`
	Uploaded    int                  `json:"uploaded_changes"`
	DownFiles   int                  `json:"down_files"`
	DownBytes   int64                `json:"down_bytes"`
	Files       int                  `json:"attachment_files"`
	FileBytes   int64                `json:"attachment_bytes"`
	Conflicts   []fieldsync.Conflict `json:"conflicts"`
	Refused     []string             `json:"refused"`
	Recovered   []string             `json:"recovered"`
	Reextracted bool                 `json:"reextracted"`
	Applied     int                  `json:"applied_inbox_files"`    // with --wait
	Background  int                  `json:"applying_in_background"` // inbox files a background process applies
	TookMS      int64                `json:"took_ms"`
}

func summarize(node string, sum client.Summary) syncSummary {
	s := syncSummary{Node: node, UpFiles: sum.UpFiles, UpBytes: sum.UpBytes, Uploaded: sum.Uploaded, DownFiles: sum.DownFiles,
		DownBytes: sum.DownBytes, Files: sum.Files, FileBytes: sum.FileBytes, Conflicts: sum.Conflicts, Refused: sum.Refused,
		Recovered: sum.Recovered, Reextracted: sum.Reextracted, Applied: sum.Applied, TookMS: sum.Took.Milliseconds()}
	if s.Conflicts == nil {
		s.Conflicts = []fieldsync.Conflict{}
	}
	if s.Refused == nil {
		s.Refused = []string{}
	}
	if s.Recovered == nil {
		s.Recovered = []string{}
	}
	return s
}

// syncOnce synchronizes, then applies the inbox: itself with --wait, or
// in a background process that outlives this command.
func syncOnce(ctx context.Context, c *client.Client, f *clientFlags, wait bool, out, stderr io.Writer) error {
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
	s := summarize(c.Node(), sum)
	if st, _ := c.Status(ctx); !wait && st.InboxFiles > 0 {
		if err := startApply(f.folder()); err != nil {
			return fmt.Errorf("synced %s; could not start applying %d inbox files in the background (run fieldsync client apply): %w", c.Node(), st.InboxFiles, err)
		}
		s.Background = st.InboxFiles
	}
	return f.print(out, s, func() { printSync(out, s, wait) })
}

func printSync(out io.Writer, s syncSummary, wait bool) {
	line := fmt.Sprintf("synced %s: up %d files (%d changes, %s), down %d files (%s), %d attachment files (%s), %d conflicts, %s", s.Node, s.UpFiles,
		s.Uploaded, size(s.UpBytes), s.DownFiles, size(s.DownBytes), s.Files, size(s.FileBytes), len(s.Conflicts), (time.Duration(s.TookMS) * time.Millisecond))
	for _, r := range s.Refused {
		fmt.Fprintln(out, "refused: "+r)
	}
	for _, r := range s.Recovered {
		fmt.Fprintln(out, "recovered: "+oneLine(r))
	}
	if s.Reextracted {
		fmt.Fprintln(out, "the local data was rebuilt from the node's new Database Extract")
	}
	switch {
	case wait:
		fmt.Fprintf(out, "%s; applied %d inbox files\n", line, s.Applied)
	case s.Background == 0:
		fmt.Fprintln(out, line)
	default:
		fmt.Fprintf(out, "%s; applying %d inbox files in the background (fieldsync client status shows when done)\n", line, s.Background)
	}
}

// clientWatch keeps the node in step until ctx ends, printing a line for
// each sync that moved something (a JSON object with --json) and each that
// failed.
func clientWatch(ctx context.Context, c *client.Client, f *clientFlags, every time.Duration, out, stderr io.Writer) error {
	banner := out
	if f.json {
		banner = stderr
	}
	fmt.Fprintf(banner, "keeping %s in step with %s (Ctrl-C stops)\n", c.Node(), f.folder())
	enc := json.NewEncoder(out)
	return c.Watch(ctx, client.WatchOptions{Every: every, Report: func(sum client.Summary, err error) {
		now := whenMilli(time.Now())
		switch {
		case err != nil && f.json:
			enc.Encode(map[string]string{"time": now, "error": oneLine(err.Error())})
		case err != nil:
			fmt.Fprintf(stderr, "%s sync failed (will retry): %v\n", now, oneLine(err.Error()))
		case sum.UpFiles+sum.DownFiles+len(sum.Conflicts) == 0:
		case f.json:
			enc.Encode(struct {
				Time string `json:"time"`
				syncSummary
			}{now, summarize(c.Node(), sum)})
		default:
			fmt.Fprintf(out, "%s synced: up %d files (%d changes), down %d files, %d conflicts\n",
				now, sum.UpFiles, sum.Uploaded, sum.DownFiles, len(sum.Conflicts))
		}
	}})
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
