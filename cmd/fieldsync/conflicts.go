package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
)

// adminConflicts lists the conflicts the Transaction Merger recorded.
func adminConflicts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("admin conflicts", stderr)
	var c conn
	c.register(fs)
	node := fs.String("node", "", "only this node's conflicts")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: admin conflicts [--node NAME] takes no arguments", errUsage)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	cs, err := cl.Conflicts(ctx, *node)
	if err != nil {
		return err
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
