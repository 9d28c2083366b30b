package localdb_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/localdb"
)

func upd(seq int64, id string, vals fieldsync.Row) fieldsync.Txn {
	return fieldsync.Txn{Seq: seq, Op: fieldsync.OpUpdate, Table: "note", RowID: id, Values: vals}
}

// upload is one upload file's changes, merged at before (0: not known merged).
type upload struct {
	before int64
	txns   []fieldsync.Txn
}

// TestApplyInboxKeepsOwnChanges: a server change older than the node's own
// change of a column does not overwrite it; a newer one does.
func TestApplyInboxKeepsOwnChanges(t *testing.T) {
	tests := []struct {
		name    string
		uploads []upload
		local   []fieldsync.Change // made through the local write path
		server  fieldsync.Txn
		body    any // n1's body after the apply (nil: no row)
		color   any
	}{
		{name: "no own change", server: upd(20, "n1", fieldsync.Row{"body": "server"}), body: "server"},
		{name: "upload not merged",
			uploads: []upload{{0, []fieldsync.Txn{upd(0, "n1", fieldsync.Row{"body": "ann-1"})}}},
			server:  upd(20, "n1", fieldsync.Row{"body": "server"}), body: "ann-1"},
		{name: "merged after the server's change",
			uploads: []upload{{25, []fieldsync.Txn{upd(0, "n1", fieldsync.Row{"body": "ann-1"})}}},
			server:  upd(20, "n1", fieldsync.Row{"body": "server"}), body: "ann-1"},
		{name: "merged before the server's change",
			uploads: []upload{{15, []fieldsync.Txn{upd(0, "n1", fieldsync.Row{"body": "ann-1"})}}},
			server:  upd(20, "n1", fieldsync.Row{"body": "server"}), body: "server"},
		{name: "the latest own value, not an earlier one",
			uploads: []upload{{25, []fieldsync.Txn{upd(0, "n1", fieldsync.Row{"body": "ann-1"})}}, {0, []fieldsync.Txn{upd(0, "n1", fieldsync.Row{"body": "ann-2"})}}},
			server:  upd(20, "n1", fieldsync.Row{"body": "server"}), body: "ann-2"},
		{name: "the local log",
			uploads: []upload{{0, []fieldsync.Txn{upd(0, "n1", fieldsync.Row{"body": "ann-1"})}}},
			local:   []fieldsync.Change{fieldsync.Update("note", "n1", map[string]any{"body": "ann-2"})},
			server:  upd(20, "n1", fieldsync.Row{"body": "server"}), body: "ann-2"},
		{name: "only the columns the server sends",
			local:  []fieldsync.Change{fieldsync.Update("note", "n1", map[string]any{"body": "ann"})},
			server: upd(20, "n1", fieldsync.Row{"color": "red"}), body: "ann", color: "red"},
		{name: "a row sent whole keeps the node's columns",
			local:  []fieldsync.Change{fieldsync.Update("note", "n1", map[string]any{"body": "ann"})},
			server: fieldsync.Txn{Seq: 20, Op: fieldsync.OpInsert, Table: "note", RowID: "n1", Values: fieldsync.Row{"id": "n1", "owner_id": "ann", "body": "server", "color": "red"}},
			body:   "ann", color: "red"},
		{name: "deleted by the node stays deleted",
			local:  []fieldsync.Change{fieldsync.Delete("note", "n1")},
			server: fieldsync.Txn{Seq: 20, Op: fieldsync.OpInsert, Table: "note", RowID: "n1", Values: fieldsync.Row{"id": "n1", "owner_id": "ann", "body": "server"}},
			body:   nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openNotes(t)
			ctx := context.Background()
			if len(tc.local) > 0 {
				if _, err := db.Apply(ctx, tc.local...); err != nil {
					t.Fatal(err)
				}
			}
			own := &localdb.OwnChanges{}
			for _, u := range tc.uploads {
				own.Add(u.txns, u.before)
			}
			if ok, err := db.ApplyInbox(ctx, 1, []fieldsync.Txn{tc.server}, own); err != nil || !ok {
				t.Fatalf("apply: %v %v", ok, err)
			}
			if got := body(t, db, "n1"); got != tc.body {
				t.Fatalf("body %v, want %v", got, tc.body)
			}
			if tc.body == nil {
				return
			}
			if r, _ := db.Get(ctx, "note", "n1"); r["color"] != tc.color {
				t.Fatalf("color %v, want %v", r["color"], tc.color)
			}
		})
	}
}

// TestPutKeepsOwnChanges: a row put back as the server has it keeps the
// node's changes the server has not merged; a row the server does not give
// the node is dropped.
func TestPutKeepsOwnChanges(t *testing.T) {
	db := openNotes(t)
	ctx := context.Background()
	own := &localdb.OwnChanges{}
	own.Add([]fieldsync.Txn{upd(0, "n1", fieldsync.Row{"body": "ann-1"})}, 0)
	if err := db.Put(ctx, "note", "n1", fieldsync.Row{"id": "n1", "owner_id": "ann", "body": "server", "color": "blue"}, own); err != nil {
		t.Fatal(err)
	}
	if r, _ := db.Get(ctx, "note", "n1"); r["body"] != "ann-1" || r["color"] != "blue" {
		t.Fatalf("n1 after put: %v", r)
	}
	if err := db.Put(ctx, "note", "n1", nil, own); err != nil {
		t.Fatal(err)
	}
	if body(t, db, "n1") != nil {
		t.Fatal("n1 not dropped")
	}
	if ls, _ := db.LogState(ctx); ls.Pending != 0 {
		t.Fatalf("server rows logged as the node's own: %+v", ls)
	}
}

// TestReplaceDataKeepsOwnChanges: a newer extract replaces the rows, but
// the node's changes it cannot hold (not merged, or merged after it was
// taken) stay over them, and the local log is kept.
func TestReplaceDataKeepsOwnChanges(t *testing.T) {
	db := openNotes(t)
	ctx := context.Background()
	if _, err := db.Apply(ctx,
		fieldsync.Update("note", "n1", map[string]any{"body": "local"}),
		fieldsync.Insert("note", map[string]any{"id": "n4", "owner_id": "ann", "body": "mine"})); err != nil {
		t.Fatal(err)
	}
	own := &localdb.OwnChanges{}
	own.Add([]fieldsync.Txn{upd(0, "n1", fieldsync.Row{"color": "in-extract"})}, 25)
	own.Add([]fieldsync.Txn{upd(0, "n1", fieldsync.Row{"color": "after"})}, 35)
	own.Add([]fieldsync.Txn{upd(0, "n2", fieldsync.Row{"body": "gone"})}, 0)
	path := filepath.Join(t.TempDir(), "extract.db")
	build(t, path, db.Schema(), 30, map[string][]fieldsync.Row{
		"employee": {{"id": "ann", "name": "Ann", "login": "ann"}},
		"note":     {{"id": "n1", "owner_id": "ann", "body": "extract", "color": "grey"}, {"id": "n3", "owner_id": "ann", "body": "new"}},
	})
	current := []fieldsync.Txn{{Op: fieldsync.OpInsert, Table: "note", RowID: "n5", Values: fieldsync.Row{"id": "n5", "owner_id": "ann", "body": "now"}}}
	if err := db.ReplaceData(ctx, path, current, own); err != nil {
		t.Fatal(err)
	}
	if r, _ := db.Get(ctx, "note", "n1"); r["body"] != "local" || r["color"] != "after" {
		t.Fatalf("n1 %v", r)
	}
	for id, want := range map[string]any{"n2": nil, "n3": "new", "n4": "mine", "n5": "now"} {
		if got := body(t, db, id); got != want {
			t.Fatalf("%s: %v, want %v", id, got, want)
		}
	}
	st, _ := db.State(ctx)
	ls, _ := db.LogState(ctx)
	if st.ExtractSeq != 30 || ls.Pending != 2 {
		t.Fatalf("extract seq %d, pending %d", st.ExtractSeq, ls.Pending)
	}
}
