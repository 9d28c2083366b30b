package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/sqlite"
)

// TestLocalApplySkipsUnknownTables: a node's database made before the
// server's schema gained a table applies the rest of an inbox file and
// skips that table's rows, instead of failing on every apply.
func TestLocalApplySkipsUnknownTables(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.OpenLocal(ctx, filepath.Join(t.TempDir(), "local.db"), schema.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	txns := []fieldsync.Txn{
		{Seq: 1, Op: fieldsync.OpInsert, Table: "territory", RowID: "t1", Values: fieldsync.Row{"id": "t1", "name": "North"}},
		{Seq: 2, Op: fieldsync.OpInsert, Table: "account", RowID: "acme", Values: fieldsync.Row{"id": "acme", "name": "Acme"}},
	}
	ok, err := st.ApplyInbox(ctx, 1, txns, nil)
	if err != nil || !ok {
		t.Fatalf("apply: %v %v", ok, err)
	}
	if _, err := st.Get(ctx, "account", "acme"); err != nil {
		t.Fatalf("the known table's row: %v", err)
	}
	if n, _ := st.MetaInt(ctx, sqlstore.MetaInboxApplied); n != 1 {
		t.Fatalf("inbox file recorded as applied: %d", n)
	}
}
