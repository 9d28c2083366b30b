package syncmgr_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/internal/testutil"
)

// TestAckRemovesAfterAnswer: acknowledged outbox files are removed after
// the answer, yet the node's next listing, taken at once, already lacks
// every one of them and still has the files it did not acknowledge.
func TestAckRemovesAfterAnswer(t *testing.T) { testutil.ForBackends(t, testAckRemovesAfterAnswer) }

func testAckRemovesAfterAnswer(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b)
	ctx := context.Background()
	for i := range 40 {
		if _, err := f.admin.Create(ctx, "contact", map[string]any{"id": fmt.Sprintf("c%02d", i), "account_id": "acme", "first_name": "Cy"}); err != nil {
			t.Fatal(err)
		}
		f.idle(t) // one outbox file each
	}
	outbox, err := docking.Numbers(f.srv.Docking().Outbox("ann-laptop"))
	if err != nil || len(outbox) < 40 {
		t.Fatalf("ann's outbox: %v, %v", outbox, err)
	}
	c := f.client("ann-laptop")
	st, err := c.Start(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	upto := outbox[len(outbox)-3]
	ans, err := c.Ack(ctx, st.Session, upto)
	if err != nil || ans.Deleted != len(outbox)-2 {
		t.Fatalf("ack up to %d: %+v %v, want %d files", upto, ans, err, len(outbox)-2)
	}
	if _, err := c.End(ctx, st.Session, "ok"); err != nil {
		t.Fatal(err)
	}
	st, err = c.Start(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Outbox) != 2 || st.Outbox[0].Number <= upto {
		t.Fatalf("the listing right after the acknowledgement: %+v, want the 2 files after %d", st.Outbox, upto)
	}
	f.idle(t)
	left, err := docking.Numbers(f.srv.Docking().Outbox("ann-laptop"))
	if err != nil || len(left) != 2 {
		t.Fatalf("files left on the server: %v, %v; want 2", left, err)
	}
}
