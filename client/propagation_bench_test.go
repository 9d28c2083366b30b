package client_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// BenchmarkPropagation: with background sync running (Watch), the time
// from a connected user's write on the server to the change being applied
// in the node's local database, on loopback; the median over the runs.
// Bar: under 1 s at the median.
func BenchmarkPropagation(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	srv, url := testutil.StartServer(b, server.Config{DataDir: dir})
	admin := &api.Client{BaseURL: url, Token: srv.Token()}
	for _, r := range []struct {
		table string
		vals  map[string]any
	}{
		{"employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}},
		{"position", map[string]any{"id": "p-ann", "employee_id": "ann"}},
		{"account", map[string]any{"id": "acme", "name": "Acme"}},
		{"account_team", map[string]any{"account_id": "acme", "position_id": "p-ann"}},
		{"contact", map[string]any{"id": "k1", "account_id": "acme"}},
	} {
		if _, err := admin.Create(ctx, r.table, r.vals); err != nil {
			b.Fatal(err)
		}
	}
	added, err := admin.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		b.Fatal(err)
	}
	c, err := client.Init(ctx, client.Config{Dir: filepath.Join(dir, "ann"), Server: url, Node: "ann-laptop", Secret: added.Secret})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Watch(wctx, client.WatchOptions{Every: time.Hour}) }()
	defer func() { cancel(); <-done }()
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("v%d", i)
		start := time.Now()
		if _, err := admin.Update(ctx, "contact", "k1", map[string]any{"first_name": name}); err != nil {
			b.Fatal(err)
		}
		for {
			r, err := c.Get(ctx, "contact", "k1")
			if err == nil && r["first_name"] == name {
				break
			}
			if time.Since(start) > 30*time.Second {
				b.Fatalf("change %d did not arrive in 30 s", i)
			}
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	median := lat[len(lat)/2]
	b.ReportMetric(float64(median.Milliseconds()), "ms-median")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "ms-max")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("propagation_median %d ms\npropagation_max %d ms\n", median.Milliseconds(), lat[len(lat)-1].Milliseconds())
}
