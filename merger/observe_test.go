package merger_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/merger"
)

// tally is a merger.Recorder that adds up what it is told.
type tally struct {
	mu      sync.Mutex
	changes int64
	kinds   map[fieldsync.ConflictKind]int64
	uploads map[string]int
}

func (t *tally) ChangesMerged(n int64) { t.mu.Lock(); t.changes += n; t.mu.Unlock() }
func (t *tally) Recorded(k fieldsync.ConflictKind, n int64) {
	t.mu.Lock()
	t.kinds[k] += n
	t.mu.Unlock()
}
func (t *tally) UploadDone(result string, _ time.Duration) {
	t.mu.Lock()
	t.uploads[result]++
	t.mu.Unlock()
}

// TestRecorderCountsCommitted: the recorder is told the conflicts,
// refusals and merged changes of the batches that committed, once each,
// however often a batch was rolled back and merged again, and how each
// upload ended.
func TestRecorderCountsCommitted(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		st, dock := notesWorld(t, b)
		ctx := context.Background()
		for _, id := range []string{"n0", "n1"} {
			if _, err := st.Apply(ctx, "", fieldsync.Insert("note", map[string]any{"id": id, "owner_id": "ann", "body": "server"})); err != nil {
				t.Fatal(err)
			}
		}
		// A conflicting update, one that gives n0 to bob (ann would not
		// see it once merged: the batch is rolled back and merged again
		// without it), a fair insert and one the node may not make.
		putUpload(t, dock, 1, []fieldsync.Txn{
			{Op: fieldsync.OpUpdate, Table: "note", RowID: "n1", Values: fieldsync.Row{"body": "road"}, Prev: fieldsync.Row{"body": "old"}},
			{Op: fieldsync.OpUpdate, Table: "note", RowID: "n0", Values: fieldsync.Row{"owner_id": "bob"}},
			note("n2", "ann", "x"), note("n3", "nobody", "x")})
		putUpload(t, dock, 2, []fieldsync.Txn{note("n4", "ann", "x")})
		rec := &tally{kinds: map[fieldsync.ConflictKind]int64{}, uploads: map[string]int{}}
		if _, err := merger.New(st, dock, nil).WithRecorder(rec).MergeNode(ctx, "ann-laptop"); err != nil {
			t.Fatal(err)
		}
		if rec.kinds[fieldsync.ConflictUpdate] != 1 || rec.kinds[fieldsync.ConflictRefused] != 2 || len(rec.kinds) != 2 {
			t.Errorf("recorded by kind: %v, want 1 update and 2 refused", rec.kinds)
		}
		if rec.changes != 3 {
			t.Errorf("changes merged: %d, want 3 (the update, n2, n4)", rec.changes)
		}
		if rec.uploads[merger.UploadMerged] != 2 || len(rec.uploads) != 1 {
			t.Errorf("uploads: %v", rec.uploads)
		}
		all, err := st.Conflicts(ctx, "ann-laptop")
		if err != nil || len(all) != 3 {
			t.Fatalf("conflicts in the database: %d %v, want the 3 told", len(all), err)
		}
	})
}
