package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/schema"
)

// testSnapshotLookup: Lookup finds exactly the rows whose column holds one
// of the values, each once, for lists of every length (short ones padded,
// long ones in several queries), by id as by a foreign key, and only the
// state of its snapshot.
func testSnapshotLookup(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	ctx := context.Background()
	var changes []fieldsync.Change
	var accounts []string
	contacts := map[string][]string{} // account -> contact ids
	for a := 0; a < 700; a++ {
		acc := fmt.Sprintf("a%03d", a)
		accounts = append(accounts, acc)
		changes = append(changes, ins("account", map[string]any{"id": acc, "name": acc}))
		for c := 0; c < a%3; c++ {
			id := fmt.Sprintf("k%03d-%d", a, c)
			contacts[acc] = append(contacts[acc], id)
			changes = append(changes, ins("contact", map[string]any{"id": id, "account_id": acc}))
		}
	}
	apply(t, st, changes...)
	lookup := func(snap fieldsync.Snapshot, table, column string, values []string) []string {
		t.Helper()
		var got []string
		err := snap.Lookup(ctx, table, column, values, func(r fieldsync.Row) error {
			got = append(got, r.ID())
			return nil
		})
		if err != nil {
			t.Fatalf("lookup %s.%s: %v", table, column, err)
		}
		sort.Strings(got)
		return got
	}
	err := st.Snapshot(ctx, func(snap fieldsync.Snapshot) error {
		for _, n := range []int{0, 1, 2, 3, 5, 100, 511, 512, 513, 700} {
			values := accounts[:n]
			var want []string
			for _, acc := range values {
				want = append(want, contacts[acc]...)
			}
			sort.Strings(want)
			if got := lookup(snap, "contact", "account_id", values); !slices.Equal(got, want) {
				t.Errorf("contacts of %d accounts: got %d rows, want %d", n, len(got), len(want))
			}
			if got := lookup(snap, "account", "id", append(slices.Clone(values), "missing")); !slices.Equal(got, values) {
				t.Errorf("%d accounts by id: got %d rows", n, len(got))
			}
		}
		// The snapshot does not see a later write.
		apply(t, st, ins("contact", map[string]any{"id": "late", "account_id": "a001"}))
		if got := lookup(snap, "contact", "account_id", []string{"a001"}); !slices.Equal(got, contacts["a001"]) {
			t.Errorf("the snapshot sees a later write: %v", got)
		}
		r, err := snap.Get(ctx, "account", "a001")
		if err != nil || r["name"] != "a001" {
			t.Errorf("get in the snapshot: %v %v", r, err)
		}
		if err := snap.Lookup(ctx, "contact", "nope", []string{"x"}, func(fieldsync.Row) error { return nil }); !errors.Is(err, fieldsync.ErrInvalid) {
			t.Errorf("lookup by an unknown column: %v", err)
		}
		if err := snap.Lookup(ctx, "nope", "id", []string{"x"}, func(fieldsync.Row) error { return nil }); !errors.Is(err, fieldsync.ErrNotFound) {
			t.Errorf("lookup in an unknown table: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
