package router_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/router"
	"github.com/fieldsync/fieldsync/txnproc"
)

func TestRunRetries(t *testing.T) { testutil.ForBackends(t, testRunRetries) }

// testRunRetries: the processor and a router whose steps fail for a
// while (the process out of file descriptors) go on running, and once
// the failures stop every change is routed, once.
func testRunRetries(t *testing.T, b testutil.Backend) {
	e := newEnv(t, b, 1)
	e.base()
	e.mustPump()
	var procFails, routerFails atomic.Int32
	emfile := func(n *atomic.Int32) func(string) error {
		return func(string) error {
			if n.Add(1) <= 3 {
				return fmt.Errorf("open txnproc: %w", syscall.EMFILE)
			}
			return nil
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := txnproc.New(e.st, txnproc.Config{Docking: e.docking, Fault: emfile(&procFails)})
	r := router.New(e.st, router.Config{Docking: e.docking, Fault: emfile(&routerFails)})
	done := make(chan error, 2)
	go func() { done <- p.Run(ctx, e.st.Changed) }()
	go func() { done <- r.Run(ctx, nil) }()
	e.must(ins("account_team", map[string]any{"id": "t-ann", "account_id": "acme", "position_id": "p-ann"}))
	// Three failures of each, then the two steps of the file of each.
	deadline := time.Now().Add(30 * time.Second)
	for procFails.Load() < 5 || routerFails.Load() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("not routed after injected failures (processor %d, router %d)", procFails.Load(), routerFails.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("Run returned %v, want nil at the end of its context", err)
		}
	}
	if !slices.Contains(e.outbox("ann-laptop"), "insert account/acme") {
		t.Fatalf("ann's outbox %v lacks the account", e.outbox("ann-laptop"))
	}
	e.checkNode("ann-laptop", "ann", "after retries")
}
