package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
)

func adminCmd() *cobra.Command {
	c := &conn{}
	node := group("node", "remote nodes: register, list, show, deactivate, reactivate, delete, re-extract, new secret, resume merging", "verb",
		nodeAdd(c), nodeList(c), nodeGet(c), nodeDeactivate(c), nodeReactivate(c), nodeDelete(c), nodeReextract(c), nodeResetSecret(c), nodeResume(c))
	node.Example = "fieldsync admin node add ann-laptop --employee ann\nfieldsync admin node list --json"
	g := group("admin", "an administrator's tools: nodes, users, the schema, the status of the flow, sessions, conflicts, refusals, why a node (not) sees a row, backup and restore", "command",
		node, userGroup(c), adminSchema(c), adminStatus(c), adminSessions(c), adminConflicts(c), adminRefusals(c), adminWhy(c), adminBackup(c), adminRestored(c))
	g.Example = "fieldsync admin status\nfieldsync admin node list --server https://fieldsync.example:7070 --ca ca.pem"
	c.register(g.PersistentFlags())
	return g
}

// nodeVerb makes an admin node verb of one NAME argument.
func nodeVerb(c *conn, use, short, example string, run func(ctx context.Context, cl *api.Client, name string, out io.Writer) error) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Example: example, Args: exactly(1),
		Annotations: arguments("NAME", "the node's name"),
		RunE: c.call(func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error {
			return run(ctx, cl, pos[0], out)
		}),
	}
}

// waiting shows on a terminal that a long request runs; stop clears it.
func waiting(cmd *cobra.Command, what string) (stop func()) {
	if !isTerminal(cmd.ErrOrStderr()) {
		return func() {}
	}
	return startWaiting(cmd.ErrOrStderr(), what, time.Second)
}

func nodeAdd(c *conn) *cobra.Command {
	var employee string
	cmd := nodeVerb(c, "add NAME --employee EMPLOYEE_ID", "register a node: prints its secret, takes its extract",
		"fieldsync admin node add ann-laptop --employee ann", nil)
	cmd.Flags().StringVar(&employee, "employee", "", "the employee `EMPLOYEE_ID` the node is for (needed)")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		if employee == "" {
			return fmt.Errorf("%w: admin node add NAME --employee EMPLOYEE_ID", errUsage)
		}
		return c.call(func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error {
			stop := waiting(cmd, "registering "+pos[0]+" and taking its Database Extract")
			added, err := cl.AddNode(ctx, pos[0], employee)
			stop()
			if err != nil {
				return err
			}
			return c.print(out, added, func() {
				fmt.Fprintf(out, "node      %s\nemployee  %s\nsecret    %s\n", added.Node.Name, added.Node.EmployeeID, added.Secret)
				if added.ExtractError != "" {
					fmt.Fprintf(out, "warning   %s\n", added.ExtractError)
				}
				fmt.Fprintln(out, "The secret is shown only now: give it to the node's user (client init --secret).")
			})
		})(cmd, pos)
	}
	return cmd
}

func nodeList(c *conn) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "list the nodes", Args: noArgs,
		Example: "fieldsync admin node list\nfieldsync admin node list --json",
		RunE: c.call(func(ctx context.Context, cl *api.Client, _ []string, out io.Writer) error {
			nodes, err := cl.ListNodes(ctx)
			if err != nil {
				return err
			}
			return c.print(out, nodes, func() {
				tw := newTable(out)
				fmt.Fprintln(tw, "NAME\tEMPLOYEE\tACTIVE\tCREATED\tLAST EXTRACT")
				for _, n := range nodes {
					fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", n.Name, n.EmployeeID, n.Active, when(n.Created), when(n.Extracted))
				}
				tw.Flush()
			})
		}),
	}
}

func nodeGet(c *conn) *cobra.Command {
	return nodeVerb(c, "get NAME", "show a node: state, extract, last sync, merging, last errors",
		"fieldsync admin node get ann-laptop", func(ctx context.Context, cl *api.Client, name string, out io.Writer) error {
			n, err := cl.Node(ctx, name)
			if err != nil {
				return err
			}
			return c.print(out, n, func() {
				merging := "yes"
				if n.MergeStopped != "" {
					merging = fmt.Sprintf("stopped: %s (fieldsync admin node resume %s)", n.MergeStopped, n.Name)
				}
				tw := newTable(out)
				fmt.Fprintf(tw, "name\t%s\nemployee\t%s\nactive\t%v\ncreated\t%s\ndeactivated\t%s\nlast extract\t%s\nlast sync\t%s\nfolder made\t%s\nmerging\t%s\n",
					n.Name, n.EmployeeID, n.Active, when(n.Created), when(n.Deactivated), when(n.Extracted), when(n.LastSync), when(n.FolderSince), merging)
				for i, l := range nodeErrorLines(n) {
					label := ""
					if i == 0 {
						label = "last errors"
					}
					fmt.Fprintf(tw, "%s\t%s\n", label, l)
				}
				tw.Flush()
			})
		})
}

func nodeDeactivate(c *conn) *cobra.Command {
	return nodeVerb(c, "deactivate NAME", "deactivate a node: it can sync no more",
		"fieldsync admin node deactivate ann-laptop", func(ctx context.Context, cl *api.Client, name string, out io.Writer) error {
			n, err := cl.DeactivateNode(ctx, name)
			if err != nil {
				return err
			}
			return c.print(out, n, func() { fmt.Fprintf(out, "node %s deactivated at %s\n", n.Name, when(n.Deactivated)) })
		})
}

func nodeResetSecret(c *conn) *cobra.Command {
	return nodeVerb(c, "reset-secret NAME", "give a node a new secret (the old one stops working)",
		"fieldsync admin node reset-secret ann-laptop", func(ctx context.Context, cl *api.Client, name string, out io.Writer) error {
			secret, err := cl.ResetSecret(ctx, name)
			if err != nil {
				return err
			}
			return c.print(out, api.NewSecret{Node: name, Secret: secret}, func() {
				fmt.Fprintf(out, "node      %s\nsecret    %s\n", name, secret)
				fmt.Fprintln(out, "The old secret no longer works; the new one is shown only now (client init --secret).")
			})
		})
}

func nodeResume(c *conn) *cobra.Command {
	return nodeVerb(c, "resume NAME", "merge the uploads of a stopped node again",
		"fieldsync admin node resume ann-laptop", func(ctx context.Context, cl *api.Client, name string, out io.Writer) error {
			n, err := cl.ResumeNode(ctx, name)
			if err != nil {
				return err
			}
			return c.print(out, n, func() { fmt.Fprintf(out, "node %s resumed: its uploads are merged again\n", n.Name) })
		})
}

func nodeReextract(c *conn) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use: "reextract NAME | --all", Short: "take a node's Database Extract again",
		Annotations: arguments("NAME", "the node's name (none with --all)"),
		Example:     "fieldsync admin node reextract ann-laptop\nfieldsync admin node reextract --all",
		Args: func(cmd *cobra.Command, pos []string) error {
			if all && len(pos) != 0 || !all && len(pos) != 1 {
				return fmt.Errorf("%w: admin node reextract NAME, or admin node reextract --all", errUsage)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every active node (taken in the background)")
	cmd.RunE = c.call(func(ctx context.Context, cl *api.Client, pos []string, out io.Writer) error {
		if all {
			names, err := cl.ReextractAll(ctx)
			if err != nil {
				return err
			}
			return c.print(out, map[string]any{"requested": names}, func() {
				fmt.Fprintf(out, "new extracts asked for %d active nodes; the Database Extract takes them in the background (fieldsync admin status shows when)\n", len(names))
			})
		}
		stop := waiting(cmd, "taking the Database Extract of "+pos[0])
		res, err := cl.Reextract(ctx, pos[0])
		stop()
		if err != nil {
			return err
		}
		return c.print(out, res, func() {
			fmt.Fprintf(out, "node %s re-extracted at sequence %v into %v\n", pos[0], res["seq"], res["path"])
		})
	})
	return cmd
}

func adminStatus(c *conn) *cobra.Command {
	return &cobra.Command{
		Use: "status", Short: "show the flow's backlogs and each node's state", Args: noArgs,
		Example: "fieldsync admin status\nfieldsync admin status --json",
		RunE: c.call(func(ctx context.Context, cl *api.Client, _ []string, out io.Writer) error {
			s, err := cl.Status(ctx)
			if err != nil {
				return err
			}
			return c.print(out, s, func() { printStatus(out, s) })
		}),
	}
}

// printStatus prints the administrator's view: a line for each part of
// the flow (statusLines), then a table of the nodes.
func printStatus(out io.Writer, s fieldsync.Status) {
	tw := newTable(out)
	for _, l := range statusLines(s) {
		fmt.Fprintf(tw, "%s\t%s\n", l[0], l[1])
	}
	tw.Flush()
	fmt.Fprintln(out)
	tw = newTable(out)
	fmt.Fprintln(tw, "NODE\tEMPLOYEE\tACTIVE\tOUTBOX FILES\tOUTBOX BYTES\tLAST EXTRACT\tLAST SYNC\tLAST SESSION")
	for _, n := range s.Nodes {
		session := "-"
		if ls := n.LastSession; ls != nil {
			session = fmt.Sprintf("%s: up %d files %d B, down %d files %d B", ls.Result, ls.UpFiles, ls.UpBytes, ls.DownFiles, ls.DownBytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\t%s\t%s\t%s\n", n.Name, n.EmployeeID, n.Active, n.OutboxFiles, n.OutboxBytes, when(n.LastExtract), when(n.LastSync), session)
	}
	tw.Flush()
}

// statusLines are the lines of admin status above its table of nodes: a
// label and what it says, one part of the flow each.
func statusLines(s fieldsync.Status) [][2]string {
	lines := [][2]string{
		{"Transaction Log", fmt.Sprintf("%d pending, last sequence %d", s.Log.Pending, s.Log.LastSeq)},
		{"Transaction Processor", fmt.Sprintf("at %d, %d txnproc files not yet routed everywhere", s.Processor.Position, s.Processor.PendingFiles)},
	}
	for _, r := range s.Routers {
		lines = append(lines, [2]string{fmt.Sprintf("Transaction Router %d", r.Partition), fmt.Sprintf("at %d, %d behind the processor", r.Position, r.Backlog)})
	}
	if len(s.Routers) == 0 {
		lines = append(lines, [2]string{"Transaction Router", "has not routed anything yet"})
	}
	return append(lines, recoveryLines(s.Recoveries)...)
}

// recoveryLines say how many damaged or lost files were met in the last
// 24 hours, and the latest of them: when, whose, by which component, and
// what was done.
func recoveryLines(r fieldsync.RecoveryStatus) [][2]string {
	lines := [][2]string{{"Damaged files", fmt.Sprintf("%d in the last 24 hours", r.Day)}}
	for _, e := range r.Latest {
		who := e.Node
		if who == "" {
			who = "server"
		}
		lines = append(lines, [2]string{"", fmt.Sprintf("%s %s (%s): %s", when(e.At), who, e.Component, escape(e.What))})
	}
	return lines
}
