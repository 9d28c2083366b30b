package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// TestWatchWokenWithoutPolling: with every component's polling set to an
// hour, a connected user's write still reaches a laptop running Watch:
// the commit wakes the Transaction Processor, its file the router, and the
// router answers the node's waiting news request, which carries the new
// outbox file; the client applies it with no session (the node's latest
// session stays the one before), and its next news request has the server
// delete the file.
func TestWatchWokenWithoutPolling(t *testing.T) {
	testutil.ForBackends(t, testWatchWokenWithoutPolling)
}

func testWatchWokenWithoutPolling(t *testing.T, b testutil.Backend) {
	w := newWorldWith(t, b, nil, func(c *server.Config) { c.Poll = time.Hour })
	ctx := context.Background()
	ann, _, _ := base(t, w)
	syncWait(t, ann)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	synced := make(chan struct{}, 16)
	go func() {
		done <- ann.Watch(wctx, client.WatchOptions{Every: time.Hour, Report: func(client.Summary, error) { synced <- struct{}{} }})
	}()
	defer func() { cancel(); <-done }()
	<-synced // the first sync of Watch
	w.settle()
	time.Sleep(100 * time.Millisecond) // the news request is waiting
	written := time.Now()
	w.create("contact", map[string]any{"id": "c-live", "account_id": "acme", "first_name": "Liv"})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, ok := has(t, ann, "contact", "c-live"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the write never reached the watching node: something waited for a poll")
		}
		time.Sleep(time.Millisecond)
	}
	sessions, err := w.srv.Store().Sessions(ctx, "ann-laptop", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if s.Started.After(written) {
			t.Fatalf("a session was opened for the change (%+v): news should have carried it", s)
		}
	}
	select {
	case <-synced:
		t.Fatal("Watch ran a sync for news that carried its file")
	default:
	}
	outbox := w.srv.Docking().Outbox("ann-laptop")
	for len(listDir(t, outbox)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the applied file stays in the outbox: %v", listDir(t, outbox))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
