package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
)

// TestRefusedChangeAlone: a field user logs a call on one opportunity and
// moves another to won; meanwhile telesales deletes the first. The won
// stage reaches the server; the call is refused alone, reported, and
// dropped locally; the second opportunity is not rolled back.
func TestRefusedChangeAlone(t *testing.T) { testutil.ForBackends(t, testRefusedChangeAlone) }

func testRefusedChangeAlone(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	ann, _, o1 := base(t, w)
	o2 := w.create("opportunity", map[string]any{"id": "deal2", "name": "Deal 2", "account_id": "acme", "stage": "new"})
	w.create("opportunity_team", map[string]any{"id": "t-ann2", "opportunity_id": o2, "position_id": "p-ann"})
	w.settle()
	syncWait(t, ann)

	apply(t, ann, fieldsync.Insert("activity", map[string]any{"id": "call", "opportunity_id": o1, "owner_id": "ann", "type": "call"}))
	apply(t, ann, fieldsync.Update("activity", "call", map[string]any{"description": "went well"}))
	apply(t, ann, fieldsync.Update("opportunity", o2, map[string]any{"stage": "won"}))
	if err := w.api.Delete(ctx, "opportunity", o1); err != nil {
		t.Fatal(err)
	}
	w.settle()
	sum := syncWait(t, ann) // the sync that uploads reports the refusals

	if row, err := w.api.Get(ctx, "opportunity", o2); err != nil || row["stage"] != "won" {
		t.Fatalf("the won stage on the server: %v %v", row, err)
	}
	if _, err := w.api.Get(ctx, "activity", "call"); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("the call on a deleted opportunity reached the server: %v", err)
	}
	if row, ok := has(t, ann, "opportunity", o2); !ok || row["stage"] != "won" {
		t.Fatalf("the won stage was rolled back locally: %v", row)
	}
	if _, ok := has(t, ann, "activity", "call"); ok {
		t.Fatal("the refused call stayed in the local database")
	}
	var refused []fieldsync.Conflict
	for _, c := range sum.Conflicts {
		if c.Kind == fieldsync.ConflictRefused {
			refused = append(refused, c)
		}
	}
	if len(refused) != 2 || refused[0].RowID != "call" || refused[0].Change != 1 ||
		!strings.Contains(refused[0].Reason, `may not point activity.opportunity_id at opportunity "deal"`) ||
		refused[1].Change != 2 || refused[1].DependsOn != 1 {
		t.Fatalf("refusals reported: %+v", sum.Conflicts)
	}
	if len(sum.Refused) != 2 || !strings.Contains(sum.Refused[0], "change 1 of 3 (insert activity call)") {
		t.Fatalf("summary refusals: %q", sum.Refused)
	}
	st, err := ann.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := countKind(st.Conflicts, fieldsync.ConflictRefused); n != 2 {
		t.Fatalf("client status shows %d refusals: %+v", n, st.Conflicts)
	}
	all, err := w.api.Conflicts(ctx, "ann-laptop")
	if err != nil || countKind(all, fieldsync.ConflictRefused) != 2 {
		t.Fatalf("admin conflicts: %+v %v", all, err)
	}
	// Nothing is restored twice, or refused again.
	if sum := roundTrip(t, w, ann); len(sum.Refused) != 0 {
		t.Fatalf("refusals reported again: %q", sum.Refused)
	}
	if row, ok := has(t, ann, "opportunity", o2); !ok || row["stage"] != "won" {
		t.Fatalf("the won stage after another sync: %v", row)
	}
}

func countKind(cs []fieldsync.Conflict, k fieldsync.ConflictKind) int {
	n := 0
	for _, c := range cs {
		if c.Kind == k {
			n++
		}
	}
	return n
}
