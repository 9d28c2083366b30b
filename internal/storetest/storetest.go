// Package storetest is the behaviour every server database must have: one
// suite of tests, run by each database's package against a real database
// (sqlite on a file in a temporary directory, postgres on a real server).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/schema"
)

// Opener opens a fresh, empty store for the schema. Opening the same
// location again must reach the same data (reopen returns a second opener
// bound to it).
type Opener func(t *testing.T, s *fieldsync.Schema) (st fieldsync.Store, reopen func(s *fieldsync.Schema) (fieldsync.Store, error))

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"InsertLogsAllColumns", testInsert},
		{"UpdateLogsChangedColumnsWithPrevious", testUpdate},
		{"DeleteCascadesAndLogsChildrenFirst", testDeleteCascade},
		{"DeleteRestrictRefusesAndChangesNothing", testDeleteRestrict},
		{"DeleteSetNull", testDeleteSetNull},
		{"FailedBatchLeavesNoRowNoLogEntry", testFailedBatch},
		{"BadInput", testBadInput},
		{"UniqueKey", testUnique},
		{"ConcurrentWritersGapFreeLog", testConcurrent},
		{"ListFiltersAndPaging", testList},
		{"Nodes", testNodes},
		{"Tokens", testTokens},
		{"ReadAndTrimLog", testReadTrimLog},
		{"ReopenAndUpgrade", testReopen},
		{"ProcessorLockIsExclusive", testProcessorLock},
		{"SessionsLatestAndPruned", testSessions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// apply applies changes that must succeed.
func apply(t *testing.T, st fieldsync.Store, changes ...fieldsync.Change) []fieldsync.Txn {
	t.Helper()
	txns, err := st.Apply(context.Background(), "", changes...)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return txns
}

// wholeLog reads every entry of the Transaction Log.
func wholeLog(t *testing.T, st fieldsync.Store) []fieldsync.Txn {
	t.Helper()
	txns, err := st.ReadLog(context.Background(), 0, 1_000_000)
	if err != nil {
		t.Fatalf("read log: %v", err)
	}
	return txns
}

// seed creates an employee, a position, an account and an opportunity.
func seed(t *testing.T, st fieldsync.Store) {
	t.Helper()
	apply(t, st,
		ins("employee", map[string]any{"id": "e1", "name": "Ann", "login": "ann"}),
		ins("position", map[string]any{"id": "p1", "name": "Sales", "employee_id": "e1"}),
		ins("account", map[string]any{"id": "a1", "name": "Acme", "industry": "tools"}),
		ins("campaign", map[string]any{"id": "c1", "name": "Spring", "channel": "web", "starts_on": "2026-03-01"}),
		ins("opportunity", map[string]any{"id": "o1", "name": "Big deal", "account_id": "a1", "campaign_id": "c1",
			"stage": "new", "revenue": "5000.5", "close_date": "2026-12-01T10:00:00+01:00"}),
	)
}

func testInsert(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	ctx := context.Background()
	apply(t, st, ins("employee", map[string]any{"id": "e1", "name": "Ann", "login": "ann"}))
	apply(t, st, ins("account", map[string]any{"id": "a1", "name": "Acme"}))
	txns := apply(t, st, ins("opportunity", map[string]any{"name": "Deal", "account_id": "a1", "revenue": 12, "close_date": "2026-12-01"}))
	if len(txns) != 1 {
		t.Fatalf("got %d txns, want 1", len(txns))
	}
	tx := txns[0]
	if tx.Seq != 3 || tx.Op != fieldsync.OpInsert || tx.Table != "opportunity" || tx.Origin != "" || tx.Prev != nil {
		t.Fatalf("unexpected txn %+v", tx)
	}
	id := tx.RowID
	if !fieldsync.ValidID(id) || len(id) != 26 {
		t.Fatalf("minted id %q", id)
	}
	want := fieldsync.Row{"id": id, "name": "Deal", "account_id": "a1", "campaign_id": nil, "stage": nil,
		"revenue": 12.0, "close_date": "2026-12-01T00:00:00Z"}
	assertRow(t, tx.Values, want)
	got, err := st.Get(ctx, "opportunity", id)
	if err != nil {
		t.Fatal(err)
	}
	assertRow(t, got, want)
	log := wholeLog(t, st)
	if len(log) != 3 || log[2].Seq != 3 {
		t.Fatalf("log has %d entries", len(log))
	}
	assertRow(t, log[2].Values, want)
	if log[2].Time.IsZero() || time.Since(log[2].Time) > time.Minute {
		t.Fatalf("log time %v", log[2].Time)
	}
}

func testUpdate(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	seed(t, st)
	txns := apply(t, st, upd("opportunity", "o1", map[string]any{"stage": "won", "name": "Big deal", "revenue": 7000}))
	if len(txns) != 1 {
		t.Fatalf("got %d txns", len(txns))
	}
	assertRow(t, txns[0].Values, fieldsync.Row{"stage": "won", "revenue": 7000.0})
	assertRow(t, txns[0].Prev, fieldsync.Row{"stage": "new", "revenue": 5000.5})
	if txns[0].Op != fieldsync.OpUpdate || txns[0].RowID != "o1" {
		t.Fatalf("txn %+v", txns[0])
	}
	// An update that changes nothing logs nothing.
	before := len(wholeLog(t, st))
	if txns := apply(t, st, upd("opportunity", "o1", map[string]any{"stage": "won"})); len(txns) != 0 {
		t.Fatalf("no-op update logged %d txns", len(txns))
	}
	if n := len(wholeLog(t, st)); n != before {
		t.Fatalf("log grew from %d to %d on a no-op", before, n)
	}
	// Setting a column to null records the old value.
	txns = apply(t, st, upd("opportunity", "o1", map[string]any{"campaign_id": nil}))
	assertRow(t, txns[0].Values, fieldsync.Row{"campaign_id": nil})
	assertRow(t, txns[0].Prev, fieldsync.Row{"campaign_id": "c1"})
	log := wholeLog(t, st)
	assertRow(t, log[len(log)-1].Prev, fieldsync.Row{"campaign_id": "c1"})
}

func testDeleteCascade(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	seed(t, st)
	apply(t, st,
		ins("account", map[string]any{"id": "a2", "name": "Beta"}),
		ins("contact", map[string]any{"id": "k1", "account_id": "a2", "first_name": "Bo"}),
		ins("contact", map[string]any{"id": "k2", "account_id": "a2", "first_name": "Cy"}),
		ins("account_team", map[string]any{"id": "t1", "account_id": "a2", "position_id": "p1"}),
	)
	txns := apply(t, st, del("account", "a2"))
	var got []string
	for _, tx := range txns {
		if tx.Op != fieldsync.OpDelete {
			t.Fatalf("cascade logged %s", tx.Op)
		}
		got = append(got, tx.Table+"/"+tx.RowID)
	}
	want := []string{"account_team/t1", "contact/k1", "contact/k2", "account/a2"}
	sort.Strings(got[:3])
	sort.Strings(want[:3])
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("cascade deleted %v, want %v (children first)", got, want)
	}
	last := txns[len(txns)-1]
	assertRow(t, last.Prev, fieldsync.Row{"id": "a2", "name": "Beta", "industry": nil})
	for _, id := range []string{"k1", "k2"} {
		if _, err := st.Get(context.Background(), "contact", id); !errors.Is(err, fieldsync.ErrNotFound) {
			t.Fatalf("contact %s still there: %v", id, err)
		}
	}
}

func testDeleteRestrict(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	seed(t, st)
	apply(t, st, ins("contact", map[string]any{"id": "k1", "account_id": "a1"}))
	before := wholeLog(t, st)
	_, err := st.Apply(context.Background(), "", del("account", "a1"))
	if !errors.Is(err, fieldsync.ErrInUse) {
		t.Fatalf("delete of a referenced account: %v, want ErrInUse", err)
	}
	if want := `account "a1" is still referenced by opportunity "o1" (opportunity.account_id)`; !contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	// The cascade to the contact must have been rolled back with it.
	if _, err := st.Get(context.Background(), "contact", "k1"); err != nil {
		t.Fatalf("contact lost after a refused delete: %v", err)
	}
	if after := wholeLog(t, st); len(after) != len(before) {
		t.Fatalf("refused delete left %d log entries", len(after)-len(before))
	}
}

func testDeleteSetNull(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	seed(t, st)
	txns := apply(t, st, del("campaign", "c1"))
	if len(txns) != 2 || txns[0].Op != fieldsync.OpUpdate || txns[0].Table != "opportunity" || txns[1].Op != fieldsync.OpDelete {
		t.Fatalf("set_null cascade logged %+v", txns)
	}
	assertRow(t, txns[0].Values, fieldsync.Row{"campaign_id": nil})
	assertRow(t, txns[0].Prev, fieldsync.Row{"campaign_id": "c1"})
	if txns[1].Seq != txns[0].Seq+1 {
		t.Fatalf("sequence not consecutive: %d then %d", txns[0].Seq, txns[1].Seq)
	}
	row, _ := st.Get(context.Background(), "opportunity", "o1")
	if row["campaign_id"] != nil {
		t.Fatalf("campaign_id = %v after its campaign was deleted", row["campaign_id"])
	}
}

func testFailedBatch(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	seed(t, st)
	ctx := context.Background()
	before := wholeLog(t, st)
	_, err := st.Apply(ctx, "",
		ins("account", map[string]any{"id": "a9", "name": "Gamma"}),
		upd("opportunity", "o1", map[string]any{"stage": "lost"}),
		ins("contact", map[string]any{"id": "k9", "account_id": "nope"}),
	)
	if !errors.Is(err, fieldsync.ErrInvalid) || !contains(err.Error(), `change 3 of 3: contact.account_id: no account with id "nope"`) {
		t.Fatalf("dangling reference: %v", err)
	}
	if _, err := st.Get(ctx, "account", "a9"); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("account of a failed batch was kept: %v", err)
	}
	if row, _ := st.Get(ctx, "opportunity", "o1"); row["stage"] != "new" {
		t.Fatalf("update of a failed batch was kept: stage %v", row["stage"])
	}
	if after := wholeLog(t, st); len(after) != len(before) {
		t.Fatalf("failed batch logged %d entries", len(after)-len(before))
	}
	// The failed batch consumed no sequence numbers: the log stays gap-free.
	txns := apply(t, st, ins("account", map[string]any{"name": "Delta"}))
	if txns[0].Seq != before[len(before)-1].Seq+1 {
		t.Fatalf("next seq %d after %d: a gap", txns[0].Seq, before[len(before)-1].Seq)
	}
}

func testBadInput(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	seed(t, st)
	cases := []struct {
		name   string
		change fieldsync.Change
		kind   error
		msg    string
	}{
		{"unknown table", ins("opportunityy", map[string]any{"name": "x"}), fieldsync.ErrNotFound, `unknown table "opportunityy"`},
		{"unknown column", ins("opportunity", map[string]any{"name": "x", "colour": "red"}), fieldsync.ErrInvalid, `table opportunity has no column "colour"`},
		{"wrong type real", ins("opportunity", map[string]any{"name": "x", "revenue": "lots"}), fieldsync.ErrInvalid, `column revenue expects real, got "lots"`},
		{"wrong type text", ins("opportunity", map[string]any{"name": 12}), fieldsync.ErrInvalid, `column name expects text, got number 12`},
		{"bad timestamp", ins("opportunity", map[string]any{"name": "x", "close_date": "next week"}), fieldsync.ErrInvalid, `column close_date expects timestamp`},
		{"required missing", ins("opportunity", map[string]any{"stage": "new"}), fieldsync.ErrInvalid, `column name is required`},
		{"required null", upd("opportunity", "o1", map[string]any{"name": nil}), fieldsync.ErrInvalid, `column name is required`},
		{"dangling fk", ins("opportunity", map[string]any{"name": "x", "account_id": "zz"}), fieldsync.ErrInvalid, `opportunity.account_id: no account with id "zz"`},
		{"dangling fk update", upd("opportunity", "o1", map[string]any{"campaign_id": "zz"}), fieldsync.ErrInvalid, `opportunity.campaign_id: no campaign with id "zz"`},
		{"bad id", ins("account", map[string]any{"id": "a b", "name": "x"}), fieldsync.ErrInvalid, `column id expects a row id`},
		{"duplicate id", ins("account", map[string]any{"id": "a1", "name": "x"}), fieldsync.ErrExists, `account: a row with id "a1" already exists`},
		{"update unknown row", upd("account", "zz", map[string]any{"name": "x"}), fieldsync.ErrNotFound, `account: no row with id "zz"`},
		{"delete unknown row", del("account", "zz"), fieldsync.ErrNotFound, `account: no row with id "zz"`},
		{"change id", upd("account", "a1", map[string]any{"id": "a7"}), fieldsync.ErrInvalid, `a row's id cannot change`},
		{"unknown op", fieldsync.Change{Op: "upsert", Table: "account"}, fieldsync.ErrInvalid, `unknown operation "upsert"`},
	}
	before := len(wholeLog(t, st))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := st.Apply(context.Background(), "", tc.change)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %v, want kind %v", err, tc.kind)
			}
			if !contains(err.Error(), tc.msg) {
				t.Fatalf("error %q does not say %q", err, tc.msg)
			}
		})
	}
	if after := len(wholeLog(t, st)); after != before {
		t.Fatalf("refused changes logged %d entries", after-before)
	}
}

func testUnique(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	seed(t, st)
	ctx := context.Background()
	_, err := st.Apply(ctx, "", ins("employee", map[string]any{"name": "Another Ann", "login": "ann"}))
	if !errors.Is(err, fieldsync.ErrExists) || !contains(err.Error(), `employee: login=ann is already used by row "e1"`) {
		t.Fatalf("unique clash: %v", err)
	}
	apply(t, st, ins("employee", map[string]any{"id": "e2", "name": "Bob", "login": "bob"}))
	if _, err := st.Apply(ctx, "", upd("employee", "e2", map[string]any{"login": "ann"})); !errors.Is(err, fieldsync.ErrExists) {
		t.Fatalf("unique clash on update: %v", err)
	}
	// A row keeps its own key.
	apply(t, st, upd("employee", "e2", map[string]any{"login": "bob", "name": "Bobby"}))
	// Team rows: one row per pair.
	apply(t, st, ins("opportunity_team", map[string]any{"opportunity_id": "o1", "position_id": "p1"}))
	if _, err := st.Apply(ctx, "", ins("opportunity_team", map[string]any{"opportunity_id": "o1", "position_id": "p1"})); !errors.Is(err, fieldsync.ErrExists) {
		t.Fatalf("duplicate team row: %v", err)
	}
}

func testConcurrent(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	const writers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_, err := st.Apply(context.Background(), "", ins("account", map[string]any{"name": fmt.Sprintf("w%d-%d", w, i)}))
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	log := wholeLog(t, st)
	if len(log) != writers*each {
		t.Fatalf("log has %d entries, want %d", len(log), writers*each)
	}
	for i, tx := range log {
		if tx.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d: the log has a gap", i, tx.Seq)
		}
	}
}

func testList(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	ctx := context.Background()
	var changes []fieldsync.Change
	for i := 0; i < 25; i++ {
		industry := "tools"
		if i%3 == 0 {
			industry = "food"
		}
		changes = append(changes, ins("account", map[string]any{"id": fmt.Sprintf("acc%02d", i), "name": fmt.Sprint(i), "industry": industry}))
	}
	changes = append(changes, ins("account", map[string]any{"id": "nul", "name": "no industry"}))
	apply(t, st, changes...)
	var seen []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		p, err := st.List(ctx, "account", fieldsync.Query{After: after, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Rows {
			seen = append(seen, r.ID())
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	if len(seen) != 26 || !sort.StringsAreSorted(seen) {
		t.Fatalf("paged through %d rows (sorted %v): %v", len(seen), sort.StringsAreSorted(seen), seen)
	}
	p, err := st.List(ctx, "account", fieldsync.Query{Where: map[string]any{"industry": "food"}})
	if err != nil || len(p.Rows) != 9 {
		t.Fatalf("filter industry=food: %d rows, %v", len(p.Rows), err)
	}
	p, err = st.List(ctx, "account", fieldsync.Query{Where: map[string]any{"industry": nil}})
	if err != nil || len(p.Rows) != 1 || p.Rows[0].ID() != "nul" {
		t.Fatalf("filter industry IS NULL: %v, %v", p.Rows, err)
	}
	if _, err := st.List(ctx, "account", fieldsync.Query{Where: map[string]any{"colour": "red"}}); !errors.Is(err, fieldsync.ErrInvalid) {
		t.Fatalf("filter on unknown column: %v", err)
	}
	if _, err := st.List(ctx, "nope", fieldsync.Query{}); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("list unknown table: %v", err)
	}
}

func testNodes(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	seed(t, st)
	ctx := context.Background()
	hash := fieldsync.HashSecret("s3cret")
	n, err := st.AddNode(ctx, fieldsync.Node{Name: "laptop-ann", EmployeeID: "e1"}, hash)
	if err != nil || !n.Active || n.Created.IsZero() {
		t.Fatalf("add node: %+v, %v", n, err)
	}
	if _, err := st.AddNode(ctx, fieldsync.Node{Name: "laptop-ann", EmployeeID: "e1"}, hash); !errors.Is(err, fieldsync.ErrExists) {
		t.Fatalf("duplicate node: %v", err)
	}
	if _, err := st.AddNode(ctx, fieldsync.Node{Name: "other", EmployeeID: "nobody"}, hash); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("node for unknown employee: %v", err)
	}
	if _, err := st.AddNode(ctx, fieldsync.Node{Name: "Bad Name", EmployeeID: "e1"}, hash); !errors.Is(err, fieldsync.ErrInvalid) {
		t.Fatalf("bad node name: %v", err)
	}
	got, h, err := st.Node(ctx, "laptop-ann")
	if err != nil || !fieldsync.SecretMatches("s3cret", h) || fieldsync.SecretMatches("other", h) || got.EmployeeID != "e1" {
		t.Fatalf("node: %+v, %v", got, err)
	}
	if _, _, err := st.Node(ctx, "ghost"); !errors.Is(err, fieldsync.ErrNodeUnknown) {
		t.Fatalf("unknown node: %v", err)
	}
	if _, err := st.Apply(ctx, "", del("employee", "e1")); !errors.Is(err, fieldsync.ErrInUse) || !contains(err.Error(), `has the active node "laptop-ann"`) {
		t.Fatalf("deleting an employee with an active node: %v", err)
	}
	d, err := st.DeactivateNode(ctx, "laptop-ann")
	if err != nil || d.Active || d.Deactivated.IsZero() {
		t.Fatalf("deactivate: %+v, %v", d, err)
	}
	if _, err := st.DeactivateNode(ctx, "ghost"); !errors.Is(err, fieldsync.ErrNodeUnknown) {
		t.Fatalf("deactivate unknown: %v", err)
	}
	nodes, err := st.ListNodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Active {
		t.Fatalf("list nodes: %+v, %v", nodes, err)
	}
}

func testTokens(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	ctx := context.Background()
	tok := fieldsync.NewSecret()
	if err := st.AddToken(ctx, fieldsync.RoleAdmin, fieldsync.HashSecret(tok)); err != nil {
		t.Fatal(err)
	}
	if err := st.AddToken(ctx, fieldsync.RoleAdmin, fieldsync.HashSecret(tok)); err != nil {
		t.Fatalf("adding a token twice: %v", err)
	}
	if role, err := st.TokenRole(ctx, fieldsync.HashSecret(tok)); err != nil || role != fieldsync.RoleAdmin {
		t.Fatalf("token role %q, %v", role, err)
	}
	if _, err := st.TokenRole(ctx, fieldsync.HashSecret("wrong")); !errors.Is(err, fieldsync.ErrUnauthorized) {
		t.Fatalf("wrong token: %v", err)
	}
}

func testReadTrimLog(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	seed(t, st)
	ctx := context.Background()
	part, err := st.ReadLog(ctx, 2, 2)
	if err != nil || len(part) != 2 || part[0].Seq != 3 || part[1].Seq != 4 {
		t.Fatalf("read log after 2: %+v, %v", part, err)
	}
	if err := st.TrimLog(ctx, 3); err != nil {
		t.Fatal(err)
	}
	rest := wholeLog(t, st)
	if len(rest) != 2 || rest[0].Seq != 4 {
		t.Fatalf("after trim: %+v", rest)
	}
	s, err := st.LogState(ctx)
	if err != nil || s.Pending != 2 || s.LastSeq != 5 || s.Trimmed != 3 {
		t.Fatalf("log state %+v, %v", s, err)
	}
	if err := st.TrimLog(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.LogState(ctx); s.Trimmed != 3 {
		t.Fatalf("trimming backwards moved the trimmed mark to %d", s.Trimmed)
	}
	// Sequence numbers keep counting after a trim.
	txns := apply(t, st, ins("account", map[string]any{"name": "after trim"}))
	if txns[0].Seq != 6 {
		t.Fatalf("seq after trim %d", txns[0].Seq)
	}
}

func testReopen(t *testing.T, open Opener) {
	s := schema.Default()
	st, reopen := open(t, s)
	seed(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2, err := reopen(schema.Default())
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	row, err := st2.Get(context.Background(), "opportunity", "o1")
	if err != nil || row["revenue"] != 5000.5 {
		t.Fatalf("after reopen: %v, %v", row, err)
	}
	txns := apply(t, st2, ins("account", map[string]any{"name": "next"}))
	if txns[0].Seq != 6 {
		t.Fatalf("seq after reopen %d, want 6", txns[0].Seq)
	}
	st2.Close()

	// A schema that gains a column upgrades the database in place.
	grown := schema.Default()
	grown.Table("account").Columns = append(grown.Table("account").Columns, &fieldsync.Column{Name: "rating", Type: fieldsync.TypeInteger})
	grown.Tables = append(grown.Tables, &fieldsync.Table{Name: "region", Rules: []fieldsync.Rule{{Kind: fieldsync.RuleAll}},
		Columns: []*fieldsync.Column{{Name: "id", Type: fieldsync.TypeText, Required: true},
			{Name: "name", Type: fieldsync.TypeText, Required: true}, {Name: "code", Type: fieldsync.TypeInteger}}})
	grown, err = fieldsync.NewSchema("grown.yaml", grown.Nodes, grown.Tables)
	if err != nil {
		t.Fatal(err)
	}
	st3, err := reopen(grown)
	if err != nil {
		t.Fatalf("open with a grown schema: %v", err)
	}
	apply(t, st3, ins("region", map[string]any{"name": "North", "code": 1}), upd("account", "a1", map[string]any{"rating": 5}))
	if row, _ := st3.Get(context.Background(), "account", "a1"); row["rating"] != int64(5) || row["name"] != "Acme" {
		t.Fatalf("account after upgrade: %v", row)
	}
	st3.Close()

	// A schema that drops a unique key stops enforcing it.
	loose := schema.Default()
	loose.Table("employee").Unique = nil
	st4, err := reopen(loose)
	if err != nil {
		t.Fatalf("open without the unique key: %v", err)
	}
	apply(t, st4, ins("employee", map[string]any{"id": "e9", "name": "Another Ann", "login": "ann"}))
	apply(t, st4, del("employee", "e9"))
	st4.Close()

	// A schema that changes a column's type is refused, naming the column.
	changed := schema.Default()
	changed.Table("opportunity").Column("revenue").Type = fieldsync.TypeText
	if _, err := reopen(changed); !errors.Is(err, fieldsync.ErrSchemaMismatch) || !contains(err.Error(), "opportunity.revenue") {
		t.Fatalf("type change: %v", err)
	}
}

func testProcessorLock(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	l, ok := st.(interface {
		LockProcessor(ctx context.Context) (func(), error)
	})
	if !ok {
		t.Fatal("store has no processor lock")
	}
	release, err := l.LockProcessor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A standby waits while the lock is held...
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if r2, err := l.LockProcessor(ctx); err == nil {
		r2()
		t.Fatal("two processors held the lock at once")
	}
	// ...and takes over once it is released.
	release()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	r3, err := l.LockProcessor(ctx2)
	if err != nil {
		t.Fatalf("standby did not take over: %v", err)
	}
	r3()
}

func assertRow(t *testing.T, got, want fieldsync.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("row %v, want %v", got, want)
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok || g != v {
			t.Fatalf("row[%s] = %#v (present %v), want %#v\nrow: %v", k, g, ok, v, got)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

var (
	ins = fieldsync.Insert
	upd = fieldsync.Update
	del = fieldsync.Delete
)

func testSessions(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	ctx := context.Background()
	day := func(d int) time.Time { return time.Date(2026, 1, d, 12, 0, 0, 0, time.UTC) }
	save := func(id, node string, started, ended time.Time) {
		t.Helper()
		if err := st.SaveSession(ctx, fieldsync.Session{ID: id, Node: node, Started: started, Ended: ended, Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	save("a1", "ann", day(1), day(1))
	save("a2", "ann", day(2), day(2))
	save("a3", "ann", day(10), time.Time{}) // still running
	save("b1", "bob", day(1), day(1))       // bob's latest, however old
	save("c1", "cem", day(3), day(3))
	save("c2", "cem", day(4), day(4))
	last, err := st.LastSessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(last) != 3 || last["ann"].ID != "a3" || last["bob"].ID != "b1" || last["cem"].ID != "c2" {
		t.Fatalf("latest sessions: %+v", last)
	}
	n, err := st.PruneSessions(ctx, day(5))
	if err != nil || n != 3 {
		t.Fatalf("pruned %d sessions (%v), want 3 (a1, a2, c1)", n, err)
	}
	for node, want := range map[string][]string{"ann": {"a3"}, "bob": {"b1"}, "cem": {"c2"}} {
		got, err := st.Sessions(ctx, node, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range got {
			ids = append(ids, s.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Errorf("%s's sessions after pruning: %v, want %v", node, ids, want)
		}
	}
}
