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
// from a connected user's write on the server (through the HTTP API) to
// the change being applied in the node's local database, on loopback; p50
// and p99 over the runs, on SQLite and on PostgreSQL. Bars: p50 ≤ 5 ms
// and p99 ≤ 20 ms on SQLite, p50 ≤ 15 ms on PostgreSQL.
func BenchmarkPropagation(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchPropagation(b, "sqlite", "") })
	b.Run("postgres", func(b *testing.B) { benchPropagation(b, "postgres", testutil.PostgresURL(b)) })
}

func benchPropagation(b *testing.B, backend, db string) {
	ctx := context.Background()
	dir := b.TempDir()
	srv, url := testutil.StartServer(b, server.Config{DataDir: dir, DB: db})
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
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50, p99 := lat[len(lat)/2], lat[(len(lat)*99)/100]
	b.ReportMetric(ms(p50), "ms-p50")
	b.ReportMetric(ms(p99), "ms-p99")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("propagation_%s_p50 %.2f ms\npropagation_%s_p99 %.2f ms\npropagation_%s_max %.2f ms\n",
		backend, ms(p50), backend, ms(p99), backend, ms(lat[len(lat)-1]))
}
