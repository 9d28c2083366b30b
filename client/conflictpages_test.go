package client_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/syncproto"
)

// recordConflicts records n conflicts of a node's upload number, as the
// merger would.
func (w *world) recordConflicts(node string, number int64, n int) {
	w.t.Helper()
	err := w.srv.Store().MergeUpload(context.Background(), node, number, func(tx fieldsync.MergeTx) error {
		for i := range n {
			c := fieldsync.Conflict{Node: node, Upload: number, Kind: fieldsync.ConflictUpdate, Table: "account", RowID: "acme",
				Field: "name", Winner: `"Acme"`, Loser: fmt.Sprintf(`"Acme %d"`, i)}
			if err := tx.RecordConflict(context.Background(), c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

func TestConflictPages(t *testing.T) { testutil.ForBackends(t, testConflictPages) }

// testConflictPages: a session start answers only the conflicts the node
// has not seen, a page at a time; the client fetches the other pages in
// the same sync and ends up with all of them, once.
func testConflictPages(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	ann, _, _ := base(t, w)
	added, err := w.api.AddNode(ctx, "cat-laptop", "ann")
	if err != nil {
		t.Fatal(err)
	}
	w.recordConflicts("ann-laptop", 1, 250)
	w.recordConflicts("cat-laptop", 1, 120)
	w.recordConflicts("ann-laptop", 2, 5)

	// The protocol: a page of the unseen ones, and whether more follow.
	rc := syncproto.NewClient(w.url, "cat-laptop", added.Secret, nil)
	st, err := rc.StartAfter(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Conflicts) != fieldsync.DefaultConflictPage || !st.ConflictsMore {
		t.Fatalf("start: %d conflicts, more %v; want a page of %d and more", len(st.Conflicts), st.ConflictsMore, fieldsync.DefaultConflictPage)
	}
	last := st.Conflicts[len(st.Conflicts)-1].ID
	next, err := rc.StateAfter(ctx, st.Session, last)
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Conflicts) != 20 || next.ConflictsMore || next.Conflicts[0].ID <= last {
		t.Fatalf("state after %d: %d conflicts, more %v; want the last 20", last, len(next.Conflicts), next.ConflictsMore)
	}
	for _, c := range append(st.Conflicts, next.Conflicts...) {
		if c.Node != "cat-laptop" {
			t.Fatalf("cat-laptop was told of %s's conflict %d", c.Node, c.ID)
		}
	}
	seen := next.Conflicts[len(next.Conflicts)-1].ID
	rc.End(ctx, st.Session, "")
	if st, err = rc.StartAfter(ctx, 0, seen); err != nil || len(st.Conflicts) != 0 || st.ConflictsMore {
		t.Fatalf("start after the last seen: %d conflicts, more %v, %v; want none", len(st.Conflicts), st.ConflictsMore, err)
	}
	rc.End(ctx, st.Session, "")

	// The client: every unseen conflict in one sync, then none.
	sum := syncWait(t, ann)
	if len(sum.Conflicts) != 255 {
		t.Fatalf("ann's sync reported %d conflicts, want 255", len(sum.Conflicts))
	}
	for i := 1; i < len(sum.Conflicts); i++ {
		if sum.Conflicts[i].ID <= sum.Conflicts[i-1].ID {
			t.Fatalf("conflict %d reported after %d", sum.Conflicts[i].ID, sum.Conflicts[i-1].ID)
		}
	}
	if sum = syncWait(t, ann); len(sum.Conflicts) != 0 {
		t.Fatalf("ann's next sync reported %d conflicts again", len(sum.Conflicts))
	}
}
