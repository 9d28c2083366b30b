package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncmgr"
)

// TestSyncFetchesOutboxInBatches: a node that was away while many
// transactions were routed to it, one outbox file each, gets them all in
// one outbox batch request, not one request a file, and applies them all.
func TestSyncFetchesOutboxInBatches(t *testing.T) {
	testutil.ForBackends(t, testSyncFetchesOutboxInBatches)
}

func testSyncFetchesOutboxInBatches(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	sch, err := schema.Parse("docs.yaml", []byte(docsYAML))
	if err != nil {
		t.Fatal(err)
	}
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t), Schema: sch, NoTokenFile: true, MetricsListen: "127.0.0.1:0",
		Coalesce: syncmgr.Coalesce{FanIn: -1}}) // every file as routed
	adm := srv.Admin()
	if _, err := adm.Create(ctx, "employee", map[string]any{"id": "ann", "name": "ann", "login": "ann"}); err != nil {
		t.Fatal(err)
	}
	laptop, _ := flowNode(t, srv, url, "ann-laptop")
	const notes = 40
	for i := range notes {
		if _, err := adm.Create(ctx, "note", map[string]any{"id": fmt.Sprintf("n%02d", i), "owner_id": "ann", "body": "from the office"}); err != nil {
			t.Fatal(err)
		}
		waitIdle(t, srv) // routed on its own: one outbox file each
	}
	before := scrape(t, srv)
	sum, err := laptop.Sync(ctx, client.SyncOptions{Apply: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.DownFiles < notes || sum.Applied < notes {
		t.Fatalf("sync downloaded %d and applied %d outbox files, want %d each", sum.DownFiles, sum.Applied, notes)
	}
	for i := range notes {
		if r, err := laptop.Get(ctx, "note", fmt.Sprintf("n%02d", i)); err != nil || r["body"] != "from the office" {
			t.Fatalf("note n%02d on the laptop: %v, %v", i, r, err)
		}
	}
	after := scrape(t, srv)
	requests := func(m map[string]float64, route string) float64 {
		n := 0.0
		for k, v := range m {
			if strings.HasPrefix(k, "fieldsync_http_requests_total{") && strings.Contains(k, `route="`+route+`"`) {
				n += v
			}
		}
		return n
	}
	batches := requests(after, "GET /sync/v1/outbox/batch") - requests(before, "GET /sync/v1/outbox/batch")
	single := requests(after, "GET /sync/v1/outbox/{number}") - requests(before, "GET /sync/v1/outbox/{number}")
	if batches != 1 || single != 0 {
		t.Fatalf("%d outbox files came in %v batch and %v single-file requests, want 1 and 0", sum.DownFiles, batches, single)
	}
}
