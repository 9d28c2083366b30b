package client_test

import (
	"context"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
)

// notesWorld is a server whose notes are seen by their owner and merged
// client-wins: the node's merged value replaces the server's and is not
// sent back to it, so a node that loses its own latest value locally never
// gets it back.
func notesWorld(t *testing.T, b testutil.Backend) (*world, *client.Client) {
	t.Helper()
	s, err := schema.Parse("notes.yaml", []byte(testutil.NotesYAML))
	if err != nil {
		t.Fatal(err)
	}
	w := newWorldWith(t, b, s)
	w.create("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
	w.create("employee", map[string]any{"id": "bob", "name": "Bob", "login": "bob"})
	w.create("note", map[string]any{"id": "n1", "owner_id": "ann", "body": "first"})
	w.create("note", map[string]any{"id": "n2", "owner_id": "ann", "body": "first"})
	ann := w.node("ann-laptop", "ann")
	w.settle()
	return w, ann
}

// converged checks that the server and the node both hold want in note n1.
func converged(t *testing.T, w *world, ann *client.Client, want string) {
	t.Helper()
	roundTrip(t, w, ann)
	srv, err := w.api.Get(context.Background(), "note", "n1")
	if err != nil {
		t.Fatal(err)
	}
	local, _ := has(t, ann, "note", "n1")
	if srv["body"] != want || local["body"] != want {
		t.Fatalf("note n1: server %v, node %v; want %q on both", srv["body"], local["body"], want)
	}
}

// TestOwnChangesKeptInOrder: applying an older server value, the node
// keeps its own latest value of the row, not an earlier one of its merged
// uploads.
func TestOwnChangesKeptInOrder(t *testing.T) { testutil.ForBackends(t, testOwnChangesKeptInOrder) }

func testOwnChangesKeptInOrder(t *testing.T, b testutil.Backend) {
	w, ann := notesWorld(t, b)
	ctx := context.Background()
	if _, err := w.api.Update(ctx, "note", "n1", map[string]any{"body": "server's"}); err != nil {
		t.Fatal(err)
	}
	w.settle()
	apply(t, ann, fieldsync.Update("note", "n1", map[string]any{"body": "ann-1"}))
	// Upload ann-1 and download the server's older change, unapplied.
	if _, err := ann.Sync(ctx, client.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	w.settle() // ann-1 merged, after the server's change
	apply(t, ann, fieldsync.Update("note", "n1", map[string]any{"body": "ann-2"}))
	// Learn that ann-1 was merged and upload ann-2, still unapplied.
	if _, err := ann.Sync(ctx, client.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, err := ann.ApplyInbox(ctx); err != nil || n == 0 {
		t.Fatalf("apply inbox: %d files, %v", n, err)
	}
	if local, _ := has(t, ann, "note", "n1"); local["body"] != "ann-2" {
		t.Fatalf("applying the server's older change left %v, not the node's latest ann-2", local["body"])
	}
	converged(t, w, ann, "ann-2")
}

// TestRefusedUploadKeepsLaterChanges: when a change is refused the node
// puts back the server's row it changed, but not over the changes the node
// made after it: those are on their way up.
func TestRefusedUploadKeepsLaterChanges(t *testing.T) {
	testutil.ForBackends(t, testRefusedUploadKeepsLaterChanges)
}

func testRefusedUploadKeepsLaterChanges(t *testing.T, b testutil.Backend) {
	w, ann := notesWorld(t, b)
	ctx := context.Background()
	// The server gives n2 to bob; before ann hears of it she changes both
	// notes in one transaction: the merger refuses the change to n2 alone.
	if _, err := w.api.Update(ctx, "note", "n2", map[string]any{"owner_id": "bob"}); err != nil {
		t.Fatal(err)
	}
	w.settle()
	if _, err := ann.Apply(ctx,
		fieldsync.Update("note", "n1", map[string]any{"body": "ann-1"}),
		fieldsync.Update("note", "n2", map[string]any{"body": "ann-1"})); err != nil {
		t.Fatal(err)
	}
	syncWait(t, ann)
	w.settle()
	if r, _ := w.srv.Store().RefusedChanges(ctx, "ann-laptop", 0); len(r) != 1 || r[0].RowID != "n2" {
		t.Fatalf("refusals: %+v", r)
	}
	// A later change to n1, made before ann hears of the refusal, is not
	// undone by it.
	apply(t, ann, fieldsync.Update("note", "n1", map[string]any{"body": "ann-2"}))
	syncWait(t, ann) // learns of the refusal, puts rows back, uploads ann-2
	if local, _ := has(t, ann, "note", "n1"); local["body"] != "ann-2" {
		t.Fatalf("the refusal undid a later change: n1 holds %v", local["body"])
	}
	converged(t, w, ann, "ann-2")
	if _, ok := has(t, ann, "note", "n2"); ok {
		t.Fatal("ann still has bob's note")
	}
}
