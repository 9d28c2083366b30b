package syncmgr_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/internal/testutil"
)

// TestLostOutboxFile: a node saying one of its outbox files is lost gets
// a new Database Extract asked for only when the file is one the router
// wrote and the server no longer holds, and at most once per cooldown: a
// hostile node cannot make the server take its extract over and over, nor
// name files that never were. Every accepted claim is in the status view,
// and so are the recoveries a client reports at a session's end (bounded
// in count and length).
func TestLostOutboxFile(t *testing.T) { testutil.ForBackends(t, testLostOutboxFile) }

func testLostOutboxFile(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b)
	ctx := context.Background()
	if _, err := f.admin.Create(ctx, "contact", map[string]any{"id": "c1", "account_id": "acme", "first_name": "Cy"}); err != nil {
		t.Fatal(err)
	}
	c := f.client("ann-laptop")
	f.idle(t) // the router writes the contact's outbox file
	outbox, err := docking.Numbers(f.srv.Docking().Outbox("ann-laptop"))
	if err != nil {
		t.Fatal(err)
	}
	if len(outbox) == 0 {
		t.Fatal("no outbox file was routed to ann-laptop")
	}
	st, err := c.Start(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	held := outbox[0]
	for _, tc := range []struct {
		number int64
		want   string
	}{
		{held, "the server still has outbox file"},
		{held + 1000, "was never written"},
		{0, "N > 0"},
	} {
		_, err := c.Lost(ctx, st.Session, tc.number, "flipped byte")
		if !errors.Is(err, fieldsync.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("lost %d: %v, want invalid saying %q", tc.number, err, tc.want)
		}
	}
	if nr, err := f.srv.Store().NodeRouting(ctx, "ann-laptop"); err != nil || nr.ExtractWanted {
		t.Fatalf("a refused claim asked for an extract: %+v, %v", nr, err)
	}
	os.Remove(f.srv.Docking().OutboxFile("ann-laptop", held))
	ans, err := c.Lost(ctx, st.Session, held, "flipped byte")
	if err != nil || !ans.ExtractWanted {
		t.Fatalf("lost file claimed: %+v, %v", ans, err)
	}
	for i := 0; ; i++ { // the new extract is taken in the background
		nr, err := f.srv.Store().NodeRouting(ctx, "ann-laptop")
		if err != nil {
			t.Fatal(err)
		}
		if !nr.ExtractWanted {
			break
		}
		if i == 300 {
			t.Fatal("the new extract was not taken")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ans, err = c.Lost(ctx, st.Session, held, "flipped byte")
	if err != nil || ans.ExtractWanted || ans.RetryAfter.IsZero() {
		t.Fatalf("second claim within the cooldown: %+v, %v, want a retry time and no extract", ans, err)
	}
	long := strings.Repeat("é", 1000)
	recovered := []string{long}
	for range 20 {
		recovered = append(recovered, "inbox file set aside")
	}
	if _, err := c.End(ctx, st.Session, "ok", recovered...); err != nil {
		t.Fatal(err)
	}
	view, err := f.srv.Admin().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if view.Recoveries.Day != 1+8 {
		t.Fatalf("damaged-file events in the last day: %d, want the accepted claim and 8 of the client's", view.Recoveries.Day)
	}
	for _, r := range view.Recoveries.Latest {
		if r.Node != "ann-laptop" || len(r.What) > fieldsync.MaxRecoveryText {
			t.Fatalf("event %+v: want ann-laptop's, at most %d bytes", r, fieldsync.MaxRecoveryText)
		}
	}
}

// idle waits until every upload is merged and every logged change routed.
func (f *fleet) idle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := f.srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}
