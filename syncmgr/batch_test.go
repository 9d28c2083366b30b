package syncmgr_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/internal/testutil"
)

// TestOutboxBatch: the outbox batch answers the node's own committed
// outbox files, byte for byte and in order, stops at the first one that is
// not there, and refuses ranges that are not ranges or are too long in one
// line; a node never gets another node's files through it.
func TestOutboxBatch(t *testing.T) { testutil.ForBackends(t, testOutboxBatch) }

func testOutboxBatch(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b)
	ctx := context.Background()
	for i := range 3 {
		if _, err := f.admin.Create(ctx, "contact", map[string]any{"id": fmt.Sprintf("c%d", i), "account_id": "acme", "first_name": "Cy"}); err != nil {
			t.Fatal(err)
		}
		f.idle(t) // one outbox file each
	}
	outbox, err := docking.Numbers(f.srv.Docking().Outbox("ann-laptop"))
	if err != nil || len(outbox) < 3 {
		t.Fatalf("ann's outbox: %v, %v", outbox, err)
	}
	c := f.client("ann-laptop")
	st, err := c.Start(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64][]byte{}
	var order []int64
	collect := func(num int64, data []byte) error { got[num] = data; order = append(order, num); return nil }
	first, last := outbox[0], outbox[len(outbox)-1]
	if err := c.OutboxBatch(ctx, st.Session, first, last+5, collect); err != nil {
		t.Fatal(err)
	}
	if len(order) != len(outbox) || order[0] != first || order[len(order)-1] != last {
		t.Fatalf("batch %d..%d answered files %v, want %v (none past the committed ones)", first, last+5, order, outbox)
	}
	for _, num := range outbox {
		want, err := os.ReadFile(f.srv.Docking().OutboxFile("ann-laptop", num))
		if err != nil || !bytes.Equal(got[num], want) {
			t.Fatalf("file %d: %d bytes, not the %d on the server (%v)", num, len(got[num]), len(want), err)
		}
	}

	// A file not there is left out (merged outbox files leave gaps).
	if err := os.Remove(f.srv.Docking().OutboxFile("ann-laptop", outbox[1])); err != nil {
		t.Fatal(err)
	}
	order = nil
	if err := c.OutboxBatch(ctx, st.Session, first, last, collect); err != nil || len(order) != len(outbox)-1 || order[0] != first || order[1] != outbox[2] {
		t.Fatalf("batch over a missing file answered %v, %v; want %v without %d", order, err, outbox, outbox[1])
	}

	// Bob's session asks for ann's numbers: he gets only his own outbox.
	bob := f.client("bob-laptop")
	bst, err := bob.Start(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	order = nil
	if err := bob.OutboxBatch(ctx, bst.Session, first, last, collect); err != nil {
		t.Fatal(err)
	}
	for _, num := range order {
		if theirs, _ := os.ReadFile(f.srv.Docking().OutboxFile("ann-laptop", num)); bytes.Equal(got[num], theirs) && len(theirs) > 0 {
			t.Fatalf("bob's batch carried ann's outbox file %d", num)
		}
	}

	for _, q := range []struct{ from, to int64 }{{0, 3}, {5, 4}, {-3, 2}} {
		err := c.OutboxBatch(ctx, st.Session, q.from, q.to, collect)
		if !errors.Is(err, fieldsync.ErrInvalid) || !strings.Contains(err.Error(), "from and to") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("batch %d..%d: %v, want one line refusing the range", q.from, q.to, err)
		}
	}
	if err := c.OutboxBatch(ctx, "", first, last, collect); err == nil {
		t.Fatal("a batch outside a session was answered")
	}
}
