package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/fieldsync/fieldsync"
)

// adminConflicts lists a page of the conflicts the Transaction Merger
// recorded; when more follow, it says (on stderr) how to list the next.
func adminConflicts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("admin conflicts", stderr)
	var c conn
	c.register(fs)
	node := fs.String("node", "", "only this node's conflicts")
	after := fs.Int64("after", 0, "only the conflicts numbered above this `id`")
	limit := fs.Int("limit", fieldsync.DefaultConflictPage, fmt.Sprintf("list at most this `many` (up to %d)", fieldsync.MaxConflictPage))
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: admin conflicts [--node NAME] [--after ID] [--limit N] takes no arguments", errUsage)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	if *node != "" {
		if _, err := cl.Node(ctx, *node); err != nil {
			return err // an unknown node has no conflicts to list: say so
		}
	}
	page, err := cl.ConflictPage(ctx, fieldsync.ConflictQuery{Node: *node, After: *after, Limit: *limit})
	if err != nil {
		return err
	}
	cs := page.Conflicts
	if page.Next > 0 {
		fmt.Fprintf(stderr, "(more conflicts follow: list them with --after %d)\n", page.Next)
	}
	if c.json {
		return printJSON(stdout, cs)
	}
	if len(cs) == 0 {
		fmt.Fprintln(stdout, "(no conflicts)")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tNODE\tKIND\tROW\tFIELD\tKEPT\tLOST")
	for _, x := range cs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s/%s\t%s\t%s\t%s\n", x.ID, when(x.Time), x.Node, x.Kind, x.Table, x.RowID, orDash(x.Field), orDash(x.Winner), orDash(x.Loser))
	}
	return tw.Flush()
}
