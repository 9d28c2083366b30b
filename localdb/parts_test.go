package localdb_test

import (
	"context"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/localdb"
)

// TestApplyCoalescedSkipsAppliedParts: an outbox file coalesced from
// several applies only the parts of files the node has not applied, here
// and within one call; a part of an applied file is never applied again,
// even when it holds something else (a forged body shows it).
func TestApplyCoalescedSkipsAppliedParts(t *testing.T) {
	db := openNotes(t)
	ctx := context.Background()
	note := func(seq int64, id, text string) fieldsync.Txn {
		return fieldsync.Txn{Seq: seq, Op: fieldsync.OpInsert, Table: "note", RowID: id, Values: fieldsync.Row{"id": id, "owner_id": "ann", "body": text}}
	}
	if _, err := db.ApplyInboxFiles(ctx, []localdb.InboxFile{{Number: 1, Txns: []fieldsync.Txn{note(11, "a", "one")}}}, nil); err != nil {
		t.Fatal(err)
	}
	files := []localdb.InboxFile{
		// 1 was applied above: its part (here not what 1 held) is skipped.
		{Number: 3, Txns: []fieldsync.Txn{note(11, "forged", "x"), note(12, "b", "two"), note(13, "c", "three")},
			Parts: []dx.Part{{Number: 1, Txns: 1}, {Number: 2, Txns: 1}, {Number: 3, Txns: 1}}},
		// 3, applied in this same call, is skipped too.
		{Number: 5, Txns: []fieldsync.Txn{note(13, "forged2", "y"), note(14, "d", "four")},
			Parts: []dx.Part{{Number: 3, Txns: 1}, {Number: 5, Txns: 1}}},
	}
	n, err := db.ApplyInboxFiles(ctx, files, nil)
	if err != nil || n != 2 {
		t.Fatalf("applied %d, %v; want 2 files", n, err)
	}
	for id, want := range map[string]any{"a": "one", "b": "two", "c": "three", "d": "four", "forged": nil, "forged2": nil} {
		if got := body(t, db, id); got != want {
			t.Errorf("note %s: %v, want %v", id, got, want)
		}
	}
	if st, _ := db.State(ctx); st.InboxApplied != 5 {
		t.Fatalf("applied up to %d, want 5", st.InboxApplied)
	}
}
