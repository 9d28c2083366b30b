package syncmgr_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncproto"
)

// TestAckRemovesAfterAnswer: acknowledged outbox files are removed after
// the answer, yet the node's next listing, taken at once, already lacks
// every one of them and still has the files it did not acknowledge.
func TestAckRemovesAfterAnswer(t *testing.T) { testutil.ForBackends(t, testAckRemovesAfterAnswer) }

func testAckRemovesAfterAnswer(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b, noCoalescing)
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

// TestEndRecordedAfterAnswer: a session's end is recorded after its
// answer; until then and after, a late request of the ended session is
// refused (it is not opened again from the record of its start), and
// WaitIdle waits for the record.
func TestEndRecordedAfterAnswer(t *testing.T) { testutil.ForBackends(t, testEndRecordedAfterAnswer) }

func testEndRecordedAfterAnswer(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b)
	ctx := context.Background()
	if _, err := f.admin.Create(ctx, "contact", map[string]any{"id": "c1", "account_id": "acme", "first_name": "Cy"}); err != nil {
		t.Fatal(err)
	}
	f.idle(t)
	c := f.client("ann-laptop")
	st, err := c.Start(ctx, 0)
	if err != nil || st.NothingNew {
		t.Fatalf("start: %+v %v", st, err)
	}
	ended, err := c.End(ctx, st.Session, "ok")
	if err != nil || ended.Result != "ok" || ended.Ended.IsZero() {
		t.Fatalf("end: %+v %v", ended, err)
	}
	if _, err := c.Outbox(ctx, st.Session); !errors.Is(err, fieldsync.ErrNoSession) {
		t.Fatalf("a request of the ended session: %v, want no open session", err)
	}
	f.idle(t)
	rec, err := f.srv.Store().Session(ctx, st.Session)
	if err != nil || rec.Result != "ok" || rec.Ended.IsZero() {
		t.Fatalf("the recorded session: %+v %v", rec, err)
	}
	if _, err := c.Outbox(ctx, st.Session); !errors.Is(err, fieldsync.ErrNoSession) {
		t.Fatalf("a request of the ended session once recorded: %v, want no open session", err)
	}
}

// noCoalescing keeps every routed outbox file as it is.
func noCoalescing(c *server.Config) { c.Coalesce.FanIn = -1 }

// TestEndAcknowledges: a session's end may acknowledge the outbox files
// the node applied (ack_upto): they are removed as by an ack; a negative
// number is refused in one line and the session stays open.
func TestEndAcknowledges(t *testing.T) { testutil.ForBackends(t, testEndAcknowledges) }

func testEndAcknowledges(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b, noCoalescing)
	ctx := context.Background()
	for i := range 4 {
		if _, err := f.admin.Create(ctx, "contact", map[string]any{"id": fmt.Sprintf("c%02d", i), "account_id": "acme", "first_name": "Cy"}); err != nil {
			t.Fatal(err)
		}
		f.idle(t)
	}
	outbox, err := docking.Numbers(f.srv.Docking().Outbox("ann-laptop"))
	if err != nil || len(outbox) < 4 {
		t.Fatalf("ann's outbox: %v, %v", outbox, err)
	}
	c := f.client("ann-laptop")
	st, err := c.Start(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.EndWith(ctx, st.Session, syncproto.EndRequest{Result: "ok", AckUpto: -1})
	if !errors.Is(err, fieldsync.ErrInvalid) || !strings.Contains(err.Error(), "ack_upto") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("end with ack_upto -1: %v, want one line refusing it", err)
	}
	upto := outbox[len(outbox)-2]
	if _, err := c.EndWith(ctx, st.Session, syncproto.EndRequest{Result: "ok", AckUpto: upto}); err != nil {
		t.Fatalf("end of the session the refused end left open: %v", err)
	}
	f.idle(t)
	left, err := docking.Numbers(f.srv.Docking().Outbox("ann-laptop"))
	if err != nil || len(left) != 1 || left[0] != outbox[len(outbox)-1] {
		t.Fatalf("files left on the server: %v, %v; want only %d", left, err, outbox[len(outbox)-1])
	}
}
