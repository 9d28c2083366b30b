package visibility_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/visibility"
)

// whyCRM fills a CRM database: ann holds p-ann, bob p-bob, nobody
// p-vacant; acme has ann's team row and an opportunity without a team;
// beta's deal has bob's and the vacant position on its team; bob owns an
// activity; the deal has a published and a broadcast attachment.
func whyCRM(t *testing.T, b testutil.Backend) *sqlstore.Store {
	st, _ := b.Open(t, schema.Default())
	apply(t, st,
		ins("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}),
		ins("employee", map[string]any{"id": "bob", "name": "Bob", "login": "bob"}),
		ins("position", map[string]any{"id": "p-ann", "employee_id": "ann"}),
		ins("position", map[string]any{"id": "p-bob", "employee_id": "bob"}),
		ins("position", map[string]any{"id": "p-vacant"}),
		ins("campaign", map[string]any{"id": "c1", "name": "Spring"}),
		ins("account", map[string]any{"id": "acme", "name": "Acme"}),
		ins("account", map[string]any{"id": "beta", "name": "Beta"}),
		ins("contact", map[string]any{"id": "k-acme", "account_id": "acme"}),
		ins("contact", map[string]any{"id": "k-beta", "account_id": "beta"}),
		ins("account_team", map[string]any{"id": "at1", "account_id": "acme", "position_id": "p-ann"}),
		ins("opportunity", map[string]any{"id": "deal", "name": "Deal", "account_id": "beta"}),
		ins("opportunity", map[string]any{"id": "lone", "name": "Lone", "account_id": "acme"}),
		ins("opportunity_team", map[string]any{"id": "ot1", "opportunity_id": "deal", "position_id": "p-bob"}),
		ins("opportunity_team", map[string]any{"id": "ot2", "opportunity_id": "deal", "position_id": "p-vacant"}),
		ins("activity", map[string]any{"id": "call", "owner_id": "bob", "type": "call"}),
		ins("attachment", map[string]any{"id": "doc", "opportunity_id": "deal", "mode": "published"}),
		ins("attachment", map[string]any{"id": "flyer", "opportunity_id": "deal", "mode": "broadcast"}),
	)
	return st
}

func apply(t *testing.T, st *sqlstore.Store, changes ...fieldsync.Change) {
	t.Helper()
	for _, ch := range changes {
		if _, err := st.Apply(context.Background(), "", ch); err != nil {
			t.Fatalf("%s %s: %v", ch.Table, ch.ID, err)
		}
	}
}

// explain is Explain on st, failing the test on an error, and checking the
// verdict against Sees.
func explain(t *testing.T, st *sqlstore.Store, emp, table, id string) visibility.Explanation {
	t.Helper()
	ctx := context.Background()
	ex, err := visibility.Explain(ctx, st, st.Schema(), emp, table, id)
	if err != nil {
		t.Fatalf("explain %s %s to %s: %v", table, id, emp, err)
	}
	if sees, err := visibility.Sees(ctx, st, st.Schema(), emp, table, id); err != nil || sees != ex.Visible {
		t.Fatalf("explain %s %s to %s: visible %v, Sees says %v (%v)", table, id, emp, ex.Visible, sees, err)
	}
	return ex
}

// TestExplainVisible: each kind of rule that grants a row, and the chain
// from the row to its seed.
func TestExplainVisible(t *testing.T) { testutil.ForBackends(t, testExplainVisible) }

func testExplainVisible(t *testing.T, b testutil.Backend) {
	st := whyCRM(t, b)
	for _, c := range []struct {
		emp, table, id string
		text           string
		kinds          string // the steps' kinds
		columns        string // the steps' columns
	}{
		{"ann", "campaign", "c1", "campaign c1 (rule all: every node sees it)", "all", ""},
		{"ann", "account_team", "at1", "account_team at1 (position p-ann held by employee ann)", "position", "position_id"},
		{"ann", "account", "acme", "account acme ← account_team at1 (position p-ann held by employee ann)", "referenced_by position", "account_id position_id"},
		{"ann", "contact", "k-acme", "contact k-acme ← account acme ← account_team at1 (position p-ann held by employee ann)",
			"parent referenced_by position", "account_id account_id position_id"},
		{"bob", "opportunity", "deal", "opportunity deal ← opportunity_team ot1 (position p-bob held by employee bob)", "referenced_by position", "opportunity_id position_id"},
		{"bob", "contact", "k-beta", "contact k-beta ← account beta ← opportunity deal ← opportunity_team ot1 (position p-bob held by employee bob)",
			"parent referenced_by referenced_by position", "account_id account_id opportunity_id position_id"},
		{"bob", "activity", "call", "activity call (owner_id is employee bob)", "owner", "owner_id"},
		{"ann", "attachment", "flyer", "attachment flyer (mode broadcast: every node sees it)", "broadcast", "mode"},
		{"bob", "attachment", "doc", "attachment doc ← opportunity deal ← opportunity_team ot1 (position p-bob held by employee bob)",
			"parent referenced_by position", "opportunity_id opportunity_id position_id"},
	} {
		ex := explain(t, st, c.emp, c.table, c.id)
		var kinds, cols []string
		for _, s := range ex.Chain {
			kinds, cols = append(kinds, s.Kind), append(cols, s.Column)
		}
		if !ex.Visible || ex.Text != c.text || strings.Join(kinds, " ") != c.kinds || strings.TrimSpace(strings.Join(cols, " ")) != c.columns ||
			ex.Chain[0].Table != c.table || ex.Chain[0].ID != c.id || len(ex.Tried) != 0 {
			t.Errorf("%s sees %s %s:\n got %+v\nwant %q, kinds %q, columns %q", c.emp, c.table, c.id, ex, c.text, c.kinds, c.columns)
		}
	}
	ex := explain(t, st, "ann", "contact", "k-acme")
	if r := ex.Chain[1].Rule; r != "referenced_by: account_team.account_id" {
		t.Errorf("the account's step names its rule %q", r)
	}
}

// lacked flattens the rules tried of an explanation, nested rows
// indented, into lines.
func lacked(tried []visibility.Tried, indent string) []string {
	var out []string
	for _, tr := range tried {
		out = append(out, indent+tr.Lacked)
		for _, u := range tr.Rows {
			line := indent + "  " + u.Table + " " + u.ID
			if u.Note != "" {
				line += ": " + u.Note
			}
			out = append(out, line)
			out = append(out, lacked(u.Tried, indent+"    ")...)
		}
	}
	return out
}

// TestExplainNotVisible: each kind of thing a rule lacks, with the rows it
// depends on explained in turn, each once.
func TestExplainNotVisible(t *testing.T) { testutil.ForBackends(t, testExplainNotVisible) }

func testExplainNotVisible(t *testing.T, b testutil.Backend) {
	st := whyCRM(t, b)
	for _, c := range []struct {
		emp, table, id string
		want           []string
	}{
		{"ann", "opportunity", "lone", []string{
			"referenced_by opportunity_team.opportunity_id: no opportunity_team row refers to it"}},
		{"ann", "account_team", "at1", nil}, // visible: checked below
		{"bob", "account_team", "at1", []string{
			"position position_id: position p-ann is held by employee ann, not bob",
			"parent account_id: account acme is not visible",
			"  account acme",
			"    referenced_by account_team.account_id: 1 account_team row refers to it, none visible",
			"      account_team at1: explained above",
			"    referenced_by opportunity.account_id: 1 opportunity row refers to it, none visible",
			"      opportunity lone",
			"        referenced_by opportunity_team.opportunity_id: no opportunity_team row refers to it"}},
		{"ann", "opportunity", "deal", []string{
			"referenced_by opportunity_team.opportunity_id: 2 opportunity_team rows refer to it, none visible",
			"  opportunity_team ot1",
			"    position position_id: position p-bob is held by employee bob, not ann",
			"    parent opportunity_id: opportunity deal is not visible (explained above)",
			"      opportunity deal: explained above",
			"  opportunity_team ot2",
			"    position position_id: position p-vacant is held by no employee",
			"    parent opportunity_id: opportunity deal is not visible (explained above)",
			"      opportunity deal: explained above"}},
		{"ann", "activity", "call", []string{
			"owner owner_id: owner_id is employee bob, not ann",
			"parent opportunity_id: the row has no opportunity_id",
			"parent account_id: the row has no account_id"}},
		{"ann", "attachment", "doc", []string{
			"broadcast mode: mode is published, not broadcast",
			"parent opportunity_id: opportunity deal is not visible",
			"  opportunity deal",
			"    referenced_by opportunity_team.opportunity_id: 2 opportunity_team rows refer to it, none visible",
			"      opportunity_team ot1",
			"        position position_id: position p-bob is held by employee bob, not ann",
			"        parent opportunity_id: opportunity deal is not visible (explained above)",
			"          opportunity deal: explained above",
			"      opportunity_team ot2",
			"        position position_id: position p-vacant is held by no employee",
			"        parent opportunity_id: opportunity deal is not visible (explained above)",
			"          opportunity deal: explained above"}},
	} {
		ex := explain(t, st, c.emp, c.table, c.id)
		if c.want == nil {
			if !ex.Visible {
				t.Errorf("%s does not see %s %s: %s", c.emp, c.table, c.id, ex.Text)
			}
			continue
		}
		got := lacked(ex.Tried, "")
		if ex.Visible || strings.Join(got, "\n") != strings.Join(c.want, "\n") || len(ex.Chain) != 0 {
			t.Errorf("%s, %s %s:\n got %s\nwant %s", c.emp, c.table, c.id, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
	ex := explain(t, st, "ann", "activity", "call")
	if want := "activity call is not visible to employee ann: owner owner_id: owner_id is employee bob, not ann; " +
		"parent opportunity_id: the row has no opportunity_id; parent account_id: the row has no account_id"; ex.Text != want {
		t.Errorf("the one-line text:\n got %s\nwant %s", ex.Text, want)
	}
	// Many referencing rows: the first WhyFanout are explained.
	for i := range visibility.WhyFanout + 2 {
		p := fmt.Sprintf("q%d", i)
		apply(t, st, ins("position", map[string]any{"id": p, "employee_id": "bob"}),
			ins("opportunity_team", map[string]any{"id": "t-" + p, "opportunity_id": "lone", "position_id": p}))
	}
	ex = explain(t, st, "ann", "opportunity", "lone")
	want := fmt.Sprintf("referenced_by opportunity_team.opportunity_id: %d opportunity_team rows refer to it, none visible (the first %d explained, and 2 more)",
		visibility.WhyFanout+2, visibility.WhyFanout)
	if len(ex.Tried) != 1 || ex.Tried[0].Lacked != want || len(ex.Tried[0].Rows) != visibility.WhyFanout || ex.Tried[0].More != 2 {
		t.Errorf("many team rows: %+v", ex.Tried)
	}
	// Not found: the table, the row.
	ctx := context.Background()
	if _, err := visibility.Explain(ctx, st, st.Schema(), "ann", "ghost", "x"); !errors.Is(err, fieldsync.ErrNotFound) || err.Error() != `unknown table "ghost"` {
		t.Errorf("unknown table: %v", err)
	}
	if _, err := visibility.Explain(ctx, st, st.Schema(), "ann", "account", "nope"); !errors.Is(err, fieldsync.ErrNotFound) || err.Error() != `table account has no row "nope"` {
		t.Errorf("missing row: %v", err)
	}
}

// whyYAML: items seen by their owner, through their parent item and
// through their child items and their secrets; secrets are private; tags
// hang off a secret or an item.
const whyYAML = `  item:
    columns: {up_id: {type: text, references: item}, owner_id: {type: text, references: employee}}
    visibility: [{owner: owner_id}, {parent: up_id}, {referenced_by: item.up_id}, {referenced_by: secret.item_id}]
  secret:
    columns: {item_id: {type: text, references: item}}
    visibility: private
  tag:
    columns: {secret_id: {type: text, references: secret}, item_id: {type: text, references: item}}
    visibility: [{parent: secret_id}, {parent: item_id}]
`

// TestExplainLimits: private tables, a chain longer than the explanation's
// depth, a cycle, and a tree larger than its row limit.
func TestExplainLimits(t *testing.T) { testutil.ForBackends(t, testExplainLimits) }

func testExplainLimits(t *testing.T, b testutil.Backend) {
	s, err := schema.Parse("why.yaml", []byte(testutil.PeopleYAML+whyYAML))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := b.Open(t, s)
	apply(t, st, ins("employee", map[string]any{"id": "ann"}), ins("employee", map[string]any{"id": "bob"}),
		ins("item", map[string]any{"id": "i0", "owner_id": "ann"}))
	n := visibility.WhyDepth + 4
	for i := 1; i <= n; i++ {
		apply(t, st, ins("item", map[string]any{"id": fmt.Sprintf("i%d", i), "up_id": fmt.Sprintf("i%d", i-1)}))
	}
	apply(t, st, ins("secret", map[string]any{"id": "s1", "item_id": "i0"}),
		ins("tag", map[string]any{"id": "g1", "secret_id": "s1"}))

	// The verdict is never cut: the chain runs past the explanation's depth.
	last := fmt.Sprintf("i%d", n)
	if ex := explain(t, st, "ann", "item", last); len(ex.Chain) != n+1 || ex.Chain[n].Detail != "owner_id is employee ann" {
		t.Fatalf("a long chain: %+v", ex)
	}
	// The rules tried are: the explanation stops WhyDepth rows down.
	ex := explain(t, st, "bob", "item", last)
	depth, u := 0, visibility.Unseen{Tried: ex.Tried}
	for len(u.Tried) > 1 && len(u.Tried[1].Rows) == 1 { // rule 1: parent up_id
		u = u.Tried[1].Rows[0]
		depth++
	}
	if depth != visibility.WhyDepth+1 || !strings.HasPrefix(u.Note, "not explained further") {
		t.Errorf("the explanation of %s went %d rows deep, ending with %+v", last, depth, u)
	}
	// Private: the table's rows, and rows seen only through them.
	if ex := explain(t, st, "ann", "secret", "s1"); ex.Visible || ex.Note != "table secret is private: its rows are visible to no node" || len(ex.Tried) != 0 {
		t.Errorf("a private row: %+v", ex)
	}
	got := strings.Join(lacked(explain(t, st, "bob", "tag", "g1").Tried, ""), "\n")
	if !strings.HasPrefix(got, "parent secret_id: secret s1 is in the private table secret, visible to no node\nparent item_id: the row has no item_id") {
		t.Errorf("a tag of a secret:\n%s", got)
	}
	got = strings.Join(lacked(explain(t, st, "bob", "item", "i0").Tried, ""), "\n")
	if !strings.Contains(got, "\nreferenced_by secret.item_id: 1 secret row refers to it, but secret is private: its rows are visible to no node") {
		t.Errorf("an item of a secret:\n%s", got)
	}
	// A cycle with no seed.
	apply(t, st, ins("item", map[string]any{"id": "c1"}), ins("item", map[string]any{"id": "c2", "up_id": "c1"}),
		upd("item", "c1", map[string]any{"up_id": "c2"}))
	got = strings.Join(lacked(explain(t, st, "ann", "item", "c1").Tried, ""), "\n")
	if !strings.Contains(got, "parent up_id: item c2 is not visible\n  item c2\n") || !strings.Contains(got, "item c1: explained above") {
		t.Errorf("a cycle:\n%s", got)
	}
	// A tree wider than the row limit: WhyRows rows are explained, no more.
	var changes []fieldsync.Change
	for i := range visibility.WhyFanout {
		changes = append(changes, ins("item", map[string]any{"id": fmt.Sprintf("r%d", i), "up_id": "c1"}))
		for j := range visibility.WhyFanout {
			changes = append(changes, ins("item", map[string]any{"id": fmt.Sprintf("r%d-%d", i, j), "up_id": fmt.Sprintf("r%d", i)}))
			for k := range visibility.WhyFanout {
				changes = append(changes, ins("item", map[string]any{"id": fmt.Sprintf("r%d-%d-%d", i, j, k), "up_id": fmt.Sprintf("r%d-%d", i, j)}))
			}
		}
	}
	apply(t, st, changes...)
	ex = explain(t, st, "ann", "item", "c1")
	explained, cut := countRows(ex.Tried)
	if explained != visibility.WhyRows-1 || cut == 0 {
		t.Errorf("a wide tree: %d rows explained below the row, %d cut at the limit", explained, cut)
	}
}

// countRows counts the rows explained below a list of rules tried, and
// those left unexplained for the explanation's row limit.
func countRows(tried []visibility.Tried) (explained, cut int) {
	for _, tr := range tried {
		for _, u := range tr.Rows {
			if len(u.Tried) > 0 {
				explained++
			}
			if strings.HasPrefix(u.Note, "not explained:") {
				cut++
			}
			e, c := countRows(u.Tried)
			explained, cut = explained+e, cut+c
		}
	}
	return explained, cut
}

// TestExplainRandomized: on random CRM data, Explain's verdict for every
// employee and row is the reference's and Sees's; every chain is a real
// path to a seed, and every row not visible lists each of its rules.
func TestExplainRandomized(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		for _, seed := range testutil.Seeds(t, *seedFlag, *seedsFlag) {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				t.Logf("replay with: go test ./visibility -run TestExplainRandomized/%s -seed %d", b.Name, seed)
				randomExplain(t, b, seed)
			})
		}
	})
}

func randomExplain(t *testing.T, b testutil.Backend, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	st, _ := b.Open(t, schema.Default())
	ctx := context.Background()
	emps := []string{"e0", "e1", "e2"}
	for _, e := range emps {
		apply(t, st, ins("employee", map[string]any{"id": e, "name": e, "login": e}))
	}
	ids := map[string][]string{"employee": emps}
	pick := func(table string) any {
		if l := ids[table]; len(l) > 0 && rng.IntN(6) > 0 {
			return l[rng.IntN(len(l))]
		}
		return nil
	}
	for step := range 160 {
		id := fmt.Sprintf("x%d", step)
		tables := []string{"position", "account", "account_team", "contact", "opportunity", "opportunity_team", "activity", "attachment"}
		table := tables[rng.IntN(len(tables))]
		vals := map[string]any{"id": id}
		switch table {
		case "position":
			vals["employee_id"] = pick("employee")
		case "account":
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
			vals["opportunity_id"], vals["account_id"], vals["owner_id"] = pick("opportunity"), pick("account"), pick("employee")
		case "attachment":
			vals["opportunity_id"], vals["mode"] = pick("opportunity"), []string{"published", "requested", "broadcast"}[rng.IntN(3)]
		}
		if _, err := st.Apply(ctx, "", ins(table, vals)); err != nil {
			if errors.Is(err, fieldsync.ErrInvalid) || errors.Is(err, fieldsync.ErrExists) {
				continue // a required column left null, a unique pair taken
			}
			t.Fatalf("seed %d step %d: %v", seed, step, err)
		}
		ids[table] = append(ids[table], id)
		if table == "position" && rng.IntN(3) == 0 && len(ids["position"]) > 1 { // positions change hands
			p := ids["position"][rng.IntN(len(ids["position"]))]
			apply(t, st, upd("position", p, map[string]any{"employee_id": pick("employee")}))
		}
	}
	counts := map[bool]int{}
	for _, e := range append(emps, "nobody") {
		ref, err := visibility.Reference(ctx, st, st.Schema(), e)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{}
		for _, k := range flatten(ref) {
			want[k] = true
		}
		for _, tb := range st.Schema().Tables {
			err := fieldsync.Each(ctx, st, tb.Name, fieldsync.Query{}, func(r fieldsync.Row) error {
				ex := explain(t, st, e, tb.Name, r.ID())
				if ex.Visible != want[tb.Name+"/"+r.ID()] {
					t.Fatalf("seed %d: %s %s to %s: visible %v, the reference says %v", seed, tb.Name, r.ID(), e, ex.Visible, !ex.Visible)
				}
				checkExplanation(t, st, ex)
				counts[ex.Visible]++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d answers visible, %d not", counts[true], counts[false])
	if counts[true] == 0 || counts[false] == 0 {
		t.Fatalf("seed %d: the random data gave only one verdict: %v", seed, counts)
	}
}

// checkExplanation checks an explanation against the database: each step
// of a chain leads to the next through its rule, the last one holds by
// itself; a row not visible lists every rule of its table.
func checkExplanation(t *testing.T, st *sqlstore.Store, ex visibility.Explanation) {
	t.Helper()
	ctx := context.Background()
	s := st.Schema()
	tb := s.Table(ex.Table)
	if !ex.Visible {
		n := len(tb.Rules)
		if tb.Broadcasts() {
			n++
		}
		if len(ex.Tried) != n || ex.Text == "" {
			t.Fatalf("%s %s to %s: %d rules tried, the table has %d: %+v", ex.Table, ex.ID, ex.Employee, len(ex.Tried), n, ex)
		}
		return
	}
	if ex.Chain[0].Table != ex.Table || ex.Chain[0].ID != ex.ID {
		t.Fatalf("a chain starts at %s %s, not at the row: %+v", ex.Chain[0].Table, ex.Chain[0].ID, ex)
	}
	row := func(table, id string) fieldsync.Row {
		r, err := st.Get(ctx, table, id)
		if err != nil {
			t.Fatalf("a chain names %s %s: %v", table, id, err)
		}
		return r
	}
	for i, step := range ex.Chain {
		tbl := s.Table(step.Table)
		r := row(step.Table, step.ID)
		var rule *fieldsync.Rule
		for j := range tbl.Rules {
			if tbl.Rules[j].String() == step.Rule {
				rule = &tbl.Rules[j]
			}
		}
		ok := false
		switch {
		case step.Kind == visibility.KindBroadcast:
			ok = i == len(ex.Chain)-1 && tbl.Broadcast(r)
		case rule == nil:
		case i < len(ex.Chain)-1:
			next := ex.Chain[i+1]
			switch rule.Kind {
			case fieldsync.RuleParent:
				ok = next.Table == tbl.Column(rule.Column).References && r[rule.Column] == next.ID
			case fieldsync.RuleReferencedBy:
				ok = next.Table == rule.Table && row(next.Table, next.ID)[rule.Column] == step.ID
			}
		default:
			switch rule.Kind {
			case fieldsync.RuleAll:
				ok = true
			case fieldsync.RuleOwner:
				ok = r[rule.Column] == ex.Employee
			case fieldsync.RulePosition:
				p, _ := r[rule.Column].(string)
				ok = p != "" && row(s.Nodes.PositionTable, p)[s.Nodes.PositionEmployee] == ex.Employee
			}
		}
		if !ok {
			t.Fatalf("step %d of the chain of %s %s to %s does not hold: %+v", i, ex.Table, ex.ID, ex.Employee, ex.Chain)
		}
	}
}
