package syncmgr_test

import (
	"context"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/testutil"
)

// TestProbe: a probing start of a node the server has nothing new for is
// answered NothingNew with no session opened (and the sync recorded once,
// after the answer); anything new — an outbox file, a newer extract than
// the node says it has — opens a session as a plain start does.
func TestProbe(t *testing.T) { testutil.ForBackends(t, testProbe) }

func testProbe(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b)
	ctx := context.Background()
	c := f.client("ann-laptop")
	nr, err := f.srv.Store().NodeRouting(ctx, "ann-laptop")
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Probe(ctx, 0, 0, nr.ExtractSeq)
	if err != nil || !st.NothingNew || st.Session != "" {
		t.Fatalf("probe with nothing new: %+v, %v", st, err)
	}
	// The probe that found nothing new is recorded, in the background.
	for i := 0; ; i++ {
		ss, err := f.srv.Store().LastSessions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := ss["ann-laptop"]; ok && s.Result == "ok: nothing new" && !s.Ended.IsZero() {
			break
		}
		if i == 100 {
			t.Fatal("no session of ann-laptop recorded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, err := c.Probe(ctx, 0, 0, nr.ExtractSeq-1); err != nil || st.NothingNew || st.Session == "" {
		t.Fatalf("probe from an older extract: %+v, %v, want a session", st, err)
	} else if _, err := c.End(ctx, st.Session, "ok"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.Create(ctx, "contact", map[string]any{"id": "c1", "account_id": "acme", "first_name": "Cy"}); err != nil {
		t.Fatal(err)
	}
	f.idle(t)
	st, err = c.Probe(ctx, 0, 0, nr.ExtractSeq)
	if err != nil || st.NothingNew || st.Session == "" || len(st.Outbox) == 0 {
		t.Fatalf("probe with an outbox file waiting: %+v, %v, want a session listing it", st, err)
	}
	if _, err := c.End(ctx, st.Session, "ok"); err != nil {
		t.Fatal(err)
	}
}
