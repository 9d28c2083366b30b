package client_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
)

// notesV2 is the notes schema's next version: a memo table and the note
// column size added. notesV3 then drops note.color and adds note.tag.
var (
	notesV2 = strings.Replace(testutil.NotesYAML, "      color: text\n", "      color: text\n      size: integer\n", 1) +
		"  memo:\n    columns:\n      line: text\n    visibility: [all]\n"
	notesV3 = strings.Replace(notesV2, "      color: text\n", "      tag: text\n", 1)
)

func notesSchema(t *testing.T) *fieldsync.Schema {
	t.Helper()
	s, err := schema.Parse("notes.yaml", []byte(testutil.NotesYAML))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func schemaMarker(seq, version int64, yaml string) fieldsync.Txn {
	t := fieldsync.SchemaMarker(fieldsync.SchemaVersion{Version: version, Source: "notes.yaml", YAML: []byte(yaml)})
	t.Seq = seq
	return t
}

// writeOutboxFile writes inbox file n for ann-laptop into dir, as the
// Transaction Router writes an outbox file.
func writeOutboxFile(t *testing.T, dir string, n int64, txns []fieldsync.Txn) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, docking.FileName(n))
	f, err := os.Create(path + ".part")
	if err != nil {
		t.Fatal(err)
	}
	w := dx.NewWriter(f, dx.Header{Kind: dx.KindOutbox, Node: "ann-laptop", Number: uint64(n)})
	for _, txn := range txns {
		if err := w.Write(txn); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".part", path); err != nil {
		t.Fatal(err)
	}
}

// applySchema puts a new schema version in force through the API, as
// fieldsync admin schema apply does.
func (w *world) applySchema(yaml string) {
	w.t.Helper()
	plan, err := w.api.ApplySchema(context.Background(), api.SchemaFile{Source: "notes.yaml", YAML: yaml})
	if err != nil || plan.Same {
		w.t.Fatalf("apply the schema: %+v %v", plan, err)
	}
}

// TestSchemaVersionsReachOfflineNode: a node offline across two schema
// versions (a table and a column added, then a column dropped and one
// added) catches up at its next sync, with no new folder and no
// re-extract: its change made under the first version merges under the
// third (the dropped column's value left out), its local database
// migrates as it applies the markers, and the rows after each marker apply
// under it. A change made under the third version uploads with that
// version's marker. A node re-extracted while offline takes the extract's
// newer schema in the same way.
func TestSchemaVersionsReachOfflineNode(t *testing.T) {
	testutil.ForBackends(t, testSchemaVersionsReachOfflineNode)
}

func testSchemaVersionsReachOfflineNode(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	w := newWorldWith(t, b, notesSchema(t))
	w.create("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
	w.create("employee", map[string]any{"id": "cy", "name": "Cy", "login": "cy"})
	w.create("note", map[string]any{"id": "n1", "owner_id": "ann", "body": "first", "color": "red"})
	w.create("note", map[string]any{"id": "c1", "owner_id": "cy", "body": "cy's", "color": "green"})
	ann, cy := w.node("ann-laptop", "ann"), w.node("cy-laptop", "cy")
	w.settle()
	syncWait(t, ann)
	if v := ann.Store().SchemaVersion(); v != 1 {
		t.Fatalf("the extract's schema version: %d, want 1", v)
	}

	// Offline, Ann changes the body and the color under version 1.
	apply(t, ann, fieldsync.Update("note", "n1", map[string]any{"body": "mine", "color": "blue"}))
	w.applySchema(notesV2)
	w.create("memo", map[string]any{"id": "m1", "line": "hello"})
	if _, err := w.api.Update(ctx, "note", "n1", map[string]any{"size": 5}); err != nil {
		t.Fatal(err)
	}
	w.applySchema(notesV3)
	if _, err := w.api.Update(ctx, "note", "n1", map[string]any{"tag": "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.api.Reextract(ctx, "cy-laptop"); err != nil {
		t.Fatal(err)
	}
	w.settle()

	syncWait(t, ann)
	w.settle()
	syncWait(t, ann)
	if v, h := ann.Store().SchemaVersion(), ann.Store().Header(); v != 3 || h.SchemaVersion != 3 || h.SchemaYAML != notesV3 {
		t.Fatalf("ann: schema version %d, header version %d", v, h.SchemaVersion)
	}
	want := fieldsync.Row{"id": "n1", "owner_id": "ann", "body": "mine", "size": int64(5), "tag": "x"}
	if n1, _ := has(t, ann, "note", "n1"); !rowsEqual(n1, want) {
		t.Fatalf("ann's note n1 under version 3: %v, want %v", n1, want)
	}
	if srv, err := w.api.Get(ctx, "note", "n1"); err != nil || srv["body"] != "mine" || srv["tag"] != "x" {
		t.Fatalf("the server's note n1: %v %v", srv, err)
	}
	if m1, ok := has(t, ann, "memo", "m1"); !ok || m1["line"] != "hello" {
		t.Fatalf("ann's memo m1: %v %v", m1, ok)
	}

	// A change under version 3 goes up with that version's marker.
	apply(t, ann, fieldsync.Update("note", "n1", map[string]any{"tag": "y"}))
	checkUploadMarker(t, ann, 3)
	syncWait(t, ann)
	w.settle()
	if srv, err := w.api.Get(ctx, "note", "n1"); err != nil || srv["tag"] != "y" {
		t.Fatalf("the server's note n1 after ann's version 3 change: %v %v", srv, err)
	}

	// Cy, re-extracted while offline, takes version 3 from the extract.
	syncWait(t, cy)
	if v := cy.Store().SchemaVersion(); v != 3 {
		t.Fatalf("cy: schema version %d after the re-extract, want 3", v)
	}
	want = fieldsync.Row{"id": "c1", "owner_id": "cy", "body": "cy's", "size": nil, "tag": nil}
	if c1, _ := has(t, cy, "note", "c1"); !rowsEqual(c1, want) {
		t.Fatalf("cy's note c1 under version 3: %v, want %v", c1, want)
	}
	if _, ok := has(t, cy, "memo", "m1"); !ok {
		t.Fatal("cy lacks memo m1 of version 2's new table")
	}
}

// checkUploadMarker packages c's pending changes and checks the upload file
// begins with a marker of version v (no schema text) and holds only
// columns of that version, and that the client reads its changes back
// without the marker.
func checkUploadMarker(t *testing.T, c *client.Client, v int64) {
	t.Helper()
	if k, err := client.PackageUploads(c); err != nil || k != 1 {
		t.Fatalf("package the pending change: %d %v", k, err)
	}
	ups, err := docking.Numbers(filepath.Join(c.Dir(), "upload"))
	if err != nil || len(ups) != 1 {
		t.Fatalf("upload files: %v %v", ups, err)
	}
	path := filepath.Join(c.Dir(), "upload", docking.FileName(ups[0]))
	_, txns, err := dx.ReadFile(path, dx.Limits{})
	if err != nil || len(txns) != 2 || !fieldsync.IsSchemaMarker(txns[0]) {
		t.Fatalf("the upload: %v %+v", err, txns)
	}
	if m, err := fieldsync.ParseSchemaMarker(txns[0]); err != nil || m.Version != v || m.YAML != nil {
		t.Fatalf("the upload's marker: %+v %v", m, err)
	}
	changes, err := client.ReadUpload(c, ups[0], path)
	if err != nil || len(changes) != 1 || fieldsync.IsSchemaMarker(changes[0]) {
		t.Fatalf("the upload read back by the client: %v %+v", err, changes)
	}
}

// TestSchemaMarkerWithoutText: an outbox file whose marker carries no
// schema text (as an upload's does) is refused as damaged input, in one
// line, and nothing of it is applied.
func TestSchemaMarkerWithoutText(t *testing.T) {
	ctx := context.Background()
	w := newWorldWith(t, testutil.Backends[0], notesSchema(t))
	w.create("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
	w.create("note", map[string]any{"id": "n1", "owner_id": "ann", "body": "first"})
	ann := w.node("ann-laptop", "ann")
	w.settle()
	syncWait(t, ann)
	local, _ := ann.Store().State(ctx)
	bare := fieldsync.SchemaMarker(fieldsync.SchemaVersion{Version: 2})
	bare.Seq = local.ExtractSeq + 1001
	writeOutboxFile(t, filepath.Join(ann.Dir(), "inbox"), local.InboxApplied+1, []fieldsync.Txn{
		{Seq: local.ExtractSeq + 1000, Op: fieldsync.OpUpdate, Table: "note", RowID: "n1", Values: fieldsync.Row{"body": "changed"}}, bare})
	_, err := ann.ApplyInbox(ctx)
	if err == nil || !strings.Contains(err.Error(), "no schema text") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("a marker without text: %v", err)
	}
	if n1, _ := has(t, ann, "note", "n1"); n1["body"] != "first" || ann.Store().SchemaVersion() != 1 {
		t.Fatalf("applied in part: %v, version %d", n1, ann.Store().SchemaVersion())
	}
}

// rowsEqual reports whether a holds exactly b's columns and values.
func rowsEqual(a, b fieldsync.Row) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if w, ok := a[k]; !ok || w != v {
			return false
		}
	}
	return true
}
