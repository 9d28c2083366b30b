package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// TestPruneOldRecords: maintenance deletes the records of sessions older
// than KeepSessions but each node's latest; the change history older than
// a time, which the routers are done with, goes (as maintenance does with
// KeepHistory) and newer history stays.
func TestPruneOldRecords(t *testing.T) { testutil.ForBackends(t, testPruneOldRecords) }

func testPruneOldRecords(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t), NoTokenFile: true,
		KeepSessions: 50 * time.Millisecond})
	adm := srv.Admin()
	hist := srv.Store().(fieldsync.History)
	if _, err := adm.Create(ctx, "employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}); err != nil {
		t.Fatal(err)
	}
	ann := ruleNode(t, srv, url, "ann")
	for range 2 {
		if _, err := ann.Sync(ctx, client.SyncOptions{Apply: true}); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, srv)
	if h, err := hist.History(ctx, "employee", "ann", 0); err != nil || len(h) == 0 {
		t.Fatalf("ann's history before pruning: %v %v", h, err)
	}
	time.Sleep(100 * time.Millisecond)
	mid := time.Now()
	time.Sleep(10 * time.Millisecond)
	if _, err := adm.Create(ctx, "employee", map[string]any{"id": "bob", "name": "Bob", "login": "bob"}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	if _, err := srv.PruneSessions(ctx); err != nil {
		t.Fatal(err)
	}
	pruner := srv.Store().(interface {
		PruneHistory(context.Context, time.Time) (int64, error)
	})
	if n, err := pruner.PruneHistory(ctx, mid); err != nil || n == 0 {
		t.Fatalf("prune the history older than %v: %d %v", mid, n, err)
	}
	if h, err := hist.History(ctx, "employee", "ann", 0); err != nil || len(h) != 0 {
		t.Fatalf("ann's history after pruning: %v %v", h, err)
	}
	if h, err := hist.History(ctx, "employee", "bob", 0); err != nil || len(h) != 1 {
		t.Fatalf("bob's newer history after pruning: %v %v", h, err)
	}
	if ss, err := srv.Store().Sessions(ctx, "ann-laptop", 100); err != nil || len(ss) != 1 {
		t.Fatalf("ann-laptop's sessions after pruning: %d %v, want its latest", len(ss), err)
	}
}
