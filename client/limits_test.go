package client_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

func TestUploadsWaitTheirTurn(t *testing.T) { testutil.ForBackends(t, testUploadsWaitTheirTurn) }

// testUploadsWaitTheirTurn: with no merger running, a client's uploads
// pile up; past the server's window it keeps the later ones for a later
// sync instead of failing.
func testUploadsWaitTheirTurn(t *testing.T, b testutil.Backend) {
	w := newWorldWith(t, b, nil, func(c *server.Config) {
		c.Only = []string{server.API, server.Sync, server.Processor, server.Router, server.Extract}
		c.Limits.UploadsAhead = 3
	})
	ann, _, opp := base(t, w)
	ctx := context.Background()
	for i := range 5 {
		apply(t, ann, fieldsync.Change{Op: fieldsync.OpUpdate, Table: "opportunity", ID: opp, Values: map[string]any{"name": fmt.Sprint("Deal ", i)}})
		syncWait(t, ann)
	}
	entries, err := os.ReadDir(w.srv.Docking().Inbox("ann-laptop"))
	if err != nil || len(entries) != 3 {
		t.Fatalf("ann's server inbox: %d files, %v; want the 3 the window takes", len(entries), err)
	}
	if st, err := ann.Status(ctx); err != nil || st.PendingUploads != 5 {
		t.Fatalf("ann's status: %+v, %v; want 5 uploads pending", st, err)
	}
}
