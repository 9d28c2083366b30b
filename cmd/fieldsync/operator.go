package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
)

// adminSessions lists the latest synchronization sessions, newest first.
func adminSessions(c *conn) *cobra.Command {
	var node string
	var limit int
	cmd := &cobra.Command{
		Use: "sessions", Short: "list the latest synchronization sessions, newest first", Args: noArgs,
		Example: "fieldsync admin sessions\nfieldsync admin sessions --node ann-laptop --limit 5 --json",
	}
	cmd.Flags().StringVar(&node, "node", "", "only the sessions of the node `NAME` (an unknown node is an error)")
	cmd.Flags().IntVar(&limit, "limit", api.DefaultSessions, fmt.Sprintf("list at most `N` (up to %d)", api.MaxSessions))
	cmd.RunE = c.call(func(ctx context.Context, cl *api.Client, _ []string, out io.Writer) error {
		if limit < 1 || limit > api.MaxSessions {
			return fmt.Errorf("%w: --limit %d is not from 1 to %d", errUsage, limit, api.MaxSessions)
		}
		ss, err := cl.Sessions(ctx, node, limit)
		if err != nil {
			return err
		}
		if ss == nil {
			ss = []fieldsync.Session{}
		}
		return c.print(out, ss, func() { printSessions(out, ss) })
	})
	return cmd
}

func printSessions(out io.Writer, ss []fieldsync.Session) {
	if len(ss) == 0 {
		fmt.Fprintln(out, "(no sessions)")
		return
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "NODE\tSTARTED\tENDED\tRESULT\tUP\tDOWN")
	for _, s := range ss {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d files %s\t%d files %s\n", s.Node, whenMilli(s.Started), whenMilli(s.Ended), escape(s.Result),
			s.UpFiles, size(s.UpBytes), s.DownFiles, size(s.DownBytes))
	}
	tw.Flush()
}

// adminRefusals lists the uploads the Transaction Merger refused whole,
// and a page of the changes it refused alone; when more changes follow,
// it says (on stderr) how to list the next.
func adminRefusals(c *conn) *cobra.Command {
	var q fieldsync.ConflictQuery
	cmd := &cobra.Command{
		Use: "refusals", Short: "list the uploads and the changes the Transaction Merger refused", Args: noArgs,
		Example: "fieldsync admin refusals\nfieldsync admin refusals --node ann-laptop --json",
	}
	cmd.Flags().StringVar(&q.Node, "node", "", "only the refusals of the node `NAME` (an unknown node is an error)")
	cmd.Flags().Int64Var(&q.After, "after", 0, "only the refused changes numbered above `ID`")
	cmd.Flags().IntVar(&q.Limit, "limit", fieldsync.DefaultConflictPage, fmt.Sprintf("list at most `N` refused changes (up to %d)", fieldsync.MaxConflictPage))
	cmd.RunE = c.call(func(ctx context.Context, cl *api.Client, _ []string, out io.Writer) error {
		r, err := cl.Refusals(ctx, q)
		if err != nil {
			return err
		}
		if r.Uploads == nil {
			r.Uploads = []fieldsync.Refusal{}
		}
		if r.Changes == nil {
			r.Changes = []fieldsync.Conflict{}
		}
		if r.Next > 0 {
			fmt.Fprintf(cmd.ErrOrStderr(), "(more refused changes follow: list them with --after %d)\n", r.Next)
		}
		return c.print(out, r, func() { printRefusals(out, r) })
	})
	return cmd
}

func printRefusals(out io.Writer, r api.Refusals) {
	fmt.Fprintln(out, "Uploads refused whole:")
	if len(r.Uploads) == 0 {
		fmt.Fprintln(out, "(none)")
	} else {
		tw := newTable(out)
		fmt.Fprintln(tw, "TIME\tNODE\tUPLOAD\tREASON")
		for _, u := range r.Uploads {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", when(u.Time), u.Node, u.Number, escape(u.Reason))
		}
		tw.Flush()
	}
	fmt.Fprintln(out, "\nChanges refused alone:")
	if len(r.Changes) == 0 {
		fmt.Fprintln(out, "(none)")
		return
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "ID\tTIME\tNODE\tKIND\tUPLOAD\tCHANGE\tROW\tREASON")
	for _, x := range r.Changes {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%s/%s\t%s\n", x.ID, when(x.Time), x.Node, x.Kind, x.Upload, x.Change,
			x.Table, escape(x.RowID), escape(orDash(x.Reason)))
	}
	tw.Flush()
}

func nodeReactivate(c *conn) *cobra.Command {
	return nodeVerb(c, "reactivate NAME", "let a deactivated node sync again",
		"fieldsync admin node reactivate ann-laptop", func(ctx context.Context, cl *api.Client, name string, out io.Writer) error {
			n, err := cl.ReactivateNode(ctx, name)
			if err != nil {
				return err
			}
			return c.print(out, n, func() { fmt.Fprintf(out, "node %s is active: it may sync again\n", n.Name) })
		})
}

// nodeDelete removes a node's registration and its docking folder, for
// good: it asks for --yes, and for --force when the node is active.
func nodeDelete(c *conn) *cobra.Command {
	var yes, force bool
	cmd := nodeVerb(c, "delete NAME --yes [--force]", "remove a node's registration and its docking folder, for good",
		"fieldsync admin node deactivate ann-laptop\nfieldsync admin node delete ann-laptop --yes", nil)
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the deletion (needed: it cannot be undone)")
	cmd.Flags().BoolVar(&force, "force", false, "delete the node even while it is active")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		if !yes {
			return fmt.Errorf("%w: admin node delete %s removes the node and its docking folder for good: confirm with --yes", errUsage, pos[0])
		}
		return c.call(func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error {
			n, err := cl.Node(ctx, pos[0])
			if err != nil {
				return err
			}
			if n.Active && !force {
				return fmt.Errorf("node %s is active: deactivate it first (fieldsync admin node deactivate %s), or delete it with --force", n.Name, n.Name)
			}
			del, err := cl.DeleteNode(ctx, n.Name, force)
			if err != nil {
				return err
			}
			return c.print(out, del, func() {
				fmt.Fprintf(out, "node %s deleted: its secret no longer works", n.Name)
				if del.FolderRemoved {
					fmt.Fprint(out, ", its docking folder is removed")
				}
				fmt.Fprintln(out)
			})
		})(cmd, pos)
	}
	return cmd
}

// nodeErrorLines are the lines of a node's view saying its latest failed
// sessions: when each ended, and its result ("none" when there is none).
func nodeErrorLines(n fieldsync.Node) []string {
	if len(n.Errors) == 0 {
		return []string{"none"}
	}
	lines := make([]string, len(n.Errors))
	for i, s := range n.Errors {
		lines[i] = when(s.Ended) + "  " + escape(s.Result)
	}
	return lines
}
