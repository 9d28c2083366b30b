package merger_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/merger"
	"github.com/fieldsync/fieldsync/schema"
)

// notesWorld is a server database with the notes schema, ann and bob, and
// ann's node, and a docking folder.
func notesWorld(t *testing.T, b testutil.Backend) (*sqlstore.Store, docking.Folder) {
	t.Helper()
	s, err := schema.Parse("notes.yaml", []byte(testutil.NotesYAML))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := b.Open(t, s)
	ctx := context.Background()
	for _, e := range []string{"ann", "bob"} {
		if _, err := st.Apply(ctx, "", fieldsync.Insert("employee", map[string]any{"id": e, "name": e, "login": e})); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.AddNode(ctx, fieldsync.Node{Name: "ann-laptop", EmployeeID: "ann"}, fieldsync.HashSecret("s")); err != nil {
		t.Fatal(err)
	}
	return st, docking.Folder(t.TempDir())
}

// putUpload writes ann's upload number n into her inbox.
func putUpload(t *testing.T, dock docking.Folder, n int64, txns []fieldsync.Txn) string {
	t.Helper()
	dir := dock.Inbox("ann-laptop")
	os.MkdirAll(dir, 0o755)
	for i := range txns {
		txns[i].Seq, txns[i].Origin = int64(i+1), "ann-laptop"
	}
	if err := dx.WriteFile(dir, docking.FileName(n), dx.Header{Kind: dx.KindUpload, Node: "ann-laptop", Number: uint64(n)}, txns, nil); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, docking.FileName(n))
}

func note(id, owner, body string) fieldsync.Txn {
	return fieldsync.Txn{Op: fieldsync.OpInsert, Table: "note", RowID: id, Values: fieldsync.Row{"id": id, "owner_id": owner, "body": body}}
}

func notes(n int, owner string) []fieldsync.Txn {
	out := make([]fieldsync.Txn, n)
	for i := range out {
		out[i] = note(fmt.Sprintf("n%d", i+1), owner, "x")
	}
	return out
}

func countNotes(t *testing.T, st *sqlstore.Store) int {
	t.Helper()
	n := 0
	if err := fieldsync.Each(context.Background(), st, "note", fieldsync.Query{}, func(fieldsync.Row) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBatchesResumeExactlyOnce: a large upload is merged in batches; a
// crash between two batches leaves the committed ones merged and recorded,
// and a restart merges the rest, each change once. Another writer commits
// between batches while the upload merges.
func TestBatchesResumeExactlyOnce(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		st, dock := notesWorld(t, b)
		ctx := context.Background()
		txns := notes(350, "ann")
		txns[149] = note("n150", "bob", "not ann's") // refused: ann would not see it
		txns[259] = fieldsync.Txn{Op: fieldsync.OpUpdate, Table: "note", RowID: "n5", Values: fieldsync.Row{"body": "edited"}}
		putUpload(t, dock, 1, txns)
		before, _ := st.LogState(ctx)

		m := merger.New(st, dock, nil).WithLimits(merger.Limits{Batch: 100})
		crash := errors.New("crash")
		var seen []int64
		m.SetBetweenBatches(func(node string, upload, done int64) error {
			seen = append(seen, done)
			if done == 100 {
				// The write lock is free between batches: another writer commits.
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				if _, err := st.Apply(wctx, "", fieldsync.Insert("employee", map[string]any{"id": "carol", "name": "carol", "login": "carol"})); err != nil {
					t.Errorf("another writer between batches: %v", err)
				}
			}
			if len(seen) == 2 {
				return crash
			}
			return nil
		})
		if _, err := m.MergeNode(ctx, "ann-laptop"); !errors.Is(err, crash) {
			t.Fatalf("merge: %v, want the crash (batches ended at %v)", err, seen)
		}
		if last, _ := st.LastMerged(ctx, "ann-laptop"); last != 0 {
			t.Fatalf("last merged %d after a crash inside the upload", last)
		}
		// The second batch took more changes (n150's row is not ann's
		// until the batch ends, so later changes might make it so).
		crashedAt := seen[1]
		if p, err := st.MergeProgress(ctx, "ann-laptop", 1); err != nil || p.Done != crashedAt || crashedAt <= 150 {
			t.Fatalf("progress %+v %v, want %d changes done", p, err, crashedAt)
		}
		want := 0
		for _, tx := range txns[:crashedAt] {
			if tx.Op == fieldsync.OpInsert && tx.RowID != "n150" {
				want++
			}
		}
		if n := countNotes(t, st); n != want {
			t.Fatalf("%d notes after two batches, want %d", n, want)
		}

		// A restart resumes after the last committed batch.
		m2 := merger.New(st, dock, nil).WithLimits(merger.Limits{Batch: 100})
		if _, err := m2.MergeNode(ctx, "ann-laptop"); err != nil {
			t.Fatal(err)
		}
		if last, _ := st.LastMerged(ctx, "ann-laptop"); last != 1 {
			t.Fatalf("last merged %d, want 1", last)
		}
		if n := countNotes(t, st); n != 348 {
			t.Fatalf("%d notes, want 348", n)
		}
		if row, _ := st.Get(ctx, "note", "n5"); row["body"] != "edited" {
			t.Fatalf("n5 %v", row)
		}
		refused, _ := st.RefusedChanges(ctx, "ann-laptop", 0)
		if len(refused) != 1 || refused[0].Change != 150 || !strings.Contains(refused[0].Reason, "would not see this note row") {
			t.Fatalf("refusals %+v", refused)
		}
		after, _ := st.LogState(ctx)
		// 348 inserts, one update, carol: each logged once.
		if got := after.LastSeq - before.LastSeq; got != 350 {
			t.Fatalf("%d changes logged, want 350", got)
		}
		merged, _ := st.MergedUploads(ctx, "ann-laptop", 0)
		if len(merged) != 1 || merged[0].FirstSeq != before.LastSeq+1 {
			t.Fatalf("merged uploads %+v (log was at %d)", merged, before.LastSeq)
		}
		if seen[0] != 100 {
			t.Fatalf("batches ended at %v", seen)
		}
	})
}

// TestUploadCaps: each cap on an upload's work refuses with a clear line:
// too many changes or too many bytes once inflated refuse the file whole
// (found without inflating it into memory); too many inserts or too many
// records refuse the rest of the upload as one record.
func TestUploadCaps(t *testing.T) {
	big := strings.Repeat("a", 512<<10)
	for _, c := range []struct {
		name  string
		lim   merger.Limits
		txns  func() []fieldsync.Txn
		whole string // the whole file's refusal
		rest  string // the record refusing the rest
		notes int    // merged
		recs  int    // refusal records
	}{
		{"changes", merger.Limits{MaxChanges: 10}, func() []fieldsync.Txn { return notes(11, "ann") },
			"upload 1: 11 transactions, over the limit of 10", "", 0, 0},
		{"bytes", merger.Limits{MaxBytes: 1 << 20}, func() []fieldsync.Txn {
			txns := notes(40, "ann")
			for i := range txns {
				txns[i].Values["body"] = big
			}
			return txns
		}, "upload 1: more than 1048576 bytes once decompressed, over the limit", "", 0, 0},
		{"inserts", merger.Limits{MaxInserts: 5}, func() []fieldsync.Txn { return notes(8, "ann") },
			"", "upload 1: changes 6 to 8 of 8 refused: the upload inserts more than 5 rows", 5, 1},
		{"records", merger.Limits{MaxRecords: 3}, func() []fieldsync.Txn { return notes(10, "nobody") },
			"", "upload 1: changes 4 to 10 of 10 refused: more than 3 conflicts and refusals", 0, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
				st, dock := notesWorld(t, b)
				ctx := context.Background()
				path := putUpload(t, dock, 1, c.txns())
				if info, _ := os.Stat(path); c.name == "bytes" && info.Size() > 64<<10 {
					t.Fatalf("the compressed upload is %d bytes", info.Size())
				}
				if _, err := merger.New(st, dock, nil).WithLimits(c.lim).MergeNode(ctx, "ann-laptop"); err != nil {
					t.Fatal(err)
				}
				if last, _ := st.LastMerged(ctx, "ann-laptop"); last != 1 {
					t.Fatalf("last merged %d", last)
				}
				whole, _ := st.Refused(ctx, "ann-laptop")
				if c.whole != "" && (len(whole) != 1 || whole[0].Reason != c.whole) || c.whole == "" && len(whole) != 0 {
					t.Fatalf("whole refusals %+v, want %q", whole, c.whole)
				}
				recs, _ := st.RefusedChanges(ctx, "ann-laptop", 0)
				if len(recs) != c.recs || c.rest != "" && (recs[len(recs)-1].Kind != fieldsync.ConflictRefusedRest || recs[len(recs)-1].Reason != c.rest) {
					t.Fatalf("refusal records %+v, want %d ending %q", recs, c.recs, c.rest)
				}
				if n := countNotes(t, st); n != c.notes {
					t.Fatalf("%d notes merged, want %d", n, c.notes)
				}
			})
		})
	}
}

// TestHugeUploadRefused: an upload of 200,001 changes is over the default
// cap, refused whole from its trailer before any change is decoded.
func TestHugeUploadRefused(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		st, dock := notesWorld(t, b)
		ctx := context.Background()
		txns := make([]fieldsync.Txn, 200_001)
		for i := range txns {
			txns[i] = fieldsync.Txn{Op: fieldsync.OpUpdate, Table: "note", RowID: "n1", Values: fieldsync.Row{"body": "x"}}
		}
		putUpload(t, dock, 1, txns)
		if _, err := merger.New(st, dock, nil).MergeNode(ctx, "ann-laptop"); err != nil {
			t.Fatal(err)
		}
		whole, _ := st.Refused(ctx, "ann-laptop")
		if len(whole) != 1 || whole[0].Reason != "upload 1: 200001 transactions, over the limit of 100000" {
			t.Fatalf("refusals %+v", whole)
		}
	})
}

// TestOnRefusal: a refusal stops merging the node's uploads until an
// administrator resumes it, or deactivates the node, as the server says.
func TestOnRefusal(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		st, dock := notesWorld(t, b)
		ctx := context.Background()
		putUpload(t, dock, 1, []fieldsync.Txn{note("a", "ann", "x"), note("b", "nobody", "x")})
		putUpload(t, dock, 2, []fieldsync.Txn{note("c", "ann", "x")})
		m := merger.New(st, dock, nil).WithOnRefusal(merger.OnRefusalStop)
		if _, err := m.MergeNode(ctx, "ann-laptop"); err != nil {
			t.Fatal(err)
		}
		if last, _ := st.LastMerged(ctx, "ann-laptop"); last != 1 {
			t.Fatalf("last merged %d, want 1 (then stopped)", last)
		}
		if why, _ := st.MergeStopped(ctx, "ann-laptop"); why != "upload 1: 1 of its 2 changes refused" {
			t.Fatalf("stopped: %q", why)
		}
		if _, err := st.Get(ctx, "note", "a"); err != nil {
			t.Fatalf("the fair change of upload 1: %v", err)
		}
		if err := st.ResumeMerging(ctx, "ann-laptop"); err != nil {
			t.Fatal(err)
		}
		if _, err := m.MergeNode(ctx, "ann-laptop"); err != nil {
			t.Fatal(err)
		}
		if last, _ := st.LastMerged(ctx, "ann-laptop"); last != 2 {
			t.Fatalf("last merged %d after resume, want 2", last)
		}

		putUpload(t, dock, 3, []fieldsync.Txn{note("d", "nobody", "x")})
		if _, err := merger.New(st, dock, nil).WithOnRefusal(merger.OnRefusalDeactivate).MergeNode(ctx, "ann-laptop"); err != nil {
			t.Fatal(err)
		}
		if n, _, err := st.Node(ctx, "ann-laptop"); err != nil || n.Active {
			t.Fatalf("node after a refusal in deactivate mode: %+v %v", n, err)
		}
	})
}
