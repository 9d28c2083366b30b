package client_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// world is a server on loopback with an administrator's API client.
type world struct {
	t   *testing.T
	srv *server.Server
	url string
	api *api.Client
	ca  string // PEM of the authority nodes trust, for an https server
}

func newWorld(t *testing.T, b testutil.Backend) *world { return newWorldWith(t, b, nil) }

func (w *world) create(table string, vals map[string]any) string {
	w.t.Helper()
	row, err := w.api.Create(context.Background(), table, vals)
	if err != nil {
		w.t.Fatalf("create %s: %v", table, err)
	}
	return row["id"].(string)
}

// settle waits until every upload is merged and every logged change routed.
func (w *world) settle() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := w.srv.WaitIdle(ctx); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) node(name, employee string) *client.Client {
	w.t.Helper()
	added, err := w.api.AddNode(context.Background(), name, employee)
	if err != nil {
		w.t.Fatal(err)
	}
	c, err := client.Init(context.Background(), client.Config{Dir: filepath.Join(w.t.TempDir(), name), Server: w.url, Node: name, Secret: added.Secret, CACert: w.ca})
	if err != nil {
		w.t.Fatalf("init %s: %v", name, err)
	}
	w.t.Cleanup(func() { c.Close() })
	return c
}

func syncWait(t *testing.T, c *client.Client) client.Summary {
	t.Helper()
	sum, err := c.Sync(context.Background(), client.SyncOptions{Apply: true})
	if err != nil {
		t.Fatalf("sync %s: %v", c.Node(), err)
	}
	return sum
}

func has(t *testing.T, c *client.Client, table, id string) (fieldsync.Row, bool) {
	t.Helper()
	r, err := c.Get(context.Background(), table, id)
	if errors.Is(err, fieldsync.ErrNotFound) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return r, true
}

// TestSeedStory runs the whole flow: a telesales user creates an
// opportunity for a new campaign on the server; the field user on its
// sales team gets it at the next sync and the other does not; the field
// user edits it offline; the change flows back to the server and on.
func TestSeedStory(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) { seedStory(t, newWorld(t, b)) })
}

func seedStory(t *testing.T, w *world) {
	ctx := context.Background()
	w.create("employee", map[string]any{"id": "ann", "name": "Ann Field", "login": "ann"})
	w.create("employee", map[string]any{"id": "bob", "name": "Bob Road", "login": "bob"})
	w.create("position", map[string]any{"id": "p-ann", "name": "Sales East", "employee_id": "ann"})
	w.create("position", map[string]any{"id": "p-bob", "name": "Sales West", "employee_id": "bob"})
	w.create("account", map[string]any{"id": "acme", "name": "Acme"})
	ann := w.node("ann-laptop", "ann")
	bob := w.node("bob-laptop", "bob")
	if _, ok := has(t, ann, "employee", "bob"); !ok {
		t.Fatal("ann's extract lacks the employees everyone sees")
	}
	if _, ok := has(t, ann, "account", "acme"); ok {
		t.Fatal("ann's extract has an account she does not see")
	}

	// Telesales: a new campaign and an opportunity, with ann's position on its team.
	w.create("campaign", map[string]any{"id": "spring", "name": "Spring launch", "channel": "phone"})
	opp := w.create("opportunity", map[string]any{"name": "Acme renewal", "account_id": "acme", "campaign_id": "spring", "stage": "prospect", "revenue": 50000})
	w.create("opportunity_team", map[string]any{"opportunity_id": opp, "position_id": "p-ann"})
	w.settle()

	sum := syncWait(t, ann)
	if sum.DownFiles == 0 {
		t.Fatalf("ann downloaded nothing: %+v", sum)
	}
	if r, ok := has(t, ann, "opportunity", opp); !ok || r["stage"] != "prospect" {
		t.Fatalf("ann's opportunity after sync: %v %v", r, ok)
	}
	if _, ok := has(t, ann, "account", "acme"); !ok {
		t.Fatal("ann did not get the opportunity's account")
	}
	syncWait(t, bob)
	if _, ok := has(t, bob, "opportunity", opp); ok {
		t.Fatal("bob got an opportunity he is not on the team of")
	}
	if _, ok := has(t, bob, "campaign", "spring"); !ok {
		t.Fatal("bob did not get the campaign everyone sees")
	}

	// Ann edits offline; the change flows back to the server.
	if _, err := ann.Apply(ctx, fieldsync.Change{Op: fieldsync.OpUpdate, Table: "opportunity", ID: opp, Values: map[string]any{"stage": "negotiation"}}); err != nil {
		t.Fatal(err)
	}
	if st, _ := ann.Status(ctx); st.PendingChanges != 1 {
		t.Fatalf("pending changes %d, want 1", st.PendingChanges)
	}
	sum = syncWait(t, ann)
	if sum.Uploaded != 1 || sum.UpFiles != 1 {
		t.Fatalf("ann uploaded %+v", sum)
	}
	w.settle()
	row, err := w.api.Get(ctx, "opportunity", opp)
	if err != nil || row["stage"] != "negotiation" {
		t.Fatalf("server row after ann's sync: %v %v", row, err)
	}
	// The server records the session and the node's last sync.
	nodes, _ := w.api.ListNodes(ctx)
	for _, n := range nodes {
		if n.Name == "ann-laptop" && n.LastSync.IsZero() {
			t.Error("ann's last sync not recorded")
		}
	}

	// Bob joins the team: the opportunity becomes visible to him.
	w.create("opportunity_team", map[string]any{"opportunity_id": opp, "position_id": "p-bob"})
	w.settle()
	syncWait(t, bob)
	if r, ok := has(t, bob, "opportunity", opp); !ok || r["stage"] != "negotiation" {
		t.Fatalf("bob after joining the team: %v %v", r, ok)
	}
	// Ann's change did not come back to her as a download (no echo), and a
	// quiet sync moves nothing.
	sum = syncWait(t, ann)
	if sum.UpFiles != 0 || sum.Uploaded != 0 {
		t.Fatalf("quiet sync uploaded %+v", sum)
	}
}

func TestConflictServerWins(t *testing.T) { testutil.ForBackends(t, testConflictServerWins) }

func testConflictServerWins(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	w.create("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
	w.create("position", map[string]any{"id": "p-ann", "employee_id": "ann"})
	w.create("account", map[string]any{"id": "acme", "name": "Acme"})
	opp := w.create("opportunity", map[string]any{"name": "Deal", "account_id": "acme", "revenue": 100})
	w.create("opportunity_team", map[string]any{"opportunity_id": opp, "position_id": "p-ann"})
	ann := w.node("ann-laptop", "ann")
	w.settle()
	syncWait(t, ann)

	// Both sides change the revenue; the server's value wins and comes back.
	if _, err := w.api.Update(ctx, "opportunity", opp, map[string]any{"revenue": 200}); err != nil {
		t.Fatal(err)
	}
	if _, err := ann.Apply(ctx, fieldsync.Change{Op: fieldsync.OpUpdate, Table: "opportunity", ID: opp, Values: map[string]any{"revenue": 300, "stage": "won"}}); err != nil {
		t.Fatal(err)
	}
	w.settle()
	// One sync uploads, waits for the merge (a conflict on revenue, the
	// stage taken) and brings back the server's value with its report.
	sum := syncWait(t, ann)
	row, _ := w.api.Get(ctx, "opportunity", opp)
	if fmt.Sprint(row["revenue"]) != "200" || row["stage"] != "won" {
		t.Fatalf("server after merge: %v", row)
	}
	local, _ := has(t, ann, "opportunity", opp)
	if local["revenue"] != 200.0 || local["stage"] != "won" {
		t.Fatalf("ann did not converge: %v", local)
	}
	if len(sum.Conflicts) != 1 || sum.Conflicts[0].Field != "revenue" || sum.Conflicts[0].Winner != "200" || sum.Conflicts[0].Loser != "300" {
		t.Fatalf("conflicts reported to ann: %+v", sum.Conflicts)
	}
}

func TestRefusals(t *testing.T) { testutil.ForBackends(t, testRefusals) }

func testRefusals(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	w.create("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
	ann := w.node("ann-laptop", "ann")
	dir := t.TempDir()
	for _, tc := range []struct {
		node, secret, want string
	}{
		{"ghost", "x", `unknown node or wrong secret`},
		{"ann-laptop", "wrong", `unknown node or wrong secret`},
	} {
		_, err := client.Init(ctx, client.Config{Dir: filepath.Join(dir, tc.node+tc.secret), Server: w.url, Node: tc.node, Secret: tc.secret})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, fieldsync.ErrUnauthorized) {
			t.Errorf("init as %s/%s: %v, want %q", tc.node, tc.secret, err, tc.want)
		}
	}
	// A node may not write tables nodes may not write.
	if _, err := ann.Apply(ctx, fieldsync.Change{Op: fieldsync.OpInsert, Table: "product", Values: map[string]any{"name": "x"}}); !errors.Is(err, fieldsync.ErrForbidden) {
		t.Errorf("local write to product: %v", err)
	}
	if _, err := w.api.DeactivateNode(ctx, "ann-laptop"); err != nil {
		t.Fatal(err)
	}
	if _, err := ann.Sync(ctx, client.SyncOptions{Apply: true}); err == nil || !strings.Contains(err.Error(), `node "ann-laptop" is deactivated`) {
		t.Errorf("sync of a deactivated node: %v", err)
	}
}

// TestSyncGetsWriteJustBefore: a sync that starts just after a connected
// user's write gets it, without waiting for the server to settle first.
func TestSyncGetsWriteJustBefore(t *testing.T) {
	w := newWorldWith(t, testutil.Backends[0], nil, func(c *server.Config) { c.RouteWait = 20 * time.Second })
	w.create("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
	ann := w.node("ann-laptop", "ann")
	for i := range 5 {
		id := fmt.Sprintf("late-%d", i)
		w.create("employee", map[string]any{"id": id, "name": id, "login": id})
		syncWait(t, ann)
		if _, ok := has(t, ann, "employee", id); !ok {
			t.Fatalf("a sync just after the write of employee %s did not get it", id)
		}
	}
}
