package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/schema"
)

// versioned is what a server store offers for schema versions.
type versioned interface {
	SchemaVersion() int64
	SchemaVersions(ctx context.Context) ([]fieldsync.SchemaVersion, error)
	SchemaAtSeq(ctx context.Context, seq int64) (*fieldsync.Schema, int64, error)
	PlanSchema(ctx context.Context, s *fieldsync.Schema) (*fieldsync.SchemaPlan, error)
	ApplySchema(ctx context.Context, s *fieldsync.Schema, by string) (*fieldsync.SchemaPlan, error)
}

// crmWith returns the built-in CRM schema's text with edits applied (old,
// new pairs), parsed as file name.
func crmWith(t *testing.T, name string, edits ...string) *fieldsync.Schema {
	t.Helper()
	y := string(schema.DefaultYAML())
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(y, edits[i]) {
			t.Fatalf("the CRM schema has no %q", edits[i])
		}
		y = strings.Replace(y, edits[i], edits[i+1], 1)
	}
	s, err := schema.Parse(name, []byte(y))
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return s
}

// The CRM schema grown by a column and a table, then with a column dropped.
const (
	accountCols  = "      name: {type: text, required: true}\n      industry: text\n"
	grownAccount = "      name: {type: text, required: true}\n      industry: text\n      rating: integer\n"
	droppedInd   = "      name: {type: text, required: true}\n      rating: integer\n"
	visitTable   = "  visit:\n    columns:\n      account_id: {type: text, references: account, on_delete: cascade}\n      note: text\n    visibility:\n      - parent: account_id\n\n  account_team:\n"
)

func testSchemaVersions(t *testing.T, open Opener) {
	ctx := context.Background()
	st0, reopen := open(t, schema.Default())
	st, ok := st0.(versioned)
	if !ok {
		t.Skip("the store keeps no schema versions")
	}
	if vs, err := st.SchemaVersions(ctx); err != nil || len(vs) != 1 || vs[0].Version != 1 || vs[0].Seq != 0 || st.SchemaVersion() != 1 {
		t.Fatalf("a new database's versions: %+v, %v (in force %d)", vs, err, st.SchemaVersion())
	}
	seed(t, st0)
	grown := crmWith(t, "grown.yaml", accountCols, grownAccount, "  account_team:\n", visitTable)
	plan, err := st.PlanSchema(ctx, grown)
	if err != nil || plan.Refused != nil || plan.From != 1 || plan.To != 2 ||
		!contains(strings.Join(plan.Steps, "\n"), "add column account.rating") || !contains(strings.Join(plan.Steps, "\n"), "create table visit") {
		t.Fatalf("plan: %+v, %v", plan, err)
	}
	if st.SchemaVersion() != 1 {
		t.Fatalf("a plan changed the version in force to %d", st.SchemaVersion())
	}
	withDefault := crmWith(t, "default.yaml", accountCols, "      name: {type: text, required: true}\n      industry: {type: text, default: retail}\n")
	if plan, err := st.PlanSchema(ctx, withDefault); err != nil || !contains(strings.Join(plan.Steps, "\n"), "change column account.industry to text default retail, was text") {
		t.Fatalf("plan of a new default: %+v, %v", plan, err)
	}
	if _, err := st.ApplySchema(ctx, grown, "tester"); err != nil {
		t.Fatalf("apply: %v", err)
	}
	log := wholeLog(t, st0)
	marker := log[len(log)-1]
	sv, err := fieldsync.ParseSchemaMarker(marker)
	if err != nil || sv.Version != 2 || string(sv.YAML) != string(grown.YAML) || st.SchemaVersion() != 2 {
		t.Fatalf("marker %+v: %+v, %v (in force %d)", marker, sv, err, st.SchemaVersion())
	}
	apply(t, st0, ins("visit", map[string]any{"id": "v1", "account_id": "a1", "note": "met"}), upd("account", "a1", map[string]any{"rating": 4}))
	if _, v, _ := st.SchemaAtSeq(ctx, marker.Seq-1); v != 1 {
		t.Fatalf("version before the marker: %d", v)
	}
	if _, v, _ := st.SchemaAtSeq(ctx, marker.Seq); v != 2 {
		t.Fatalf("version at the marker: %d", v)
	}
	testRefusedChange(t, st, st0, grown)

	// Dropping a column: entries logged before still read.
	dropped := crmWith(t, "dropped.yaml", accountCols, droppedInd, "  account_team:\n", visitTable)
	if _, err := st.ApplySchema(ctx, dropped, "tester"); err != nil {
		t.Fatalf("drop a column: %v", err)
	}
	var logged fieldsync.Row
	for _, e := range wholeLog(t, st0) {
		if e.Table == "account" && e.RowID == "a1" && e.Op == fieldsync.OpInsert {
			logged = e.Values
		}
	}
	if logged["industry"] != "tools" {
		t.Fatalf("an entry logged before the drop reads %v", logged)
	}
	st0.Close()
	again, err := reopen(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if v := again.(versioned).SchemaVersion(); v != 3 || again.Schema().Table("account").Column("industry") != nil {
		t.Fatalf("reopened without a schema: version %d, %s", v, again.Schema().Source)
	}
}

// testRefusedChange applies a change with two faults: refused whole, with
// both reasons, and nothing changed.
func testRefusedChange(t *testing.T, st versioned, st0 fieldsync.Store, in *fieldsync.Schema) {
	ctx := context.Background()
	apply(t, st0, ins("account", map[string]any{"id": "a2", "name": "Acme"}))
	y := strings.Replace(string(in.YAML), "      revenue: real", "      revenue: text", 1)
	y = strings.Replace(y, grownAccount, grownAccount+"    unique: [[name]]\n", 1)
	bad, err := schema.Parse("bad.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	before := len(wholeLog(t, st0))
	_, err = st.ApplySchema(ctx, bad, "tester")
	if !errors.Is(err, fieldsync.ErrSchemaMismatch) || !contains(err.Error(), "bad.yaml:") ||
		!contains(err.Error(), "opportunity.revenue") || !contains(err.Error(), "unique key account(name)") {
		t.Fatalf("a change with two faults: %v", err)
	}
	if st.SchemaVersion() != 2 || len(wholeLog(t, st0)) != before {
		t.Fatalf("a refused change changed the version (%d) or the log", st.SchemaVersion())
	}
	apply(t, st0, ins("account", map[string]any{"id": "a3", "name": "Acme"})) // no unique index was made
}
