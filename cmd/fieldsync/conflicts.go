package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
)

// adminConflicts lists a page of the conflicts the Transaction Merger
// recorded; when more follow, it says (on stderr) how to list the next.
func adminConflicts(c *conn) *cobra.Command {
	var q fieldsync.ConflictQuery
	cmd := &cobra.Command{
		Use: "conflicts", Short: "list the conflicts the Transaction Merger recorded", Args: noArgs,
		Example: "fieldsync admin conflicts --node ann-laptop\nfieldsync admin conflicts --after 100 --limit 500 --json",
	}
	cmd.Flags().StringVar(&q.Node, "node", "", "only the conflicts of the node `NAME` (an unknown node is an error)")
	cmd.Flags().Int64Var(&q.After, "after", 0, "only the conflicts numbered above `ID`")
	cmd.Flags().IntVar(&q.Limit, "limit", fieldsync.DefaultConflictPage, fmt.Sprintf("list at most `N` (up to %d)", fieldsync.MaxConflictPage))
	cmd.RunE = c.call(func(ctx context.Context, cl *api.Client, _ []string, out io.Writer) error {
		if q.Node != "" {
			if _, err := cl.Node(ctx, q.Node); err != nil {
				return err // an unknown node has no conflicts to list: say so
			}
		}
		page, err := cl.ConflictPage(ctx, q)
		if err != nil {
			return err
		}
		cs := page.Conflicts
		if cs == nil {
			cs = []fieldsync.Conflict{}
		}
		if page.Next > 0 {
			fmt.Fprintf(cmd.ErrOrStderr(), "(more conflicts follow: list them with --after %d)\n", page.Next)
		}
		return c.print(out, cs, func() { printConflicts(out, cs) })
	})
	return cmd
}

func printConflicts(out io.Writer, cs []fieldsync.Conflict) {
	if len(cs) == 0 {
		fmt.Fprintln(out, "(no conflicts)")
		return
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "ID\tTIME\tNODE\tKIND\tROW\tFIELD\tKEPT\tLOST")
	for _, x := range cs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s/%s\t%s\t%s\t%s\n", x.ID, when(x.Time), x.Node, x.Kind, x.Table, x.RowID,
			orDash(x.Field), orDash(x.Winner), orDash(x.Loser)) // JSON texts: on one line
	}
	tw.Flush()
}
