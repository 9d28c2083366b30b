package merger_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/merger"
	"github.com/fieldsync/fieldsync/schema"
)

// TestMergerFindsUploads: the merger merges the uploads the server
// database lists as waiting, and forgets them once merged or refused; a
// full look into every inbox finds files it does not list.
func TestMergerFindsUploads(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		st, dock := notesWorld(t, b)
		ctx := context.Background()
		m := merger.New(st, dock, nil)
		put := func(number int64, owner string, note bool) {
			t.Helper()
			dir := dock.Inbox("ann-laptop")
			os.MkdirAll(dir, 0o755)
			id := "n" + docking.FileName(number)
			txn := fieldsync.Txn{Seq: number, Op: fieldsync.OpInsert, Table: "note", RowID: id, Origin: "ann-laptop",
				Values: fieldsync.Row{"id": id, "owner_id": owner, "body": "x"}}
			if err := dx.WriteFile(dir, docking.FileName(number), dx.Header{Kind: dx.KindUpload, Node: "ann-laptop", Number: uint64(number)}, []fieldsync.Txn{txn}, nil); err != nil {
				t.Fatal(err)
			}
			if note {
				if err := st.NoteUpload(ctx, "ann-laptop", number); err != nil {
					t.Fatal(err)
				}
			}
		}
		lastMerged := func(want int64) {
			t.Helper()
			if last, err := st.LastMerged(ctx, "ann-laptop"); err != nil || last != want {
				t.Fatalf("last merged %d (%v), want %d", last, err, want)
			}
		}
		waiting := func(want ...string) {
			t.Helper()
			got, err := st.UploadingNodes(ctx)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("nodes with uploads waiting: %v (%v), want %v", got, err, want)
			}
		}

		// A file in the inbox the database does not list (received before
		// it listed them) waits for the full look.
		put(1, "ann", false)
		if err := m.MergeWaiting(ctx); err != nil {
			t.Fatal(err)
		}
		lastMerged(0)
		if err := m.MergeAll(ctx); err != nil {
			t.Fatal(err)
		}
		lastMerged(1)

		put(2, "ann", true)
		waiting("ann-laptop")
		if err := m.MergeWaiting(ctx); err != nil {
			t.Fatal(err)
		}
		lastMerged(2)
		waiting()
		if _, err := st.Get(ctx, "note", "n"+docking.FileName(2)); err != nil {
			t.Fatalf("upload 2 not merged: %v", err)
		}

		// An upload whose change is refused is forgotten too.
		put(3, "bob", true)
		if err := m.MergeWaiting(ctx); err != nil {
			t.Fatal(err)
		}
		lastMerged(3)
		waiting()
		if r, _ := st.RefusedChanges(ctx, "ann-laptop", 0); len(r) != 1 || r[0].Upload != 3 || r[0].Change != 1 {
			t.Fatalf("refusals %+v", r)
		}

		// Listed, but merged elsewhere: forgotten without a merge.
		if err := st.NoteUpload(ctx, "ann-laptop", 2); err != nil {
			t.Fatal(err)
		}
		if err := m.MergeWaiting(ctx); err != nil {
			t.Fatal(err)
		}
		waiting()
		if left, _ := filepath.Glob(filepath.Join(dock.Inbox("ann-laptop"), "*.dx")); len(left) != 0 {
			t.Fatalf("files left in the inbox: %v", left)
		}
	})
}

// TestRefusalRecordedBeforeSetAside: a refused upload stays listed as
// waiting until its file is set aside, and a file whose refusal was
// recorded before a stop is set aside at the next pass, not removed.
func TestRefusalRecordedBeforeSetAside(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		st, dock := notesWorld(t, b)
		ctx := context.Background()
		dir := dock.Inbox("ann-laptop")
		putUpload(t, dock, 1, []fieldsync.Txn{{Op: fieldsync.OpInsert, Table: "nosuch", RowID: "x", Values: fieldsync.Row{"id": "x"}}})
		if err := st.NoteUpload(ctx, "ann-laptop", 1); err != nil {
			t.Fatal(err)
		}
		// A merger stopped after it recorded the refusal.
		if err := st.RecordRefused(ctx, "ann-laptop", 1, "unknown table"); err != nil {
			t.Fatal(err)
		}
		if b, err := st.Backlog(ctx); err != nil || b.Uploads != 1 {
			t.Fatalf("backlog after the refusal was recorded: %+v (%v), want the upload still waiting", b, err)
		}
		if err := merger.New(st, dock, nil).MergeWaiting(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dock.Refused("ann-laptop"), docking.FileName(1))); err != nil {
			t.Fatalf("the refused file was not set aside: %v", err)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "*.dx")); len(left) != 0 {
			t.Fatalf("files left in the inbox: %v", left)
		}
		if b, err := st.Backlog(ctx); err != nil || b.Uploads != 0 {
			t.Fatalf("backlog after the file was set aside: %+v (%v)", b, err)
		}
		if r, _ := st.Refused(ctx, "ann-laptop"); len(r) != 1 || r[0].Reason != "unknown table" {
			t.Fatalf("refusals %+v", r)
		}
	})
}

// TestDeactivatedNodeRefused: uploads a node left waiting are refused, not
// merged, once an administrator deactivated it.
func TestDeactivatedNodeRefused(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		st, dock := notesWorld(t, b)
		ctx := context.Background()
		putUpload(t, dock, 1, []fieldsync.Txn{{Op: fieldsync.OpInsert, Table: "note", RowID: "n1", Values: fieldsync.Row{"id": "n1", "owner_id": "ann", "body": "x"}}})
		if err := st.NoteUpload(ctx, "ann-laptop", 1); err != nil {
			t.Fatal(err)
		}
		if _, err := st.DeactivateNode(ctx, "ann-laptop"); err != nil {
			t.Fatal(err)
		}
		if err := merger.New(st, dock, nil).MergeWaiting(ctx); err != nil {
			t.Fatal(err)
		}
		r, err := st.Refused(ctx, "ann-laptop")
		if err != nil || len(r) != 1 || r[0].Reason != "node ann-laptop is deactivated: its uploads are not merged" {
			t.Fatalf("refusals %+v %v", r, err)
		}
		if _, err := st.Get(ctx, "note", "n1"); !errors.Is(err, fieldsync.ErrNotFound) {
			t.Fatalf("a deactivated node's upload was merged: %v", err)
		}
	})
}

// TestDeleteDependents: a node's delete is refused when it would cascade
// to, or clear a foreign key of, a row the node may not write.
func TestDeleteDependents(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		s, err := schema.Parse("notes.yaml", []byte(testutil.NotesYAML+`  comment:
    columns:
      note_id: {type: text, references: note, on_delete: cascade}
      author_id: {type: text, references: employee}
    visibility:
      - owner: author_id
    remote_write: true
`))
		if err != nil {
			t.Fatal(err)
		}
		st, _ := b.Open(t, s)
		ctx := context.Background()
		for _, ch := range []fieldsync.Change{
			fieldsync.Insert("employee", map[string]any{"id": "ann", "name": "ann", "login": "ann"}),
			fieldsync.Insert("employee", map[string]any{"id": "bob", "name": "bob", "login": "bob"}),
			fieldsync.Insert("note", map[string]any{"id": "n1", "owner_id": "ann"}),
			fieldsync.Insert("comment", map[string]any{"id": "k1", "note_id": "n1", "author_id": "bob"}),
			fieldsync.Insert("note", map[string]any{"id": "n2", "owner_id": "ann"}),
			fieldsync.Insert("comment", map[string]any{"id": "k2", "note_id": "n2", "author_id": "ann"}),
		} {
			if _, err := st.Apply(ctx, "", ch); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.AddNode(ctx, fieldsync.Node{Name: "ann-laptop", EmployeeID: "ann"}, fieldsync.HashSecret("s")); err != nil {
			t.Fatal(err)
		}
		dock := docking.Folder(t.TempDir())
		m := merger.New(st, dock, nil)
		for n, c := range []struct{ note, reason string }{
			{"n1", `change 1 of 1 (delete note n1): node ann-laptop may not delete note "n1": rows it may not write depend on it`},
			{"n2", ""},
		} {
			num := int64(n + 1)
			dir := dock.Inbox("ann-laptop")
			os.MkdirAll(dir, 0o755)
			txn := fieldsync.Txn{Seq: 1, Op: fieldsync.OpDelete, Table: "note", RowID: c.note, Origin: "ann-laptop"}
			if err := dx.WriteFile(dir, docking.FileName(num), dx.Header{Kind: dx.KindUpload, Node: "ann-laptop", Number: uint64(num)}, []fieldsync.Txn{txn}, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := m.MergeNode(ctx, "ann-laptop"); err != nil {
				t.Fatal(err)
			}
			r, _ := st.RefusedChanges(ctx, "ann-laptop", 0)
			switch {
			case c.reason == "" && len(r) != 1, c.reason != "" && (len(r) != 1 || r[0].Reason != c.reason):
				t.Fatalf("delete of %s: refusals %+v", c.note, r)
			}
		}
		if _, err := st.Get(ctx, "comment", "k1"); err != nil {
			t.Fatalf("bob's comment: %v", err)
		}
		if _, err := st.Get(ctx, "comment", "k2"); !errors.Is(err, fieldsync.ErrNotFound) {
			t.Fatalf("ann's comment outlived her note: %v", err)
		}
	})
}
