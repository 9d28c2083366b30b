package visibility_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/visibility"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "seed for the randomized visibility test (0: from FIELDSYNC_SEED or the clock)")
	stepsFlag = flag.Int("steps", 400, "random changes per seed in the randomized visibility test")
	seedsFlag = flag.Int("seeds", 3, "number of seeds the randomized visibility test runs")
)

// world is a server database, the graph following its log, and for every
// employee the set of rows the graph's reported changes say it sees.
type world struct {
	t     *testing.T
	st    *sqlstore.Store
	g     *visibility.Graph
	seq   int64
	views map[string]map[string]bool // employee -> "table/id" -> seen
	emps  []string
}

func newWorld(t *testing.T, b testutil.Backend, emps []string) *world {
	st, _ := b.Open(t, schema.Default())
	w := &world{t: t, st: st, views: map[string]map[string]bool{}, emps: emps}
	w.g = visibility.NewGraph(w.st.Schema())
	for _, e := range emps {
		w.views[e] = map[string]bool{}
	}
	return w
}

// apply writes changes through the store and feeds the new log entries to
// the graph, folding every reported visibility change into the views.
func (w *world) apply(changes ...fieldsync.Change) error {
	w.t.Helper()
	_, err := w.st.Apply(context.Background(), "", changes...)
	if err != nil {
		return err
	}
	txns, err := w.st.ReadLog(context.Background(), w.seq, 1_000_000)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, tx := range txns {
		w.seq = tx.Seq
		chs, err := w.g.Apply(tx)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, ch := range chs {
			key := ch.Table + "/" + ch.ID
			for _, e := range w.emps {
				had := w.views[e][key]
				if had != ch.Before.Sees(e) {
					w.t.Fatalf("txn %d (%s %s/%s): %s of %s: graph says before=%v, but the employee's view had it=%v",
						tx.Seq, tx.Op, tx.Table, tx.RowID, e, key, ch.Before.Sees(e), had)
				}
				if ch.After.Sees(e) {
					w.views[e][key] = true
				} else {
					delete(w.views[e], key)
				}
			}
		}
	}
	return nil
}

func (w *world) must(changes ...fieldsync.Change) {
	w.t.Helper()
	if err := w.apply(changes...); err != nil {
		w.t.Fatal(err)
	}
}

// check compares, for every employee, the reference recomputation with the
// graph's visible set and with the view built from reported changes.
func (w *world) check(when string) {
	w.t.Helper()
	for _, e := range w.emps {
		ref, err := visibility.Reference(context.Background(), w.st, w.st.Schema(), e)
		if err != nil {
			w.t.Fatal(err)
		}
		want := flatten(ref)
		if got := flatten(w.g.Visible(e)); !reflect.DeepEqual(got, want) {
			w.t.Fatalf("%s: graph's visible set for %s differs from the reference\n got: %v\nwant: %v", when, e, got, want)
		}
		var view []string
		for k := range w.views[e] {
			view = append(view, k)
		}
		sort.Strings(view)
		if !reflect.DeepEqual(nonNil(view), want) {
			w.t.Fatalf("%s: changes reported to %s add up to a different set than the reference\n got: %v\nwant: %v", when, e, view, want)
		}
	}
}

func flatten(m map[string][]string) []string {
	out := []string{}
	for table, ids := range m {
		for _, id := range ids {
			out = append(out, table+"/"+id)
		}
	}
	sort.Strings(out)
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// base: two employees, each holding one position; an account with a team;
// an opportunity with a team.
func base(w *world) {
	w.must(
		ins("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}),
		ins("employee", map[string]any{"id": "bob", "name": "Bob", "login": "bob"}),
		ins("position", map[string]any{"id": "p-ann", "name": "East", "employee_id": "ann"}),
		ins("position", map[string]any{"id": "p-bob", "name": "West", "employee_id": "bob"}),
		ins("campaign", map[string]any{"id": "c1", "name": "Spring"}),
		ins("account", map[string]any{"id": "acme", "name": "Acme"}),
		ins("account", map[string]any{"id": "beta", "name": "Beta"}),
		ins("contact", map[string]any{"id": "k-acme", "account_id": "acme"}),
		ins("contact", map[string]any{"id": "k-beta", "account_id": "beta"}),
		ins("account_team", map[string]any{"id": "at1", "account_id": "acme", "position_id": "p-ann"}),
		ins("opportunity", map[string]any{"id": "deal", "name": "Deal", "account_id": "beta", "campaign_id": "c1"}),
		ins("attachment", map[string]any{"id": "doc", "opportunity_id": "deal", "file_name": "p.pdf"}),
	)
}

func sees(w *world, emp, key string) bool { return w.views[emp][key] }

func TestRules(t *testing.T) { testutil.ForBackends(t, testRules) }

func testRules(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b, []string{"ann", "bob"})
	base(w)
	w.check("base")
	cases := []struct {
		emp, key string
		want     bool
		why      string
	}{
		{"ann", "campaign/c1", true, "all"},
		{"bob", "employee/ann", true, "all"},
		{"ann", "account_team/at1", true, "position: position_id"},
		{"bob", "account_team/at1", false, "position held by someone else"},
		{"ann", "account/acme", true, "referenced_by: account_team.account_id"},
		{"ann", "contact/k-acme", true, "parent: account_id"},
		{"bob", "contact/k-acme", false, "parent not visible"},
		{"ann", "opportunity/deal", false, "no team row"},
		{"ann", "account/beta", false, "referenced only by an invisible opportunity"},
		{"ann", "attachment/doc", false, "parent opportunity not visible"},
	}
	for _, c := range cases {
		if got := sees(w, c.emp, c.key); got != c.want {
			t.Errorf("%s sees %s = %v, want %v (%s)", c.emp, c.key, got, c.want, c.why)
		}
	}
}

func TestVisibilityEvents(t *testing.T) { testutil.ForBackends(t, testVisibilityEvents) }

func testVisibilityEvents(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b, []string{"ann", "bob"})
	base(w)

	// A position added to an opportunity's team: the opportunity, its
	// account (referenced_by), the account's contacts (parent) and the
	// opportunity's attachments (parent) become visible.
	w.must(ins("opportunity_team", map[string]any{"id": "ot1", "opportunity_id": "deal", "position_id": "p-bob"}))
	for _, k := range []string{"opportunity/deal", "account/beta", "contact/k-beta", "attachment/doc", "opportunity_team/ot1"} {
		if !sees(w, "bob", k) {
			t.Errorf("after joining the team bob does not see %s", k)
		}
	}
	if sees(w, "ann", "opportunity/deal") {
		t.Error("ann sees an opportunity she is not on the team of")
	}
	w.check("team added")

	// An opportunity moved to another account: beta (and its contact) go,
	// acme comes.
	w.must(upd("opportunity", "deal", map[string]any{"account_id": "acme"}))
	if sees(w, "bob", "account/beta") || sees(w, "bob", "contact/k-beta") {
		t.Error("bob still sees the opportunity's old account")
	}
	if !sees(w, "bob", "account/acme") || !sees(w, "bob", "contact/k-acme") {
		t.Error("bob does not see the opportunity's new account")
	}
	w.check("opportunity moved")

	// An employee gaining a position: ann takes over bob's position.
	w.must(upd("position", "p-bob", map[string]any{"employee_id": "ann"}))
	if sees(w, "bob", "opportunity/deal") || !sees(w, "ann", "opportunity/deal") {
		t.Error("the position's new holder did not take over its visibility")
	}
	w.check("position moved")

	// An employee losing a position.
	w.must(upd("position", "p-bob", map[string]any{"employee_id": nil}))
	if sees(w, "ann", "opportunity/deal") {
		t.Error("ann still sees the deal after losing the position")
	}
	if !sees(w, "ann", "account/acme") {
		t.Error("ann lost acme, which her own account team still shows her")
	}
	w.check("position vacated")

	// A position removed from a team.
	w.must(upd("position", "p-bob", map[string]any{"employee_id": "bob"}))
	w.must(del("opportunity_team", "ot1"))
	if sees(w, "bob", "opportunity/deal") || sees(w, "bob", "attachment/doc") {
		t.Error("bob still sees the deal after leaving its team")
	}
	w.check("team removed")

	// A parent deleted: the account goes, with its contacts (cascade) and
	// team rows.
	w.must(ins("opportunity_team", map[string]any{"id": "ot2", "opportunity_id": "deal", "position_id": "p-bob"}))
	w.must(del("opportunity", "deal"))
	if sees(w, "bob", "attachment/doc") || sees(w, "bob", "opportunity/deal") || sees(w, "bob", "account/acme") {
		t.Error("bob still sees rows of a deleted opportunity")
	}
	w.must(del("account", "acme"))
	if sees(w, "ann", "contact/k-acme") || sees(w, "ann", "account/acme") {
		t.Error("ann still sees a deleted account's rows")
	}
	w.check("parents deleted")
}

func TestOwnerRule(t *testing.T) { testutil.ForBackends(t, testOwnerRule) }

func testOwnerRule(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b, []string{"ann", "bob"})
	base(w)
	w.must(ins("activity", map[string]any{"id": "call", "owner_id": "ann", "type": "call"}))
	if !sees(w, "ann", "activity/call") || sees(w, "bob", "activity/call") {
		t.Fatal("owner rule")
	}
	w.must(upd("activity", "call", map[string]any{"owner_id": "bob"}))
	if sees(w, "ann", "activity/call") || !sees(w, "bob", "activity/call") {
		t.Fatal("owner changed")
	}
	w.check("owner")
}

// TestCycles uses a schema whose rules refer to each other in a cycle: a
// row visible only through the cycle itself is not visible (least fixed
// point), and one seed makes the whole cycle visible.
func TestCycles(t *testing.T) {
	s, err := schema.Parse("cycle.yaml", []byte(`fieldsync_schema: 1
nodes:
  employee: employee
  positions: position.employee_id
tables:
  employee:
    columns: {name: text}
    visibility: [all]
  position:
    columns: {employee_id: {type: text, references: employee}}
    visibility: [all]
  a:
    columns:
      b_id: {type: text, references: b}
      owner: {type: text, references: employee}
    visibility:
      - owner: owner
      - parent: b_id
  b:
    columns:
      a_id: {type: text, references: a}
    visibility:
      - parent: a_id
`))
	if err != nil {
		t.Fatal(err)
	}
	g := visibility.NewGraph(s)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(g.Put("a", fieldsync.Row{"id": "a1", "b_id": "b1"}))
	must(g.Put("b", fieldsync.Row{"id": "b1", "a_id": "a1"}))
	if a := g.Audience("a", "a1"); !a.Empty() {
		t.Fatalf("a cycle with no seed is visible to %v", a)
	}
	chs, err := g.Apply(fieldsync.Txn{Seq: 1, Op: fieldsync.OpUpdate, Table: "a", RowID: "a1",
		Values: fieldsync.Row{"owner": "e1"}, Prev: fieldsync.Row{"owner": nil}})
	must(err)
	if len(chs) != 2 || !chs[0].After.Sees("e1") || chs[1].Table != "b" || !chs[1].After.Sees("e1") || chs[1].Before.Sees("e1") {
		t.Fatalf("seeding a cycle: %+v", chs)
	}
}

// TestRandomized applies long random change sequences and checks, for
// every employee, that the graph and the changes it reports agree with the
// reference recomputation.
func TestRandomized(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		for _, s := range testutil.Seeds(t, *seedFlag, *seedsFlag) {
			t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
				t.Logf("replay with: go test ./visibility -run TestRandomized/%s -seed %d -steps %d", b.Name, s, *stepsFlag)
				randomRun(t, b, s, *stepsFlag)
			})
		}
	})
}

func randomRun(t *testing.T, b testutil.Backend, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	emps := []string{"e0", "e1", "e2", "e3"}
	w := newWorld(t, b, emps)
	for _, e := range emps {
		w.must(ins("employee", map[string]any{"id": e, "name": e, "login": e}))
	}
	ids := map[string][]string{}
	pick := func(table string) any {
		l := ids[table]
		if len(l) == 0 || rng.IntN(8) == 0 {
			return nil
		}
		return l[rng.IntN(len(l))]
	}
	next := 0
	fresh := func(prefix string) string { next++; return fmt.Sprintf("%s%d", prefix, next) }
	for step := 0; step < steps; step++ {
		var ch fieldsync.Change
		tables := []string{"position", "account", "account_team", "contact", "opportunity", "opportunity_team", "activity", "attachment", "campaign"}
		table := tables[rng.IntN(len(tables))]
		op := rng.IntN(10)
		switch {
		case op < 5 || len(ids[table]) == 0:
			id := fresh(table[:2])
			vals := map[string]any{"id": id}
			switch table {
			case "position":
				vals["employee_id"] = pick("employee_fake")
				if rng.IntN(4) > 0 {
					vals["employee_id"] = emps[rng.IntN(len(emps))]
				}
			case "account", "campaign":
				vals["name"] = id
			case "account_team":
				vals["account_id"], vals["position_id"] = pick("account"), pick("position")
			case "contact":
				vals["account_id"] = pick("account")
			case "opportunity":
				vals["name"], vals["account_id"], vals["campaign_id"] = id, pick("account"), pick("campaign")
			case "opportunity_team":
				vals["opportunity_id"], vals["position_id"] = pick("opportunity"), pick("position")
			case "activity":
				vals["opportunity_id"], vals["account_id"] = pick("opportunity"), pick("account")
				if rng.IntN(2) == 0 {
					vals["owner_id"] = emps[rng.IntN(len(emps))]
				}
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
				vals["employee_id"] = emps[rng.IntN(len(emps))]
				if rng.IntN(5) == 0 {
					vals["employee_id"] = nil
				}
			case "account_team":
				vals["position_id"] = pick("position")
			case "contact":
				vals["account_id"] = pick("account")
			case "opportunity":
				vals["account_id"] = pick("account")
				if rng.IntN(2) == 0 {
					vals["stage"] = "s" + strconv.Itoa(rng.IntN(5))
				}
			case "opportunity_team":
				vals["position_id"] = pick("position")
			case "activity":
				vals["owner_id"] = emps[rng.IntN(len(emps))]
				vals["account_id"] = pick("account")
			default:
				vals["name"] = fresh("n")
				if table == "attachment" {
					vals = map[string]any{"file_name": fresh("f"), "mode": []string{"published", "broadcast"}[rng.IntN(2)]}
				}
			}
			ch = upd(table, id, vals)
		default:
			ch = del(table, ids[table][rng.IntN(len(ids[table]))])
		}
		err := w.apply(ch)
		switch {
		case err == nil:
		case errors.Is(err, fieldsync.ErrInvalid), errors.Is(err, fieldsync.ErrExists), errors.Is(err, fieldsync.ErrInUse):
			continue // a random change the schema refuses (required column, unique pair, restrict)
		default:
			t.Fatalf("step %d: %v", step, err)
		}
		// Track ids from the database, cascades included.
		for _, tb := range tables {
			p, err := w.st.List(context.Background(), tb, fieldsync.Query{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			ids[tb] = ids[tb][:0]
			for _, r := range p.Rows {
				ids[tb] = append(ids[tb], r.ID())
			}
		}
		if step%25 == 24 {
			w.check(fmt.Sprintf("seed %d step %d", seed, step))
		}
	}
	w.check(fmt.Sprintf("seed %d end", seed))

	// Sees and SeesOwn, which walk the database itself, agree with the
	// reference and its variant without all rules and broadcast.
	checkWalk(t, w, seed, emps, "Sees", visibility.Reference, visibility.Sees)
	checkWalk(t, w, seed, emps, "SeesOwn", visibility.ReferenceOwn, visibility.SeesOwn)

	// A graph loaded from the database equals the one built from the log.
	var loaded *visibility.Graph
	err := w.st.Snapshot(context.Background(), func(snap fieldsync.Snapshot) error {
		var err error
		loaded, err = visibility.Load(context.Background(), snap, w.st.Schema())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range emps {
		if !reflect.DeepEqual(flatten(loaded.Visible(e)), flatten(w.g.Visible(e))) {
			t.Fatalf("seed %d: loaded graph differs for %s", seed, e)
		}
	}

	// Walk, which reads a snapshot from each node's seeds, finds the
	// reference set, each row once; the shared walk once for every node.
	err = w.st.Snapshot(context.Background(), func(snap fieldsync.Snapshot) error {
		ctx := context.Background()
		var sharedRows []string
		shared, err := visibility.WalkShared(ctx, snap, w.st.Schema(), func(table string, r fieldsync.Row) error {
			sharedRows = append(sharedRows, table+"/"+r.ID())
			return nil
		})
		if err != nil {
			return err
		}
		if shared.Len() != len(sharedRows) {
			t.Fatalf("seed %d: the shared walk counts %d rows, gave %d", seed, shared.Len(), len(sharedRows))
		}
		for _, e := range append(emps, "nobody") {
			got := slices.Clone(sharedRows)
			err := visibility.WalkOwn(ctx, snap, w.st.Schema(), e, shared, func(table string, r fieldsync.Row) error {
				got = append(got, table+"/"+r.ID())
				return nil
			})
			if err != nil {
				return err
			}
			sort.Strings(got)
			ref, err := visibility.Reference(ctx, w.st, w.st.Schema(), e)
			if err != nil {
				return err
			}
			if want := flatten(ref); !reflect.DeepEqual(nonNil(got), want) {
				t.Fatalf("seed %d: the walk for %s differs from the reference\n got: %v\nwant: %v", seed, e, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkWalk compares, for every employee and row, a walk over the database
// (Sees or SeesOwn) with its plain reference recomputation.
func checkWalk(t *testing.T, w *world, seed uint64, emps []string, name string,
	reference func(context.Context, fieldsync.Reader, *fieldsync.Schema, string) (map[string][]string, error),
	sees func(context.Context, fieldsync.Reader, *fieldsync.Schema, string, string, string) (bool, error)) {
	t.Helper()
	ctx := context.Background()
	for _, e := range emps {
		ref, err := reference(ctx, w.st, w.st.Schema(), e)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{}
		for _, k := range flatten(ref) {
			want[k] = true
		}
		for _, tb := range w.st.Schema().Tables {
			p, err := w.st.List(ctx, tb.Name, fieldsync.Query{Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Rows {
				got, err := sees(ctx, w.st, w.st.Schema(), e, tb.Name, r.ID())
				if err != nil {
					t.Fatal(err)
				}
				if got != want[tb.Name+"/"+r.ID()] {
					t.Fatalf("seed %d: %s(%s, %s/%s) = %v, reference says %v", seed, name, e, tb.Name, r.ID(), got, !got)
				}
			}
		}
	}
}

var (
	ins = fieldsync.Insert
	upd = fieldsync.Update
	del = fieldsync.Delete
)

// TestSeesOwn: rows seen only through all rules, broadcast mode or what
// hangs off them are not a node's own; rows seen through its own rules are.
func TestSeesOwn(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		s, err := schema.Parse("own.yaml", []byte(testutil.PeopleYAML+`  product:
    columns: {name: text}
    visibility: [all]
  price:
    columns: {product_id: {references: product}}
    visibility: [{parent: product_id}]
  note:
    columns: {owner_id: {references: employee}, product_id: {references: product}}
    visibility: [all, {owner: owner_id}]
  attachment:
    columns: {note_id: {references: note}, file: file, mode: text}
    visibility: [{parent: note_id}]
`))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := b.Open(t, s)
		ctx := context.Background()
		for _, ch := range []fieldsync.Change{
			ins("employee", map[string]any{"id": "ann"}),
			ins("employee", map[string]any{"id": "bob"}),
			ins("product", map[string]any{"id": "p1"}),
			ins("price", map[string]any{"id": "pr1", "product_id": "p1"}),
			ins("note", map[string]any{"id": "n-ann", "owner_id": "ann"}),
			ins("note", map[string]any{"id": "n-bob", "owner_id": "bob"}),
			ins("attachment", map[string]any{"id": "a-ann", "note_id": "n-ann", "mode": "published"}),
			ins("attachment", map[string]any{"id": "a-bob", "note_id": "n-bob", "mode": "published"}),
			ins("attachment", map[string]any{"id": "a-all", "note_id": "n-bob", "mode": "broadcast"}),
		} {
			if _, err := st.Apply(ctx, "", ch); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			table, id string
			sees, own bool
		}{
			{"product", "p1", true, false},
			{"price", "pr1", true, false},
			{"note", "n-ann", true, true},
			{"note", "n-bob", true, false},
			{"attachment", "a-ann", true, true},
			{"attachment", "a-bob", true, false}, // its parent is seen through all only
			{"attachment", "a-all", true, false},
			{"note", "missing", false, false},
		} {
			sees, err1 := visibility.Sees(ctx, st, s, "ann", c.table, c.id)
			own, err2 := visibility.SeesOwn(ctx, st, s, "ann", c.table, c.id)
			if err1 != nil || err2 != nil || sees != c.sees || own != c.own {
				t.Errorf("%s %s: Sees %v, SeesOwn %v (%v %v), want %v %v", c.table, c.id, sees, own, err1, err2, c.sees, c.own)
			}
		}
		ref, err := visibility.ReferenceOwn(ctx, st, s, "ann")
		if err != nil {
			t.Fatal(err)
		}
		if got := flatten(ref); !reflect.DeepEqual(got, []string{"attachment/a-ann", "note/n-ann"}) {
			t.Errorf("the reference's own rows of ann: %v", got)
		}
	})
}
