package client_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncmgr"
	"github.com/fieldsync/fieldsync/visibility"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "seed for the randomized convergence test (0: FIELDSYNC_SEED or the clock)")
	stepsFlag = flag.Int("steps", 150, "random actions per seed in the randomized convergence test")
	seedsFlag = flag.Int("seeds", 2, "seeds the randomized convergence test runs")
)

// flaky drops connections at random: before the request reaches the
// server, or after the server answered (the answer is lost).
type flaky struct {
	mu   sync.Mutex
	rng  *rand.Rand
	p    float64
	next http.RoundTripper
	on   bool
}

func (f *flaky) roll() (before, after bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.on {
		return false, false
	}
	x := f.rng.Float64()
	return x < f.p/2, x >= f.p/2 && x < f.p
}

func (f *flaky) RoundTrip(req *http.Request) (*http.Response, error) {
	before, after := f.roll()
	if before {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errors.New("connection dropped (test)")
	}
	resp, err := f.next.RoundTrip(req)
	if err == nil && after {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, errors.New("connection dropped after the answer (test)")
	}
	return resp, err
}

func TestRandomizedConvergence(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		for _, s := range testutil.Seeds(t, *seedFlag, *seedsFlag) {
			t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
				t.Logf("replay with: go test ./client -run TestRandomizedConvergence/%s -seed %d -steps %d", b.Name, s, *stepsFlag)
				converge(t, b, s, *stepsFlag)
			})
		}
	})
}

type node struct {
	c   *client.Client
	emp string
	net *flaky
}

func converge(t *testing.T, b testutil.Backend, seed uint64, steps int) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	w := newWorldWith(t, b, nil, coalesceEagerly)
	emps := []string{"e0", "e1", "e2"}
	for _, e := range emps {
		w.create("employee", map[string]any{"id": e, "name": e, "login": e})
		w.create("position", map[string]any{"id": "p-" + e, "employee_id": e})
	}
	for i := 0; i < 3; i++ {
		acc := fmt.Sprintf("acc%d", i)
		w.create("account", map[string]any{"id": acc, "name": acc})
		opp := fmt.Sprintf("opp%d", i)
		w.create("opportunity", map[string]any{"id": opp, "name": opp, "account_id": acc})
		w.create("opportunity_team", map[string]any{"opportunity_id": opp, "position_id": "p-" + emps[i%3]})
	}
	var nodes []*node
	for i, e := range emps {
		name := fmt.Sprintf("n%d-%s", i, e)
		added, err := w.api.AddNode(ctx, name, e)
		if err != nil {
			t.Fatal(err)
		}
		fl := &flaky{rng: rand.New(rand.NewPCG(seed+uint64(i), 7)), p: 0.15, next: http.DefaultTransport}
		c, err := client.Init(ctx, client.Config{Dir: filepath.Join(t.TempDir(), name), Server: w.url, Node: name, Secret: added.Secret,
			HTTP: &http.Client{Transport: fl, Timeout: time.Minute}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fl.on = true
		nodes = append(nodes, &node{c: c, emp: e, net: fl})
	}
	st := w.srv.Store()
	writes := lastWrites{}
	pick := func(table string, from func(string, fieldsync.Query) (fieldsync.Page, error)) string {
		p, err := from(table, fieldsync.Query{Limit: 1000})
		if err != nil || len(p.Rows) == 0 {
			return ""
		}
		return p.Rows[rng.IntN(len(p.Rows))].ID()
	}
	serverList := func(table string, q fieldsync.Query) (fieldsync.Page, error) { return st.List(ctx, table, q) }
	sw := newSchemaWalk()
	for step := 0; step < steps; step++ {
		switch a := rng.IntN(10); {
		case a < 3: // a connected user changes the server
			var ch fieldsync.Change
			switch rng.IntN(10) {
			case 0:
				ch = fieldsync.Change{Op: fieldsync.OpInsert, Table: "opportunity_team", Values: map[string]any{
					"opportunity_id": pick("opportunity", serverList), "position_id": "p-" + emps[rng.IntN(3)]}}
			case 1:
				if id := pick("opportunity_team", serverList); id != "" {
					ch = fieldsync.Change{Op: fieldsync.OpDelete, Table: "opportunity_team", ID: id}
				}
			case 2:
				if id := pick("opportunity", serverList); id != "" {
					ch = fieldsync.Change{Op: fieldsync.OpUpdate, Table: "opportunity", ID: id, Values: map[string]any{
						"stage": fmt.Sprintf("server-%d", step), "account_id": fmt.Sprintf("acc%d", rng.IntN(3))}}
				}
			case 3:
				ch = fieldsync.Change{Op: fieldsync.OpInsert, Table: "contact", Values: map[string]any{
					"account_id": fmt.Sprintf("acc%d", rng.IntN(3)), "first_name": fmt.Sprintf("s%d", step)}}
			case 4:
				ch = fieldsync.Change{Op: fieldsync.OpUpdate, Table: "position", ID: "p-" + emps[rng.IntN(3)],
					Values: map[string]any{"employee_id": emps[rng.IntN(3)]}}
			case 5: // telesales deletes a contact or an opportunity nodes may be changing offline
				table := []string{"contact", "opportunity"}[rng.IntN(2)]
				if id := pick(table, serverList); id != "" {
					ch = fieldsync.Change{Op: fieldsync.OpDelete, Table: table, ID: id}
				}
			case 6: // a txnproc file is damaged on disk before it is routed
				damageTxnproc(t, w.srv.Docking(), rng)
			case 7: // an administrator changes the schema on the running server
				sw.step(t, w, step)
			case 8: // a connected user writes what the schema changes added
				ch = sw.serverChange(w, rng, step, func(table string) string { return pick(table, serverList) })
			default: // an administrator re-extracts a node
				// (one being taken already, for a lost file, is answered "in use")
				if _, err := w.api.Reextract(ctx, nodes[rng.IntN(len(nodes))].c.Node()); err != nil && !errors.Is(err, fieldsync.ErrInUse) {
					t.Fatalf("step %d: reextract: %v", step, err)
				}
			}
			if ch.Table != "" {
				txns, err := st.Apply(ctx, "", ch)
				if err != nil && !errors.Is(err, fieldsync.ErrExists) && !errors.Is(err, fieldsync.ErrInvalid) && !errors.Is(err, fieldsync.ErrInUse) {
					t.Fatalf("step %d: server change: %v", step, err)
				}
				writes.note("", txns)
			}
		case a < 7: // a field user changes their local database
			nd := nodes[rng.IntN(len(nodes))]
			local := func(table string, q fieldsync.Query) (fieldsync.Page, error) { return nd.c.List(ctx, table, q) }
			var ch fieldsync.Change
			switch rng.IntN(5) {
			case 4:
				ch = localChange(nd.c.Store().Schema(), nd.c.Node(), rng, step, func(table string) string { return pick(table, local) })
			case 0:
				if id := pick("opportunity", local); id != "" {
					ch = fieldsync.Change{Op: fieldsync.OpUpdate, Table: "opportunity", ID: id, Values: map[string]any{"stage": fmt.Sprintf("%s-%d", nd.c.Node(), step)}}
				}
			case 1:
				if acc := pick("account", local); acc != "" {
					ch = fieldsync.Change{Op: fieldsync.OpInsert, Table: "contact", Values: map[string]any{"account_id": acc, "first_name": fmt.Sprintf("%s-%d", nd.c.Node(), step)}}
				}
			case 2:
				if id := pick("contact", local); id != "" {
					ch = fieldsync.Change{Op: fieldsync.OpUpdate, Table: "contact", ID: id, Values: map[string]any{"last_name": fmt.Sprintf("%s-%d", nd.c.Node(), step)}}
				}
			default:
				if opp := pick("opportunity", local); opp != "" {
					ch = fieldsync.Change{Op: fieldsync.OpInsert, Table: "opportunity_team", Values: map[string]any{"opportunity_id": opp, "position_id": "p-" + emps[rng.IntN(3)]}}
				}
			}
			if ch.Table != "" {
				txns, err := nd.c.Apply(ctx, ch)
				if !allowedLocally(err) {
					t.Fatalf("step %d: local change on %s: %v", step, nd.c.Node(), err)
				}
				writes.note(nd.c.Node(), txns)
			}
		default: // a field user syncs (maybe over a failing connection)
			nd := nodes[rng.IntN(len(nodes))]
			if rng.IntN(6) == 0 { // a disk flips a byte of one of the node's files first
				damageNodeFile(w.srv.Docking(), nd.c, rng)
			}
			if _, err := nd.c.Sync(ctx, client.SyncOptions{Apply: true}); err != nil {
				t.Logf("step %d: sync of %s failed (will retry): %v", step, nd.c.Node(), err)
			} else if rng.IntN(6) == 0 {
				reinstall(t, w, nd)
			}
		}
	}
	// Quiet rounds over a good network: every client converges.
	for _, nd := range nodes {
		nd.net.mu.Lock()
		nd.net.on = false
		nd.net.mu.Unlock()
	}
	for round := 0; round < 3; round++ {
		for _, nd := range nodes {
			w.settle()
			quietSync(t, w, nd.c)
		}
	}
	w.settle()
	writes.check(t, seed, st)
	for _, nd := range nodes {
		if _, err := nd.c.Sync(ctx, client.SyncOptions{Apply: true}); err != nil {
			t.Fatal(err)
		}
		// Every upload the node made reached the server and was merged or
		// refused (with its reason kept): none lost, none pending.
		local, err := nd.c.Store().State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		next := local.UploadNext
		merged, _ := st.MergedUploads(ctx, nd.c.Node(), 0)
		refused, _ := st.Refused(ctx, nd.c.Node())
		seen := map[int64]bool{}
		for _, m := range merged {
			seen[m.Number] = true
		}
		for _, r := range refused {
			seen[r.Number] = true
		}
		for u := int64(1); u < next; u++ {
			if !seen[u] {
				t.Fatalf("seed %d: %s's upload %d was neither merged nor refused", seed, nd.c.Node(), u)
			}
		}
		if cs, _ := nd.c.Status(ctx); cs.PendingChanges != 0 || cs.PendingUploads != 0 {
			t.Fatalf("seed %d: %s still has pending work after quiet rounds: %+v", seed, nd.c.Node(), cs)
		}
		ref, err := visibility.Reference(ctx, st, st.Schema(), nd.emp)
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range st.Schema().Tables {
			want := map[string]fieldsync.Row{}
			for _, id := range ref[tb.Name] {
				r, err := st.Get(ctx, tb.Name, id)
				if err != nil {
					t.Fatal(err)
				}
				want[id] = r
			}
			got := map[string]fieldsync.Row{}
			p, err := nd.c.List(ctx, tb.Name, fieldsync.Query{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Rows {
				got[r.ID()] = r
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d: %s's %s differs from the server's visible rows:\n got: %v\nwant: %v", seed, nd.c.Node(), tb.Name, got, want)
			}
		}
	}
}

// lastWrites is, for every field of every row, who wrote it last in the
// test's order ("" for the server) and the value.
type lastWrites map[[3]string]lastWrite

type lastWrite struct {
	node  string
	value any
}

func (lw lastWrites) note(node string, txns []fieldsync.Txn) {
	for _, t := range txns {
		for f, v := range t.Values {
			if f != "id" {
				lw[[3]string{t.Table, t.RowID, f}] = lastWrite{node, v}
			}
		}
	}
}

// check: a field a node wrote last holds the node's value on the server,
// unless its row is gone (delete wins) or a conflict or refusal of some
// node's upload on that row is recorded and reported. Nothing a field user
// did is silently gone.
func (lw lastWrites) check(t *testing.T, seed uint64, st interface {
	Get(context.Context, string, string) (fieldsync.Row, error)
	Conflicts(context.Context, string) ([]fieldsync.Conflict, error)
}) {
	t.Helper()
	ctx := context.Background()
	recorded := map[[2]string]bool{}
	cs, err := st.Conflicts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		recorded[[2]string{c.Table, c.RowID}] = true
	}
	for k, w := range lw {
		if w.node == "" {
			continue
		}
		row, err := st.Get(ctx, k[0], k[1])
		if errors.Is(err, fieldsync.ErrNotFound) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(row[k[2]]) != fmt.Sprint(w.value) && !recorded[[2]string{k[0], k[1]}] {
			t.Fatalf("seed %d: %s wrote %s %s.%s = %v last; the server holds %v and no conflict or refusal says why",
				seed, w.node, k[0], k[1], k[2], w.value, row[k[2]])
		}
	}
}

// damageTxnproc flips a byte of a txnproc file not yet routed, as a disk
// would (written anew and renamed over it, so a reader sees one or the
// other): the router writes it again from the Transaction Log.
func damageTxnproc(t *testing.T, dock docking.Folder, rng *rand.Rand) {
	t.Helper()
	names, err := dock.TxnprocFiles()
	if err != nil || len(names) == 0 {
		return
	}
	damageFile(filepath.Join(dock.Txnproc(), names[rng.IntN(len(names))]), rng)
}

// quietSync syncs a node over a good network: it must succeed, but for a
// damaged file the node recovers from through a new extract, which is
// taken in the background meanwhile.
func quietSync(t *testing.T, w *world, c *client.Client) {
	t.Helper()
	for i := 0; ; i++ {
		_, err := c.Sync(context.Background(), client.SyncOptions{Apply: true})
		if err == nil {
			return
		}
		if !errors.Is(err, fieldsync.ErrDamagedFile) || i == 100 {
			nr, _ := w.srv.Store().NodeRouting(context.Background(), c.Node())
			view, _ := w.srv.Admin().Status(context.Background())
			local, _ := c.Store().State(context.Background())
			t.Fatalf("quiet sync of %s: %v\nserver: %+v\nlocal: extract %d, damaged %+v\nrecoveries: %+v", c.Node(), err, nr, local.ExtractSeq, local.InboxDamaged, view.Recoveries)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// damageNodeFile flips a byte of one of a node's .dx files, as a disk
// would: in its folder's inbox or upload/, or in its outbox or inbox on
// the server. Each recovers by itself (a new download, a rebuild from the
// local log, a new extract, the node sending it again).
func damageNodeFile(dock docking.Folder, c *client.Client, rng *rand.Rand) {
	dirs := []string{filepath.Join(c.Dir(), "inbox"), filepath.Join(c.Dir(), "upload"), dock.Outbox(c.Node()), dock.Inbox(c.Node())}
	dir := dirs[rng.IntN(len(dirs))]
	nums, err := docking.Numbers(dir)
	if err != nil || len(nums) == 0 {
		return
	}
	damageFile(filepath.Join(dir, docking.FileName(nums[rng.IntN(len(nums))])), rng)
}

// damageFile flips a byte of a file, written anew and renamed over it, so
// a reader sees one or the other.
func damageFile(path string, rng *rand.Rand) {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return
	}
	data[rng.IntN(len(data))] ^= 0x5a
	tmp := path + ".damaged"
	if os.WriteFile(tmp, data, 0o644) == nil {
		os.Rename(tmp, path)
	}
}

// reinstall gives a node a new folder, as a reinstalled laptop: its old
// folder synchronized just now, so nothing of it is left unsent.
func reinstall(t *testing.T, w *world, nd *node) {
	t.Helper()
	ctx := context.Background()
	if cs, err := nd.c.Status(ctx); err != nil || cs.PendingChanges != 0 || cs.PendingUploads != 0 {
		return
	}
	secret, err := w.api.ResetSecret(ctx, nd.c.Node())
	if err != nil {
		t.Fatal(err)
	}
	nd.net.mu.Lock()
	nd.net.on = false
	nd.net.mu.Unlock()
	c, err := client.Init(ctx, client.Config{Dir: filepath.Join(t.TempDir(), nd.c.Node()), Server: w.url, Node: nd.c.Node(), Secret: secret,
		HTTP: &http.Client{Transport: nd.net, Timeout: time.Minute}})
	if err != nil {
		t.Fatalf("reinstall %s: %v", nd.c.Node(), err)
	}
	nd.net.mu.Lock()
	nd.net.on = true
	nd.net.mu.Unlock()
	t.Cleanup(func() { c.Close() })
	nd.c.Close()
	nd.c = c
}

// coalesceEagerly coalesces a node's outbox files two at a time as soon
// as it has had no request for a millisecond, so that the nodes meet
// coalesced files at every turn.
func coalesceEagerly(c *server.Config) {
	c.Coalesce = syncmgr.Coalesce{FanIn: 2, AwayAfter: time.Millisecond}
}
