package router_test

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/extract"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/localdb"
	"github.com/fieldsync/fieldsync/router"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/txnproc"
	"github.com/fieldsync/fieldsync/visibility"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "seed for the randomized routing test (0: FIELDSYNC_SEED or the clock)")
	stepsFlag = flag.Int("steps", 300, "random changes per seed in the randomized routing test")
	seedsFlag = flag.Int("seeds", 3, "seeds the randomized routing test runs")
)

// env is a server database with its docking folder, a processor and routers.
type env struct {
	t       *testing.T
	st      *sqlstore.Store
	data    string
	docking docking.Folder
	proc    *txnproc.Processor
	routers []*router.Router
	parts   int
	// recent: the processor hands its last files to the routers in memory
	// (txnproc.Recent, kept small so that older files are read from disk).
	recent bool
	// own holds the transactions each node made itself: a node applies its
	// own changes locally, so they are not routed back to it.
	own map[string][]fieldsync.Txn
}

func newEnv(t *testing.T, b testutil.Backend, partitions int) *env {
	t.Helper()
	data := t.TempDir()
	st, _ := b.Open(t, schema.Default())
	e := &env{t: t, st: st, data: data, docking: docking.In(data), parts: partitions, own: map[string][]fieldsync.Txn{}}
	e.restart(nil, nil)
	return e
}

// restart makes a new processor and new routers that recover from disk and
// database, as after a crash; faults are injected into them.
func (e *env) restart(procFault, routerFault func(string) error) {
	e.t.Helper()
	ctx := context.Background()
	var recent *txnproc.Recent
	rc := router.Config{Docking: e.docking, Partitions: e.parts, Fault: routerFault}
	if e.recent {
		recent = txnproc.NewRecent(2048)
		rc.Recent = recent
	}
	e.proc = txnproc.New(e.st, txnproc.Config{Docking: e.docking, MaxTxns: 7, Fault: procFault, Recent: recent})
	if err := e.proc.Recover(ctx); err != nil {
		e.t.Fatal(err)
	}
	e.routers = nil
	for p := 0; p < e.parts; p++ {
		rc.Partition = p
		r := router.New(e.st, rc)
		if err := r.Recover(ctx); err != nil {
			e.t.Fatal(err)
		}
		e.routers = append(e.routers, r)
	}
}

// pump runs the processor and the routers until there is nothing left,
// returning the first error (an injected crash).
func (e *env) pump() error {
	ctx := context.Background()
	for {
		n, err := e.proc.Step(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	for _, r := range e.routers {
		for {
			routed, err := r.Step(ctx)
			if err != nil {
				return err
			}
			if !routed {
				break
			}
		}
	}
	return nil
}

func (e *env) mustPump() {
	e.t.Helper()
	if err := e.pump(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) apply(origin string, changes ...fieldsync.Change) error {
	txns, err := e.st.Apply(context.Background(), origin, changes...)
	if origin != "" {
		e.own[origin] = append(e.own[origin], txns...)
	}
	return err
}

func (e *env) must(changes ...fieldsync.Change) {
	e.t.Helper()
	if err := e.apply("", changes...); err != nil {
		e.t.Fatal(err)
	}
}

// addNode registers a node and takes its extract, as registration does.
func (e *env) addNode(name, employee string) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.st.AddNode(ctx, fieldsync.Node{Name: name, EmployeeID: employee}, fieldsync.HashSecret(name)); err != nil {
		e.t.Fatal(err)
	}
	if _, err := extract.Extract(ctx, e.st, e.docking, name, nil); err != nil {
		e.t.Fatal(err)
	}
}

// local is a node's local data as its client would have it: the extract,
// then every outbox file applied in order (transactions the extract holds
// skipped).
func (e *env) local(node string) map[string]map[string]fieldsync.Row {
	e.t.Helper()
	s := e.st.Schema()
	out := map[string]map[string]fieldsync.Row{}
	for _, t := range s.Tables {
		out[t.Name] = map[string]fieldsync.Row{}
	}
	db, err := sql.Open("sqlite", "file:"+e.docking.Extract(node)+"?mode=ro")
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	h, err := localdb.ReadHeader(context.Background(), e.docking.Extract(node))
	if err != nil {
		e.t.Fatalf("extract of %s: %v", node, err)
	}
	extractSeq := h.ExtractSeq
	for _, t := range s.Tables {
		rows, err := db.Query(fmt.Sprintf(`SELECT * FROM "%s"`, t.Name))
		if err != nil {
			e.t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			raw := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range raw {
				ptrs[i] = &raw[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				e.t.Fatal(err)
			}
			r := fieldsync.Row{}
			for i, c := range cols {
				r[c] = raw[i]
			}
			out[t.Name][r.ID()] = r
		}
		rows.Close()
	}
	dir := e.docking.Outbox(node)
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, en := range ents {
		if strings.HasSuffix(en.Name(), ".dx") {
			names = append(names, en.Name())
		}
	}
	sort.Strings(names)
	var all []fieldsync.Txn
	for _, name := range names {
		hdr, txns, err := dx.ReadFile(filepath.Join(dir, name), dx.Limits{})
		if err != nil {
			e.t.Fatal(err)
		}
		if hdr.Node != node || hdr.Kind != dx.KindOutbox {
			e.t.Fatalf("outbox file %s of %s has header %+v", name, node, hdr)
		}
		all = append(all, txns...)
	}
	// The node's own changes took effect locally where their sequence
	// number puts them among the routed ones.
	all = append(e.own[node], all...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].Seq < all[j].Seq })
	{
		for _, tx := range all {
			if tx.Seq <= extractSeq {
				continue
			}
			rows := out[tx.Table]
			if rows == nil {
				continue // a schema marker, or a table the schema in force dropped
			}
			switch tx.Op {
			case fieldsync.OpInsert:
				rows[tx.RowID] = tx.Values.Clone()
			case fieldsync.OpUpdate:
				if r, ok := rows[tx.RowID]; ok {
					for k, v := range tx.Values {
						r[k] = v
					}
				}
			case fieldsync.OpDelete, fieldsync.OpPurge:
				delete(rows, tx.RowID)
			}
		}
	}
	return out
}

// expected is what a node of the employee must have: the reference
// visible set, with the server's current values.
func (e *env) expected(employee string) map[string]map[string]fieldsync.Row {
	e.t.Helper()
	ctx := context.Background()
	ref, err := visibility.Reference(ctx, e.st, e.st.Schema(), employee)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]map[string]fieldsync.Row{}
	for _, t := range e.st.Schema().Tables {
		out[t.Name] = map[string]fieldsync.Row{}
		for _, id := range ref[t.Name] {
			r, err := e.st.Get(ctx, t.Name, id)
			if err != nil {
				e.t.Fatal(err)
			}
			out[t.Name][id] = r
		}
	}
	return out
}

func (e *env) checkNode(node, employee, when string) {
	e.t.Helper()
	got, want := e.local(node), e.expected(employee)
	for table := range want {
		if !reflect.DeepEqual(got[table], want[table]) {
			e.t.Fatalf("%s: node %s, table %s:\n got: %v\nwant: %v", when, node, table, got[table], want[table])
		}
	}
}

// outbox returns a node's outbox transactions as "op table/id" strings.
func (e *env) outbox(node string) []string {
	e.t.Helper()
	dir := e.docking.Outbox(node)
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, en := range ents {
		_, txns, err := dx.ReadFile(filepath.Join(dir, en.Name()), dx.Limits{})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, tx := range txns {
			out = append(out, fmt.Sprintf("%s %s/%s", tx.Op, tx.Table, tx.RowID))
		}
	}
	return out
}

func (e *env) base() {
	e.must(
		ins("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}),
		ins("employee", map[string]any{"id": "bob", "name": "Bob", "login": "bob"}),
		ins("position", map[string]any{"id": "p-ann", "name": "East", "employee_id": "ann"}),
		ins("position", map[string]any{"id": "p-bob", "name": "West", "employee_id": "bob"}),
		ins("account", map[string]any{"id": "acme", "name": "Acme"}),
		ins("campaign", map[string]any{"id": "spring", "name": "Spring"}),
	)
	e.addNode("ann-laptop", "ann")
	e.addNode("bob-laptop", "bob")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestRoutesOnlyToNodesThatSee(t *testing.T) {
	testutil.ForBackends(t, testRoutesOnlyToNodesThatSee)
}

func testRoutesOnlyToNodesThatSee(t *testing.T, b testutil.Backend) {
	e := newEnv(t, b, 1)
	e.base()
	e.must(
		ins("opportunity", map[string]any{"id": "deal", "name": "Deal", "account_id": "acme", "campaign_id": "spring"}),
		ins("opportunity_team", map[string]any{"id": "ot1", "opportunity_id": "deal", "position_id": "p-ann"}),
		ins("product", map[string]any{"id": "widget", "name": "Widget", "price": 9.5}),
	)
	e.mustPump()
	ann, bob := e.outbox("ann-laptop"), e.outbox("bob-laptop")
	for _, want := range []string{"insert opportunity/deal", "insert opportunity_team/ot1", "insert account/acme", "insert product/widget"} {
		if !contains(ann, want) {
			t.Errorf("ann's outbox lacks %q: %v", want, ann)
		}
	}
	if contains(bob, "insert opportunity/deal") || contains(bob, "insert account/acme") {
		t.Errorf("bob's outbox has rows bob may not see: %v", bob)
	}
	if !contains(bob, "insert product/widget") {
		t.Errorf("bob's outbox lacks the product everyone sees: %v", bob)
	}
	e.checkNode("ann-laptop", "ann", "routed")
	e.checkNode("bob-laptop", "bob", "routed")

	// An update reaches the nodes that see the row, as an update.
	e.must(upd("opportunity", "deal", map[string]any{"stage": "won"}))
	e.mustPump()
	if ann := e.outbox("ann-laptop"); ann[len(ann)-1] != "update opportunity/deal" {
		t.Errorf("ann's last delivery %q", ann[len(ann)-1])
	}
	// Leaving the team purges; joining sends whole.
	e.must(upd("opportunity_team", "ot1", map[string]any{"position_id": "p-bob"}))
	e.mustPump()
	if ann := e.outbox("ann-laptop"); !contains(ann, "purge opportunity/deal") || !contains(ann, "purge account/acme") {
		t.Errorf("ann was not sent purges: %v", ann)
	}
	if bob := e.outbox("bob-laptop"); !contains(bob, "insert opportunity/deal") || !contains(bob, "insert account/acme") {
		t.Errorf("bob was not sent the rows he now sees whole: %v", bob)
	}
	e.checkNode("ann-laptop", "ann", "moved")
	e.checkNode("bob-laptop", "bob", "moved")
}

func TestNoEchoAndDeactivated(t *testing.T) { testutil.ForBackends(t, testNoEchoAndDeactivated) }

func testNoEchoAndDeactivated(t *testing.T, b testutil.Backend) {
	e := newEnv(t, b, 1)
	e.base()
	e.must(ins("account_team", map[string]any{"id": "at1", "account_id": "acme", "position_id": "p-ann"}),
		ins("account_team", map[string]any{"id": "at2", "account_id": "acme", "position_id": "p-bob"}))
	e.mustPump()
	before := len(e.outbox("ann-laptop"))
	// A change that came from ann's node goes to bob, not back to ann.
	if err := e.apply("ann-laptop", ins("contact", map[string]any{"id": "k1", "account_id": "acme", "first_name": "Cy"})); err != nil {
		t.Fatal(err)
	}
	e.mustPump()
	if got := e.outbox("ann-laptop"); len(got) != before {
		t.Errorf("ann's own change was echoed back: %v", got[before:])
	}
	if !contains(e.outbox("bob-laptop"), "insert contact/k1") {
		t.Error("bob did not get ann's contact")
	}
	// A deactivated node gets nothing more.
	if _, err := e.st.DeactivateNode(context.Background(), "bob-laptop"); err != nil {
		t.Fatal(err)
	}
	n := len(e.outbox("bob-laptop"))
	e.must(upd("contact", "k1", map[string]any{"first_name": "Cyril"}))
	e.mustPump()
	if got := e.outbox("bob-laptop"); len(got) != n {
		t.Errorf("a deactivated node was routed %v", got[n:])
	}
	if !contains(e.outbox("ann-laptop"), "update contact/k1") {
		t.Error("ann did not get the update")
	}
}

// TestCrashAtEveryStep stops the processor or the router between each of
// their steps, restarts them from disk and database, and checks that the
// outboxes come out exactly as without a crash.
func TestCrashAtEveryStep(t *testing.T) { testutil.ForBackends(t, testCrashAtEveryStep) }

func testCrashAtEveryStep(t *testing.T, b testutil.Backend) {
	workload := func(e *env, round int) {
		e.must(
			ins("opportunity", map[string]any{"id": fmt.Sprintf("o%d", round), "name": "x", "account_id": "acme"}),
			ins("opportunity_team", map[string]any{"id": fmt.Sprintf("t%d", round), "opportunity_id": fmt.Sprintf("o%d", round), "position_id": "p-ann"}),
			ins("contact", map[string]any{"id": fmt.Sprintf("k%d", round), "account_id": "acme"}),
		)
		e.must(upd("opportunity", fmt.Sprintf("o%d", round), map[string]any{"stage": "s"}))
		if round%2 == 1 {
			e.must(upd("opportunity_team", fmt.Sprintf("t%d", round), map[string]any{"position_id": "p-bob"}))
		}
	}
	clean := newEnv(t, b, 1)
	clean.base()
	for round := 0; round < 4; round++ {
		workload(clean, round)
		clean.mustPump()
	}
	for _, c := range []struct {
		comp, step string
		recent     bool
	}{
		{"processor", "written", false}, {"processor", "renamed", false},
		{"router", "outbox-written", false}, {"router", "saved", false},
		{"processor", "renamed", true}, {"router", "outbox-written", true},
	} {
		t.Run(fmt.Sprintf("%s-%s-recent=%v", c.comp, c.step, c.recent), func(t *testing.T) {
			e := newEnv(t, b, 1)
			e.recent = c.recent
			e.base()
			crashed := 0
			fault := func(step string) error {
				if step == c.step && crashed < 3 {
					crashed++
					return errors.New("injected crash at " + step)
				}
				return nil
			}
			for round := 0; round < 4; round++ {
				workload(e, round)
				if c.comp == "processor" {
					e.restart(fault, nil)
				} else {
					e.restart(nil, fault)
				}
				for attempt := 0; ; attempt++ {
					err := e.pump()
					if err == nil {
						break
					}
					if attempt > 5 {
						t.Fatal(err)
					}
					e.restart(nil, nil) // the crash: start over from disk
				}
			}
			if crashed == 0 {
				t.Fatal("the fault was never injected")
			}
			for _, node := range []string{"ann-laptop", "bob-laptop"} {
				if got, want := e.outbox(node), clean.outbox(node); !reflect.DeepEqual(got, want) {
					t.Errorf("%s's outbox after crashes:\n got: %v\nwant: %v", node, got, want)
				}
			}
			e.checkNode("ann-laptop", "ann", "after crashes")
			e.checkNode("bob-laptop", "bob", "after crashes")
			if files, _ := e.docking.TxnprocFiles(); len(files) != 0 {
				t.Errorf("routed txnproc files left behind: %v", files)
			}
		})
	}
}

func TestReextractSupersedesOutbox(t *testing.T) {
	testutil.ForBackends(t, testReextractSupersedesOutbox)
}

func testReextractSupersedesOutbox(t *testing.T, b testutil.Backend) {
	e := newEnv(t, b, 1)
	e.base()
	e.must(ins("account_team", map[string]any{"id": "at1", "account_id": "acme", "position_id": "p-ann"}))
	for i := 0; i < 5; i++ {
		e.must(ins("contact", map[string]any{"id": fmt.Sprintf("k%d", i), "account_id": "acme"}))
	}
	e.mustPump()
	if len(e.outbox("ann-laptop")) == 0 {
		t.Fatal("nothing routed")
	}
	res, err := extract.Extract(context.Background(), e.st, e.docking, "ann-laptop", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.outbox("ann-laptop"); len(got) != 0 {
		t.Errorf("outbox after re-extract still holds %v", got)
	}
	if res.Rows["contact"] != 5 {
		t.Errorf("extract holds %d contacts, want 5", res.Rows["contact"])
	}
	e.must(upd("contact", "k1", map[string]any{"first_name": "New"}))
	e.mustPump()
	if got := e.outbox("ann-laptop"); !reflect.DeepEqual(got, []string{"update contact/k1"}) {
		t.Errorf("outbox after re-extract and one update: %v", got)
	}
	e.checkNode("ann-laptop", "ann", "re-extract")
}

func TestPartitionsSplitNodes(t *testing.T) { testutil.ForBackends(t, testPartitionsSplitNodes) }

func testPartitionsSplitNodes(t *testing.T, b testutil.Backend) {
	one, two := newEnv(t, b, 1), newEnv(t, b, 2)
	for _, e := range []*env{one, two} {
		e.base()
		e.addNode("ann-tablet", "ann")
		e.addNode("bob-tablet", "bob")
		e.must(ins("account_team", map[string]any{"id": "at1", "account_id": "acme", "position_id": "p-ann"}),
			ins("product", map[string]any{"id": "w", "name": "W"}))
		e.must(upd("account_team", "at1", map[string]any{"position_id": "p-bob"}))
		e.mustPump()
	}
	for _, node := range []string{"ann-laptop", "bob-laptop", "ann-tablet", "bob-tablet"} {
		if got, want := two.outbox(node), one.outbox(node); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: two partitions routed %v, one routed %v", node, got, want)
		}
	}
	seen := map[int]bool{}
	for _, node := range []string{"ann-laptop", "bob-laptop", "ann-tablet", "bob-tablet"} {
		seen[router.PartitionOf(node, 2)] = true
	}
	if len(seen) != 2 {
		t.Log("all test nodes hash to one partition; the split itself is not exercised")
	}
}

// TestRandomized applies long random change sequences, with nodes
// registered along the way, and checks that every node's extract plus its
// outbox reproduce exactly the reference visible set with current values.
func TestRandomized(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		for _, s := range testutil.Seeds(t, *seedFlag, *seedsFlag) {
			t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
				t.Logf("replay with: go test ./router -run TestRandomized/%s -seed %d -steps %d", b.Name, s, *stepsFlag)
				randomRoute(t, b, s, *stepsFlag)
			})
		}
	})
}

func randomRoute(t *testing.T, b testutil.Backend, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, seed*31+7))
	e := newEnv(t, b, 1+rng.IntN(2))
	if rng.IntN(2) == 0 {
		e.recent = true
		e.restart(nil, nil)
	}
	emps := []string{"e0", "e1", "e2"}
	for _, emp := range emps {
		e.must(ins("employee", map[string]any{"id": emp, "name": emp, "login": emp}))
	}
	type reg struct{ node, emp string }
	var nodes []reg
	register := func() {
		emp := emps[rng.IntN(len(emps))]
		name := fmt.Sprintf("n%d-%s", len(nodes), emp)
		e.addNode(name, emp)
		nodes = append(nodes, reg{name, emp})
	}
	register()
	ids := map[string][]string{}
	pick := func(table string) any {
		l := ids[table]
		if len(l) == 0 || rng.IntN(8) == 0 {
			return nil
		}
		return l[rng.IntN(len(l))]
	}
	next := 0
	tables := []string{"position", "account", "account_team", "contact", "opportunity", "opportunity_team", "activity", "attachment", "product"}
	for step := 0; step < steps; step++ {
		table := tables[rng.IntN(len(tables))]
		var ch fieldsync.Change
		switch op := rng.IntN(10); {
		case op < 5 || len(ids[table]) == 0:
			next++
			id := fmt.Sprintf("%s%d", table[:2], next)
			vals := map[string]any{"id": id}
			switch table {
			case "position":
				vals["employee_id"] = emps[rng.IntN(len(emps))]
			case "account", "product":
				vals["name"] = id
			case "account_team":
				vals["account_id"], vals["position_id"] = pick("account"), pick("position")
			case "contact":
				vals["account_id"] = pick("account")
			case "opportunity":
				vals["name"], vals["account_id"] = id, pick("account")
			case "opportunity_team":
				vals["opportunity_id"], vals["position_id"] = pick("opportunity"), pick("position")
			case "activity":
				vals["opportunity_id"], vals["account_id"], vals["owner_id"] = pick("opportunity"), pick("account"), emps[rng.IntN(len(emps))]
			case "attachment":
				vals["opportunity_id"] = pick("opportunity")
				vals["mode"] = []string{"published", "requested", "broadcast"}[rng.IntN(3)]
			}
			ch = ins(table, vals)
		case op < 8:
			id := ids[table][rng.IntN(len(ids[table]))]
			vals := map[string]any{}
			switch table {
			case "position":
				vals["employee_id"] = pick("employee")
			case "account_team", "opportunity_team":
				vals["position_id"] = pick("position")
			case "contact":
				vals["account_id"], vals["last_name"] = pick("account"), strconv.Itoa(step)
			case "opportunity":
				vals["account_id"], vals["stage"] = pick("account"), strconv.Itoa(step)
			case "activity":
				vals["owner_id"], vals["description"] = pick("employee"), strconv.Itoa(step)
			case "attachment":
				vals["file_name"], vals["mode"] = strconv.Itoa(step), []string{"published", "broadcast"}[rng.IntN(2)]
			default:
				vals["name"] = strconv.Itoa(step)
			}
			ch = upd(table, id, vals)
		default:
			ch = del(table, ids[table][rng.IntN(len(ids[table]))])
		}
		// A node's own change (the merger accepts only changes to rows the
		// node sees): not routed back to it, applied locally instead.
		origin := ""
		if ch.Op != fieldsync.OpInsert && rng.IntN(4) == 0 {
			n := nodes[rng.IntN(len(nodes))]
			ref, err := visibility.Reference(context.Background(), e.st, e.st.Schema(), n.emp)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(ref[ch.Table], ch.ID) {
				origin = n.node
			}
		}
		if err := e.apply(origin, ch); err != nil {
			if errors.Is(err, fieldsync.ErrInvalid) || errors.Is(err, fieldsync.ErrExists) || errors.Is(err, fieldsync.ErrInUse) {
				continue
			}
			t.Fatalf("step %d: %v", step, err)
		}
		for _, tb := range append(tables, "employee") {
			p, err := e.st.List(context.Background(), tb, fieldsync.Query{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			ids[tb] = ids[tb][:0]
			for _, r := range p.Rows {
				ids[tb] = append(ids[tb], r.ID())
			}
		}
		switch rng.IntN(20) {
		case 0:
			e.mustPump()
		case 1:
			if len(nodes) < 6 {
				register()
			}
		case 2:
			e.mustPump()
			e.restart(nil, nil)
		}
	}
	e.mustPump()
	for _, n := range nodes {
		e.checkNode(n.node, n.emp, fmt.Sprintf("seed %d end", seed))
	}
}

// TestDamagedTxnprocFile: a txnproc file found damaged (a flipped byte),
// or missing before the next one, is written again from the Transaction
// Log, which keeps its entries until every partition routed them, and
// routed as if nothing had happened; once routed, the log is trimmed.
func TestDamagedTxnprocFile(t *testing.T) { testutil.ForBackends(t, testDamagedTxnprocFile) }

func testDamagedTxnprocFile(t *testing.T, b testutil.Backend) {
	e := newEnv(t, b, 1)
	e.base()
	e.mustPump()
	ctx := context.Background()
	process := func(id string) string {
		t.Helper()
		e.must(ins("product", map[string]any{"id": id, "name": id}))
		if n, err := e.proc.Step(ctx); err != nil || n != 1 {
			t.Fatalf("process: %d, %v", n, err)
		}
		names, _ := e.docking.TxnprocFiles()
		return filepath.Join(e.docking.Txnproc(), names[len(names)-1])
	}
	damaged := process("w1")
	data, _ := os.ReadFile(damaged)
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(damaged, data, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := process("w2")
	process("w3")
	if err := os.Remove(missing); err != nil {
		t.Fatal(err)
	}
	steps := 0 // the damaged file, the missing one (with w3's right after it: one step)
	for ; ; steps++ {
		ok, err := e.routers[0].Step(ctx)
		if err != nil {
			t.Fatalf("route: %v", err)
		}
		if !ok {
			break
		}
	}
	if steps != 2 {
		t.Fatalf("routed in %d steps, want 2", steps)
	}
	if n := e.routers[0].Rebuilt(); n != 2 {
		t.Fatalf("%d files rebuilt, want 2", n)
	}
	if n, events, err := e.st.RecentRecoveries(ctx, time.Now().Add(-time.Hour), 5); err != nil || n != 2 ||
		!strings.Contains(events[0].What, "missing: rebuilt from the Transaction Log") || !strings.Contains(events[1].What, "damaged: rebuilt") {
		t.Fatalf("damaged-file events recorded: %d %+v, %v", n, events, err)
	}
	for _, id := range []string{"w1", "w2", "w3"} {
		if !slices.Contains(e.outbox("ann-laptop"), "insert product/"+id) {
			t.Fatalf("ann's outbox %v lacks product %s", e.outbox("ann-laptop"), id)
		}
	}
	if names, _ := e.docking.TxnprocFiles(); len(names) != 0 {
		t.Fatalf("routed files left: %v", names)
	}
	if ls, _ := e.st.LogState(ctx); ls.Pending != 0 || ls.Trimmed != ls.LastSeq {
		t.Fatalf("log once routed: %+v", ls)
	}
	e.checkNode("ann-laptop", "ann", "after the rebuilt files")
}

var (
	ins = fieldsync.Insert
	upd = fieldsync.Update
	del = fieldsync.Delete
)
