package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/visibility"
)

// adminWhy explains why a node sees, or does not see, a row.
func adminWhy(c *conn) *cobra.Command {
	return &cobra.Command{
		Use:   "why NODE TABLE ID",
		Short: "say why a node sees a row, or does not",
		Long: "Explains a row's visibility to a node, applying the schema's visibility rules to the node's employee as the\n" +
			"Transaction Router does (docs/schema.md \"Why does a node (not) see a row\"). A visible row prints the chain from\n" +
			"the row to the row that grants it, one line a step; a row the node does not see prints each rule of its table\n" +
			"and what it lacked, and the rows it depends on in turn (a few levels deep, a few rows wide). A deactivated node\n" +
			"is answered too: the answer says so.",
		Example:     "fieldsync admin why ann-laptop contact k-acme\nfieldsync admin why bob-laptop opportunity deal --json",
		Args:        exactly(3),
		Annotations: arguments("NODE", "the node's name", "TABLE", "the row's table", "ID", "the row's id"),
		RunE: c.call(func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error {
			why, err := cl.Why(ctx, pos[0], pos[1], pos[2])
			if err != nil {
				return err
			}
			return c.print(out, why, func() { printWhy(out, why) })
		}),
	}
}

// printWhy prints an explanation: the chain, one line a step, or the
// rules tried, indented under the rows they belong to.
func printWhy(out io.Writer, why api.Why) {
	if !why.Active {
		fmt.Fprintf(out, "node %s is deactivated (since %s): it is routed nothing; this is what its employee's rules give it.\n", why.Node, when(why.Deactivated))
	}
	row := escape(why.Table + " " + why.ID)
	switch {
	case why.Visible:
		fmt.Fprintf(out, "node %s (employee %s) sees %s:\n", why.Node, escape(why.Employee), row)
		tw := newTable(out)
		for _, s := range why.Chain {
			detail := ""
			if s.Detail != "" {
				detail = "  (" + escape(s.Detail) + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s%s\n", escape(s.Table+" "+s.ID), escape(s.Rule), detail)
		}
		tw.Flush()
	case why.Note != "":
		fmt.Fprintf(out, "node %s (employee %s) does not see %s: %s\n", why.Node, escape(why.Employee), row, escape(why.Note))
	default:
		fmt.Fprintf(out, "node %s (employee %s) does not see %s. Rules tried:\n", why.Node, escape(why.Employee), row)
		printTried(out, why.Tried, "  ")
	}
}

// printTried prints rules tried and, under each, the rows it depends on.
func printTried(out io.Writer, tried []visibility.Tried, indent string) {
	for _, tr := range tried {
		fmt.Fprintf(out, "%s%s\n", indent, escape(tr.Lacked))
		for _, u := range tr.Rows {
			switch {
			case len(u.Tried) > 0:
				fmt.Fprintf(out, "%s  %s:\n", indent, escape(u.Table+" "+u.ID))
				printTried(out, u.Tried, indent+"    ")
			case u.Note != "" && !strings.Contains(tr.Lacked, u.Note):
				fmt.Fprintf(out, "%s  %s: %s\n", indent, escape(u.Table+" "+u.ID), escape(u.Note))
			}
		}
		if tr.More > 0 {
			fmt.Fprintf(out, "%s  and %d more\n", indent, tr.More)
		}
	}
}
