package merger_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/merger"
	"github.com/fieldsync/fieldsync/schema"
)

// memoYAML adds a private table: each node's memos go up to the server
// and are routed to no one.
const memoYAML = testutil.NotesYAML + `  memo:
    columns:
      parent_id: {type: text, references: memo, on_delete: cascade}
      body: text
    visibility: private
    remote_write: true
`

// TestPrivateRowsOwnedByTheirNode: a row of a private table is written
// only by the node that inserted it. Another node can neither change,
// delete, overwrite nor point at it, and learns nothing of whether it
// exists; rows the server inserted are no node's.
func TestPrivateRowsOwnedByTheirNode(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		s, err := schema.Parse("memo.yaml", []byte(memoYAML))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := b.Open(t, s)
		ctx := context.Background()
		for _, e := range []string{"ann", "bob"} {
			if _, err := st.Apply(ctx, "", fieldsync.Insert("employee", map[string]any{"id": e, "name": e, "login": e})); err != nil {
				t.Fatal(err)
			}
			if _, err := st.AddNode(ctx, fieldsync.Node{Name: e + "-laptop", EmployeeID: e}, fieldsync.HashSecret("s")); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.Apply(ctx, "", fieldsync.Insert("memo", map[string]any{"id": "server-memo", "body": "from the office"})); err != nil {
			t.Fatal(err)
		}
		dock := docking.Folder(t.TempDir())
		m := merger.New(st, dock, nil)
		numbers := map[string]int64{}
		// upload merges one change from node and returns its refusal, "" if merged.
		upload := func(node string, txn fieldsync.Txn) string {
			t.Helper()
			numbers[node]++
			n := numbers[node]
			dir := dock.Inbox(node)
			os.MkdirAll(dir, 0o755)
			txn.Seq, txn.Origin = 1, node
			if err := dx.WriteFile(dir, docking.FileName(n), dx.Header{Kind: dx.KindUpload, Node: node, Number: uint64(n)}, []fieldsync.Txn{txn}, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := m.MergeNode(ctx, node); err != nil {
				t.Fatal(err)
			}
			r, err := st.RefusedChanges(ctx, node, n-1)
			if err != nil {
				t.Fatal(err)
			}
			if len(r) == 0 {
				return ""
			}
			return r[0].Reason
		}
		memo := func(op fieldsync.Op, id string, vals fieldsync.Row) fieldsync.Txn {
			if vals != nil {
				vals["id"] = id
			}
			return fieldsync.Txn{Op: op, Table: "memo", RowID: id, Values: vals}
		}
		steps := []struct {
			node   string
			txn    fieldsync.Txn
			refuse string
		}{
			{"ann-laptop", memo(fieldsync.OpInsert, "m1", fieldsync.Row{"body": "ann's"}), ""},
			{"bob-laptop", memo(fieldsync.OpUpdate, "m1", fieldsync.Row{"body": "bob was here"}), `change 1 of 1 (update memo m1): node bob-laptop may not write memo "m1"`},
			{"bob-laptop", memo(fieldsync.OpDelete, "m1", nil), `change 1 of 1 (delete memo m1): node bob-laptop may not write memo "m1"`},
			{"bob-laptop", memo(fieldsync.OpInsert, "m1", fieldsync.Row{"body": "mine now"}), `change 1 of 1 (insert memo m1): node bob-laptop may not write memo "m1"`},
			{"bob-laptop", memo(fieldsync.OpInsert, "m2", fieldsync.Row{"parent_id": "m1"}), `change 1 of 1 (insert memo m2): node bob-laptop may not point memo.parent_id at memo "m1"`},
			{"bob-laptop", memo(fieldsync.OpUpdate, "server-memo", fieldsync.Row{"body": "x"}), `change 1 of 1 (update memo server-memo): node bob-laptop may not write memo "server-memo"`},
			{"ann-laptop", memo(fieldsync.OpInsert, "m3", fieldsync.Row{"parent_id": "m1", "body": "reply"}), ""},
			{"ann-laptop", memo(fieldsync.OpUpdate, "m1", fieldsync.Row{"body": "ann's, edited"}), ""},
			{"ann-laptop", memo(fieldsync.OpDelete, "m1", nil), ""},
			// Once ann's memo is gone, its id is anybody's again.
			{"bob-laptop", memo(fieldsync.OpInsert, "m1", fieldsync.Row{"body": "bob's"}), ""},
			{"bob-laptop", memo(fieldsync.OpUpdate, "m1", fieldsync.Row{"body": "bob's, edited"}), ""},
			{"ann-laptop", memo(fieldsync.OpUpdate, "m1", fieldsync.Row{"body": "ann again"}), `change 1 of 1 (update memo m1): node ann-laptop may not write memo "m1"`},
		}
		for i, c := range steps {
			if got := upload(c.node, c.txn); got != c.refuse {
				t.Fatalf("step %d (%s %s %s): refusal %q, want %q", i+1, c.node, c.txn.Op, c.txn.RowID, got, c.refuse)
			}
		}
		row, err := st.Get(ctx, "memo", "m1")
		if err != nil || row["body"] != "bob's, edited" {
			t.Fatalf("memo m1 = %v, %v", row, err)
		}
		if _, err := st.Get(ctx, "memo", "m3"); !errors.Is(err, fieldsync.ErrNotFound) {
			t.Fatalf("ann's reply outlived the memo it answers: %v", err)
		}
		if row, err := st.Get(ctx, "memo", "server-memo"); err != nil || row["body"] != "from the office" {
			t.Fatalf("the server's memo = %v, %v", row, err)
		}
	})
}
