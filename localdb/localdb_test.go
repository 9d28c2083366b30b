package localdb_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/localdb"
	"github.com/fieldsync/fieldsync/schema"
)

// build writes a node's file for ann-laptop at seq holding rows, by table.
func build(t *testing.T, path string, s *fieldsync.Schema, seq int64, rows map[string][]fieldsync.Row) {
	t.Helper()
	h := localdb.Header{Node: "ann-laptop", EmployeeID: "ann", ExtractSeq: seq, ExtractedAt: time.Now()}
	err := localdb.Build(context.Background(), path, s, h, func(insert func(string, fieldsync.Row) error) error {
		for table, rs := range rows {
			for _, r := range rs {
				if err := insert(table, r); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func notes(t *testing.T) *fieldsync.Schema {
	t.Helper()
	s, err := schema.Parse("notes.yaml", []byte(testutil.NotesYAML))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openNotes opens a node's database holding ann and her note n1.
func openNotes(t *testing.T) *localdb.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "local.db")
	build(t, path, notes(t), 10, map[string][]fieldsync.Row{
		"employee": {{"id": "ann", "name": "Ann", "login": "ann"}},
		"note":     {{"id": "n1", "owner_id": "ann", "body": "first"}},
	})
	db, err := localdb.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func body(t *testing.T, db *localdb.DB, id string) any {
	t.Helper()
	r, err := db.Get(context.Background(), "note", id)
	if errors.Is(err, fieldsync.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return r["body"]
}

// TestHeaderAndState: the header the Database Extract writes is read back
// as it was written, and the first open starts the node's state from it;
// a later open keeps the state.
func TestHeaderAndState(t *testing.T) {
	ctx := context.Background()
	s := notes(t)
	path := filepath.Join(t.TempDir(), "local.db")
	build(t, path, s, 42, nil)
	h, err := localdb.ReadHeader(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if h.Node != "ann-laptop" || h.EmployeeID != "ann" || h.ExtractSeq != 42 || h.SchemaFingerprint != s.Fingerprint() ||
		h.SchemaSource != "notes.yaml" || h.SchemaYAML != testutil.NotesYAML || h.ExtractedAt.IsZero() {
		t.Fatalf("header %+v", h)
	}
	db, err := localdb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := db.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Node != "ann-laptop" || st.EmployeeID != "ann" || st.ExtractSeq != 42 || st.UploadNext != 1 || !st.LastSync.IsZero() {
		t.Fatalf("state at first open %+v", st)
	}
	at := time.Date(2024, 5, 6, 7, 8, 9, 10, time.UTC)
	conflicts := []fieldsync.Conflict{{ID: 3, Node: "ann-laptop", Table: "note", RowID: "n1", Kind: fieldsync.ConflictTeamMerged}}
	for _, err := range []error{db.SetUploadNext(ctx, 5), db.RecordSync(ctx, at, "ok"), db.RecordServer(ctx, 77, 1024),
		db.SetConflicts(ctx, 3, conflicts), db.SetRequested(ctx, []string{"note/n1"})} {
		if err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if db, err = localdb.Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err = db.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.UploadNext != 5 || !st.LastSync.Equal(at) || st.LastResult != "ok" || st.RoutedSeq != 77 || st.FileLimit != 1024 ||
		st.ConflictsSeen != 3 || len(st.Conflicts) != 1 || st.Conflicts[0].RowID != "n1" || len(st.Requested) != 1 || st.ExtractSeq != 42 {
		t.Fatalf("state after reopening %+v", st)
	}
}

// TestLocalApplySkipsUnknownTables: a node's database made before the
// server's schema gained a table applies the rest of an inbox file and
// skips that table's rows, instead of failing on every apply.
func TestLocalApplySkipsUnknownTables(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "local.db")
	build(t, path, schema.Default(), 0, nil)
	db, err := localdb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	txns := []fieldsync.Txn{
		{Seq: 1, Op: fieldsync.OpInsert, Table: "territory", RowID: "t1", Values: fieldsync.Row{"id": "t1", "name": "North"}},
		{Seq: 2, Op: fieldsync.OpInsert, Table: "account", RowID: "acme", Values: fieldsync.Row{"id": "acme", "name": "Acme"}},
	}
	ok, err := db.ApplyInbox(ctx, 1, txns, nil)
	if err != nil || !ok {
		t.Fatalf("apply: %v %v", ok, err)
	}
	if _, err := db.Get(ctx, "account", "acme"); err != nil {
		t.Fatalf("the known table's row: %v", err)
	}
	if st, _ := db.State(ctx); st.InboxApplied != 1 {
		t.Fatalf("inbox file recorded as applied: %d", st.InboxApplied)
	}
	if ok, err := db.ApplyInbox(ctx, 1, txns, nil); err != nil || ok {
		t.Fatalf("the same file again: %v %v", ok, err)
	}
}

// TestApplyInboxSkipsExtracted: transactions the extract holds are not
// applied again.
func TestApplyInboxSkipsExtracted(t *testing.T) {
	db := openNotes(t)
	ctx := context.Background()
	txns := []fieldsync.Txn{
		{Seq: 10, Op: fieldsync.OpUpdate, Table: "note", RowID: "n1", Values: fieldsync.Row{"body": "old"}},
		{Seq: 11, Op: fieldsync.OpInsert, Table: "note", RowID: "n2", Values: fieldsync.Row{"id": "n2", "owner_id": "ann", "body": "new"}},
	}
	if _, err := db.ApplyInbox(ctx, 1, txns, nil); err != nil {
		t.Fatal(err)
	}
	if body(t, db, "n1") != "first" || body(t, db, "n2") != "new" {
		t.Fatalf("n1 %v, n2 %v", body(t, db, "n1"), body(t, db, "n2"))
	}
}
