package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/server"
)

// demoCmd runs the whole flow (docs/design.md "The flow") on a temporary
// folder and narrates it: a server, two remote clients, an opportunity that
// reaches the field user on its sales team and not the other, an offline
// edit that flows back, and a conflict.
func demoCmd() *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:     "demo",
		Short:   "run the whole flow on a temporary folder, narrated",
		Long:    "A server, two laptops, an opportunity that reaches one of them, an offline edit and a conflict; the folder is removed at the end unless --keep.",
		Example: "fieldsync demo\nfieldsync demo --keep",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stdout := cmd.OutOrStdout()
			dir, err := os.MkdirTemp("", "fieldsync-demo-")
			if err != nil {
				return err
			}
			if keep {
				defer fmt.Fprintf(stdout, "\nThe demo's files are in %s\n", dir)
			} else {
				defer os.RemoveAll(dir)
			}
			d := &demo{out: stdout, ctx: cmd.Context()}
			return d.run(dir)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the demo's folder instead of removing it")
	return cmd
}

type demo struct {
	out  io.Writer
	ctx  context.Context
	dir  string
	url  string
	srv  *server.Server
	api  *api.Client
	step int

	ann, bob *client.Client
	opp      string // the opportunity's id
}

func (d *demo) say(format string, args ...any) {
	d.step++
	fmt.Fprintf(d.out, "\n%d. %s\n", d.step, fmt.Sprintf(format, args...))
}

func (d *demo) detail(format string, args ...any) {
	fmt.Fprintf(d.out, "   "+format+"\n", args...)
}

// settle waits until the server has merged every upload and routed every change.
func (d *demo) settle() error {
	ctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
	defer cancel()
	if err := d.srv.WaitIdle(ctx); err != nil {
		if d.ctx.Err() != nil {
			return d.ctx.Err()
		}
		return fmt.Errorf("the server did not catch up in 30 s: %w", err)
	}
	return nil
}

func (d *demo) create(table string, vals map[string]any) (string, error) {
	row, err := d.api.Create(d.ctx, table, vals)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", table, err)
	}
	return row["id"].(string), nil
}

func (d *demo) outboxFiles(node string) int {
	files, _ := docking.List(d.srv.Docking().Outbox(node))
	return len(files)
}

func (d *demo) run(dir string) error {
	ctx, cancel := context.WithCancel(d.ctx)
	defer cancel()
	d.ctx, d.dir = ctx, dir
	d.say("A fieldsync server starts on a temporary folder (%s), with the built-in CRM schema.", dir)
	srv, err := server.Open(ctx, server.Config{DataDir: filepath.Join(dir, "server")})
	if err != nil {
		return err
	}
	defer srv.Close()
	d.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	d.url = "http://" + ln.Addr().String()
	d.api = &api.Client{BaseURL: d.url, Token: srv.Token()}
	d.detail("listening on %s; API, Synchronization Manager, Transaction Processor, Router and Merger in one process", d.url)
	defer func() {
		for _, c := range []*client.Client{d.ann, d.bob} {
			if c != nil {
				c.Close()
			}
		}
	}()
	for _, step := range []func() error{d.people, d.laptops, d.telesales, d.firstSync, d.offlineEdit, d.conflict, d.bobStillBlind} {
		if err := step(); err != nil {
			return err
		}
	}
	fmt.Fprintln(d.out, "\nThat is the whole flow. The server and both laptops were temporary and are cleaned up.")
	return nil
}

func (d *demo) people() error {
	d.say("An administrator enters the sales people: Ann and Bob, each with a sales position, and the account Acme.")
	for _, r := range []struct {
		table string
		vals  map[string]any
	}{
		{"employee", map[string]any{"id": "ann", "name": "Ann Field", "login": "ann"}},
		{"employee", map[string]any{"id": "bob", "name": "Bob Road", "login": "bob"}},
		{"position", map[string]any{"id": "pos-east", "name": "Sales East", "employee_id": "ann"}},
		{"position", map[string]any{"id": "pos-west", "name": "Sales West", "employee_id": "bob"}},
		{"account", map[string]any{"id": "acme", "name": "Acme Corp", "industry": "tools"}},
	} {
		if _, err := d.create(r.table, r.vals); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) laptops() error {
	d.say("Their laptops are registered as remote nodes; each starts from a Database Extract of exactly what it may see.")
	for _, n := range []struct {
		node, emp string
		c         **client.Client
	}{{"ann-laptop", "ann", &d.ann}, {"bob-laptop", "bob", &d.bob}} {
		added, err := d.api.AddNode(d.ctx, n.node, n.emp)
		if err != nil {
			return err
		}
		c, err := client.Init(d.ctx, client.Config{Dir: filepath.Join(d.dir, n.node), Server: d.url, Node: n.node, Secret: added.Secret})
		if err != nil {
			return err
		}
		*n.c = c
		p, _ := c.List(d.ctx, "employee", fieldsync.Query{})
		d.detail("%s: local database ready, %d employees, no accounts yet (no team holds %s's position)", n.node, len(p.Rows), n.emp)
	}
	return nil
}

func (d *demo) telesales() error {
	d.say("In the call center, a telesales user creates the campaign \"Spring launch\" and an opportunity for it,")
	d.detail("and puts Ann's position on the opportunity's sales team.")
	if _, err := d.create("campaign", map[string]any{"id": "spring", "name": "Spring launch", "channel": "phone", "starts_on": "2026-03-01"}); err != nil {
		return err
	}
	opp, err := d.create("opportunity", map[string]any{"name": "Acme renewal", "account_id": "acme", "campaign_id": "spring",
		"stage": "prospect", "revenue": 50000, "close_date": "2026-12-15"})
	if err != nil {
		return err
	}
	d.opp = opp
	if _, err := d.create("opportunity_team", map[string]any{"opportunity_id": opp, "position_id": "pos-east"}); err != nil {
		return err
	}
	d.detail("opportunity %s saved; each change went into the Transaction Log in the same database transaction", opp)

	d.say("The Transaction Processor moves the log into transaction files; the Transaction Router copies each change")
	d.detail("into the outbox of every node allowed to see the row.")
	if err := d.settle(); err != nil {
		return err
	}
	d.detail("ann-laptop's outbox: %d file(s); bob-laptop's outbox: %d file(s) (the campaign only: everyone sees campaigns)",
		d.outboxFiles("ann-laptop"), d.outboxFiles("bob-laptop"))
	return nil
}

func (d *demo) firstSync() error {
	d.say("Both field users synchronize.")
	for _, c := range []*client.Client{d.ann, d.bob} {
		sum, err := c.Sync(d.ctx, client.SyncOptions{Apply: true})
		if err != nil {
			return err
		}
		_, gerr := c.Get(d.ctx, "opportunity", d.opp)
		d.detail("%s: downloaded %d file(s), %d bytes; sees the opportunity: %v", c.Node(), sum.DownFiles, sum.DownBytes, gerr == nil)
	}
	row, err := d.ann.Get(d.ctx, "opportunity", d.opp)
	if err != nil {
		return err
	}
	d.detail("on Ann's laptop: %q, stage %v, revenue %v, account %v", row["name"], row["stage"], row["revenue"], row["account_id"])
	return nil
}

func (d *demo) offlineEdit() error {
	d.say("Offline, Ann moves the opportunity to negotiation; the change waits in her local transaction log.")
	if _, err := d.ann.Apply(d.ctx, fieldsync.Update("opportunity", d.opp, map[string]any{"stage": "negotiation"})); err != nil {
		return err
	}
	st, _ := d.ann.Status(d.ctx)
	d.detail("pending local changes: %d", st.PendingChanges)

	d.say("Ann synchronizes: her change goes up, the Transaction Merger applies it on the server.")
	if _, err := d.ann.Sync(d.ctx, client.SyncOptions{Apply: true}); err != nil {
		return err
	}
	if err := d.settle(); err != nil {
		return err
	}
	srow, err := d.api.Get(d.ctx, "opportunity", d.opp)
	if err != nil {
		return err
	}
	d.detail("on the server the opportunity's stage is now %v", srow["stage"])
	return nil
}

func (d *demo) conflict() error {
	d.say("A conflict: telesales raises the revenue to 60000 on the server while Ann, offline, lowers it to 45000.")
	if _, err := d.api.Update(d.ctx, "opportunity", d.opp, map[string]any{"revenue": 60000}); err != nil {
		return err
	}
	if _, err := d.ann.Apply(d.ctx, fieldsync.Update("opportunity", d.opp, map[string]any{"revenue": 45000})); err != nil {
		return err
	}
	for range 2 { // the first sync uploads, the second brings the outcome
		if err := d.settle(); err != nil {
			return err
		}
		sum, err := d.ann.Sync(d.ctx, client.SyncOptions{Apply: true})
		if err != nil {
			return err
		}
		for _, c := range sum.Conflicts {
			d.detail("conflict on %s.%s: the server's value %s won over Ann's %s (policy: server wins)", c.Table, c.Field, c.Winner, c.Loser)
		}
	}
	row, _ := d.ann.Get(d.ctx, "opportunity", d.opp)
	d.detail("Ann's laptop converged: revenue %v, stage %v", row["revenue"], row["stage"])
	return nil
}

func (d *demo) bobStillBlind() error {
	d.say("Bob synchronizes again: he still does not see the opportunity, which his position is not on the team of.")
	if _, err := d.bob.Sync(d.ctx, client.SyncOptions{Apply: true}); err != nil {
		return err
	}
	_, gerr := d.bob.Get(d.ctx, "opportunity", d.opp)
	d.detail("bob-laptop sees the opportunity: %v", gerr == nil)
	return nil
}
