package merger_test

import (
	"context"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/merger"
)

// TestBatchSeesItsOwnWrites: the changes of a batch are checked against
// the rows as the batch found them, read once, but each change is merged
// against the row as the batch's earlier changes left it: two updates of
// one row, and an update of a row inserted earlier in the batch, merge
// without a conflict.
func TestBatchSeesItsOwnWrites(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		st, dock := notesWorld(t, b)
		ctx := context.Background()
		if _, err := st.Apply(ctx, "", fieldsync.Insert("note", map[string]any{"id": "s1", "owner_id": "ann", "body": "a"})); err != nil {
			t.Fatal(err)
		}
		upd := func(id, prev, body string) fieldsync.Txn {
			return fieldsync.Txn{Op: fieldsync.OpUpdate, Table: "note", RowID: id, Values: fieldsync.Row{"body": body}, Prev: fieldsync.Row{"body": prev}}
		}
		putUpload(t, dock, 1, []fieldsync.Txn{
			upd("s1", "a", "b"),
			note("n1", "ann", "x"),
			upd("s1", "b", "c"),
			upd("n1", "x", "y"),
		})
		if _, err := merger.New(st, dock, nil).MergeNode(ctx, "ann-laptop"); err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string]string{"s1": "c", "n1": "y"} {
			if r, err := st.Get(ctx, "note", id); err != nil || r["body"] != want {
				t.Errorf("note %s: %v %v, want body %q", id, r, err, want)
			}
		}
		if cs, err := st.Conflicts(ctx, "ann-laptop"); err != nil || len(cs) != 0 {
			t.Errorf("conflicts %+v %v, want none", cs, err)
		}
	})
}
