// Package storetest is the behaviour every server database must have: one
// suite of tests, run by each database's package against a real database
// (sqlite on a file in a temporary directory, postgres on a real server).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
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
		{"InsertTakesDeclaredDefaults", testInsertDefaults},
		{"UpdateLogsChangedColumnsWithPrevious", testUpdate},
		{"DeleteCascadesAndLogsChildrenFirst", testDeleteCascade},
		{"DeleteRestrictRefusesAndChangesNothing", testDeleteRestrict},
		{"DeleteSetNull", testDeleteSetNull},
		{"FailedBatchLeavesNoRowNoLogEntry", testFailedBatch},
		{"BadInput", testBadInput},
		{"UniqueKey", testUnique},
		{"ConcurrentWritersGapFreeLog", testConcurrent},
		{"ConcurrentWritersWithRefusals", testConcurrentRefusals},
		{"ListFiltersAndPaging", testList},
		{"Nodes", testNodes},
		{"Tokens", testTokens},
		{"ReadAndTrimLog", testReadTrimLog},
		{"ReopenAndUpgrade", testReopen},
		{"ProcessorLockIsExclusive", testProcessorLock},
		{"SessionsLatestAndPruned", testSessions},
		{"SnapshotLookup", testSnapshotLookup},
		{"SchemaVersions", testSchemaVersions},
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
		{"text not UTF-8", upd("account", "a1", map[string]any{"name": "Acme\xff"}), fieldsync.ErrInvalid,
			`account row "a1": column name: text is not valid UTF-8 (byte 0xff at byte 4)`},
		{"text with NUL", ins("account", map[string]any{"id": "a9", "name": "x", "industry": "re\x00tail"}), fieldsync.ErrInvalid,
			`account row "a9": column industry: text holds a NUL byte at byte 2`},
		{"row id not UTF-8", upd("account", "a\xff", map[string]any{"name": "x"}), fieldsync.ErrNotFound, `account: no row with id "a\xff"`},
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
