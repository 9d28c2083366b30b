package server_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncproto"
)

// retries counts the log lines of components trying a failed step again.
type retries struct{ n atomic.Int32 }

func (h *retries) Enabled(context.Context, slog.Level) bool { return true }
func (h *retries) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *retries) WithGroup(string) slog.Handler            { return h }
func (h *retries) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "trying again") {
		h.n.Add(1)
	}
	return nil
}

func TestTransientFailures(t *testing.T) { testutil.ForBackends(t, testTransientFailures) }

// testTransientFailures: while the txnproc folder cannot be used, the
// processor and router log and retry, and the server goes on serving;
// once it is back, the changes made meanwhile reach the node.
func testTransientFailures(t *testing.T, b testutil.Backend) {
	logs := &retries{}
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t), Logger: slog.New(logs)})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := srv.Admin()
	for _, r := range []struct {
		table string
		vals  map[string]any
	}{
		{"employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}},
		{"position", map[string]any{"id": "p-ann", "name": "East", "employee_id": "ann"}},
		{"account", map[string]any{"id": "acme", "name": "Acme"}},
	} {
		if _, err := adm.Create(ctx, r.table, r.vals); err != nil {
			t.Fatal(err)
		}
	}
	added, err := adm.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	// The txnproc folder becomes a file: every use of it fails.
	dir := srv.Docking().Txnproc()
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.Create(ctx, "account_team", map[string]any{"id": "t-ann", "account_id": "acme", "position_id": "p-ann"}); err != nil {
		t.Fatal(err)
	}
	for logs.n.Load() < 2 {
		if ctx.Err() != nil {
			t.Fatal("no retry logged")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rc := syncproto.NewClient(url, "ann-laptop", added.Secret, nil)
	st, err := rc.Start(ctx, 0)
	if err != nil {
		t.Fatalf("session start while the txnproc folder is unusable: %v", err)
	}
	rc.End(ctx, st.Session, "")
	// Back: the change is routed.
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err = rc.Start(ctx, 0); err != nil || len(st.Outbox) == 0 {
		t.Fatalf("ann's outbox once the folder is back: %v, %v; want the account", st.Outbox, err)
	}
}
