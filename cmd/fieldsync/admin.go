package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/fieldsync/fieldsync/api"
)

func adminCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: admin needs a command: node add|list|deactivate|reextract, status", errUsage)
	}
	switch args[0] {
	case "node":
		if len(args) < 2 {
			return fmt.Errorf("%w: admin node needs a verb: add, list, get, deactivate, reextract", errUsage)
		}
		return adminNode(ctx, args[1], args[2:], stdout, stderr)
	case "status":
		return adminStatus(ctx, args[1:], stdout, stderr)
	case "conflicts":
		return adminConflicts(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown admin command %q (node, status, conflicts)", errUsage, args[0])
}

func adminNode(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	run := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"add": adminNodeAdd, "list": adminNodeList, "get": adminNodeGet,
		"deactivate": adminNodeDeactivate, "reextract": adminNodeReextract, "reset-secret": adminNodeResetSecret, "resume": adminNodeResume,
	}[verb]
	if run == nil {
		return fmt.Errorf("%w: unknown admin node verb %q (add, list, get, deactivate, reextract, reset-secret, resume)", errUsage, verb)
	}
	return run(ctx, args, stdout, stderr)
}

// adminFlags starts the flags of an admin verb: the connection's, and
// those the verb adds.
func adminFlags(name string, stderr io.Writer) (*flag.FlagSet, *conn) {
	fs := newFlags(name, stderr)
	c := &conn{}
	c.register(fs)
	return fs, c
}

// oneName parses a verb's flags and its one NAME argument.
func oneName(fs *flag.FlagSet, args []string, usage string) (string, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", fmt.Errorf("%w: %s", errUsage, usage)
	}
	return pos[0], nil
}

func adminNodeAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := adminFlags("admin node add", stderr)
	employee := fs.String("employee", "", "the `id` of the employee the node is for")
	name, err := oneName(fs, args, "admin node add NAME --employee EMPLOYEE_ID")
	if err == nil && *employee == "" {
		err = fmt.Errorf("%w: admin node add NAME --employee EMPLOYEE_ID", errUsage)
	}
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	stop := func() {}
	if isTerminal(stderr) {
		stop = startWaiting(stderr, "registering "+name+" and taking its Database Extract", time.Second)
	}
	out, err := cl.AddNode(ctx, name, *employee)
	stop()
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(stdout, out)
	}
	fmt.Fprintf(stdout, "node      %s\nemployee  %s\nsecret    %s\n", out.Node.Name, out.Node.EmployeeID, out.Secret)
	if out.ExtractError != "" {
		fmt.Fprintf(stdout, "warning   %s\n", out.ExtractError)
	}
	fmt.Fprintln(stdout, "The secret is shown only now: give it to the node's user (client init --secret).")
	return nil
}

func adminNodeList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := adminFlags("admin node list", stderr)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: admin node list takes no arguments", errUsage)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	nodes, err := cl.ListNodes(ctx)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(stdout, nodes)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tEMPLOYEE\tACTIVE\tCREATED\tLAST EXTRACT")
	for _, n := range nodes {
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", n.Name, n.EmployeeID, n.Active, when(n.Created), when(n.Extracted))
	}
	return tw.Flush()
}

func adminNodeGet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := adminFlags("admin node get", stderr)
	name, err := oneName(fs, args, "admin node get NAME")
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	n, err := cl.Node(ctx, name)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(stdout, n)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "name\t%s\nemployee\t%s\nactive\t%v\ncreated\t%s\ndeactivated\t%s\nlast extract\t%s\nlast sync\t%s\nfolder made\t%s\n",
		n.Name, n.EmployeeID, n.Active, when(n.Created), when(n.Deactivated), when(n.Extracted), when(n.LastSync), when(n.FolderSince))
	merging := "yes"
	if n.MergeStopped != "" {
		merging = fmt.Sprintf("stopped: %s (fieldsync admin node resume %s)", n.MergeStopped, n.Name)
	}
	fmt.Fprintf(tw, "merging\t%s\n", merging)
	return tw.Flush()
}

func adminNodeDeactivate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := adminFlags("admin node deactivate", stderr)
	name, err := oneName(fs, args, "admin node deactivate NAME")
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	n, err := cl.DeactivateNode(ctx, name)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(stdout, n)
	}
	fmt.Fprintf(stdout, "node %s deactivated at %s\n", n.Name, when(n.Deactivated))
	return nil
}

func adminNodeResetSecret(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := adminFlags("admin node reset-secret", stderr)
	name, err := oneName(fs, args, "admin node reset-secret NAME")
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	secret, err := cl.ResetSecret(ctx, name)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(stdout, api.NewSecret{Node: name, Secret: secret})
	}
	fmt.Fprintf(stdout, "node      %s\nsecret    %s\n", name, secret)
	fmt.Fprintln(stdout, "The old secret no longer works; the new one is shown only now (client init --secret).")
	return nil
}

func adminNodeResume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := adminFlags("admin node resume", stderr)
	name, err := oneName(fs, args, "admin node resume NAME")
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	n, err := cl.ResumeNode(ctx, name)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(stdout, n)
	}
	fmt.Fprintf(stdout, "node %s resumed: its uploads are merged again\n", n.Name)
	return nil
}

func adminNodeReextract(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, c := adminFlags("admin node reextract", stderr)
	all := fs.Bool("all", false, "every active node (taken in the background)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *all && len(pos) != 0 || !*all && len(pos) != 1 {
		return fmt.Errorf("%w: admin node reextract NAME, or admin node reextract --all", errUsage)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	if *all {
		names, err := cl.ReextractAll(ctx)
		if err != nil {
			return err
		}
		if c.json {
			return printJSON(stdout, map[string]any{"requested": names})
		}
		fmt.Fprintf(stdout, "new extracts asked for %d active nodes; the Database Extract takes them in the background (fieldsync admin status shows when)\n", len(names))
		return nil
	}
	name := pos[0]
	stop := func() {}
	if isTerminal(stderr) {
		stop = startWaiting(stderr, "taking the Database Extract of "+name, time.Second)
	}
	res, err := cl.Reextract(ctx, name)
	stop()
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(stdout, res)
	}
	fmt.Fprintf(stdout, "node %s re-extracted at sequence %v into %v\n", name, res["seq"], res["path"])
	return nil
}

func adminStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("admin status", stderr)
	var c conn
	c.register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: admin status takes no arguments", errUsage)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	s, err := cl.Status(ctx)
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(stdout, s)
	}
	fmt.Fprintf(stdout, "Transaction Log        %d pending, last sequence %d\n", s.Log.Pending, s.Log.LastSeq)
	fmt.Fprintf(stdout, "Transaction Processor  at %d, %d txnproc files not yet routed everywhere\n", s.Processor.Position, s.Processor.PendingFiles)
	for _, r := range s.Routers {
		fmt.Fprintf(stdout, "Transaction Router %d   at %d, %d behind the processor\n", r.Partition, r.Position, r.Backlog)
	}
	if len(s.Routers) == 0 {
		fmt.Fprintln(stdout, "Transaction Router     has not routed anything yet")
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tEMPLOYEE\tACTIVE\tOUTBOX FILES\tOUTBOX BYTES\tLAST EXTRACT\tLAST SYNC\tLAST SESSION")
	for _, n := range s.Nodes {
		session := "-"
		if ls := n.LastSession; ls != nil {
			session = fmt.Sprintf("%s: up %d files %d B, down %d files %d B", ls.Result, ls.UpFiles, ls.UpBytes, ls.DownFiles, ls.DownBytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\t%s\t%s\t%s\n", n.Name, n.EmployeeID, n.Active, n.OutboxFiles, n.OutboxBytes, when(n.LastExtract), when(n.LastSync), session)
	}
	tw.Flush()
	return nil
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
