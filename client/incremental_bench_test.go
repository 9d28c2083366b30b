package client_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/localdb"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/sqlite"
)

// BenchmarkIncrementalSync: a node sees 1,000 contacts; 4 connected users
// update them, one row per transaction through the HTTP API, 1,000 in all,
// while the node is away; then the node runs one `client sync` (repeated
// until the last write is in its local database). The figure runs from
// the last write's answer to the change applied locally. Beside it, the
// machine's limit for the same work, measured in the same run: a prepared
// bulk update of the same 1,000 rows in a local database file, plus one
// HTTP transfer on loopback of the bytes the sync downloaded. Bar: ≤ 50 ms
// and within 4× of the limit.
//
//	go test -run XXX -bench IncrementalSync -benchtime 3x ./client/
func BenchmarkIncrementalSync(b *testing.B) {
	const rows, writers = 1000, 4
	ctx := context.Background()
	s := startBenchServer(b, server.Config{})
	seedTeam(s, "ann", "acme")
	var seed []fieldsync.Change
	for j := 0; j < rows; j++ {
		seed = append(seed, ins("contact", map[string]any{"id": fmt.Sprintf("k%04d", j), "account_id": "acme", "first_name": "First", "last_name": "Last"}))
	}
	s.apply(1000, seed)
	c := s.node("ann-laptop", "ann")
	s.settle(time.Minute)
	if _, err := c.Sync(ctx, client.SyncOptions{Apply: true}); err != nil {
		b.Fatal(err)
	}
	var took, limit time.Duration
	var files int
	var bytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		last := fmt.Sprintf("v%d-last", i)
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := w; j < rows-1; j += writers {
					if _, err := s.api.Update(ctx, "contact", fmt.Sprintf("k%04d", j), map[string]any{"last_name": fmt.Sprintf("v%d-%d", i, j)}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if _, err := s.api.Update(ctx, "contact", fmt.Sprintf("k%04d", rows-1), map[string]any{"last_name": last}); err != nil {
			b.Fatal(err)
		}
		// The node is a process of its own in the field: the garbage the
		// server made taking the writes is collected before the sync, not
		// during it on the node's time.
		runtime.GC()
		b.StartTimer()
		start := time.Now()
		for {
			sum, err := c.Sync(ctx, client.SyncOptions{Apply: true})
			if err != nil {
				b.Fatal(err)
			}
			files += sum.DownFiles
			bytes += sum.DownBytes
			if r, err := c.Get(ctx, "contact", fmt.Sprintf("k%04d", rows-1)); err == nil && r["last_name"] == last {
				break
			}
		}
		took += time.Since(start)
		b.StopTimer()
		limit += bulkUpdateLimit(b, rows) + transferLimit(b, bytes/int64(i+1))
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
	b.ReportMetric(ms(took), "ms/sync")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("incremental_1000_writes_to_applied %.1f ms   bar ≤ 50\n", ms(took))
	fmt.Printf("incremental_1000_writes_machine_limit %.1f ms (prepared bulk update of the rows + one HTTP transfer of the bytes)\n", ms(limit))
	fmt.Printf("incremental_1000_writes_ratio %.2f   bar ≤ 4\n", float64(took)/float64(limit))
	fmt.Printf("incremental_1000_writes_outbox_files %.0f files, %.0f B\n", float64(files)/n, float64(bytes)/n)
}

// bulkUpdateLimit times one prepared UPDATE of rows contacts in one
// transaction, in a fresh local database file made as a node's is.
func bulkUpdateLimit(b *testing.B, rows int) time.Duration {
	b.Helper()
	path := filepath.Join(b.TempDir(), "limit.db")
	db, err := sqlite.OpenDB(path, true)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, q := range localdb.TableDDL(schema.Default().Table("contact")) {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	tx, _ := db.Begin()
	for j := 0; j < rows; j++ {
		tx.Exec(`INSERT INTO "contact" (id, account_id, first_name, last_name) VALUES (?, 'acme', 'First', 'Last')`, fmt.Sprintf("k%04d", j))
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	tx, _ = db.Begin()
	stmt, err := tx.Prepare(`UPDATE "contact" SET last_name = ? WHERE id = ?`)
	if err != nil {
		b.Fatal(err)
	}
	for j := 0; j < rows; j++ {
		stmt.Exec(fmt.Sprintf("v-%d", j), fmt.Sprintf("k%04d", j))
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// transferLimit times one HTTP GET on loopback of n bytes.
func transferLimit(b *testing.B, n int64) time.Duration {
	b.Helper()
	body := make([]byte, n)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(body) }))
	defer ts.Close()
	start := time.Now()
	resp, err := http.Get(ts.URL)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return time.Since(start)
}
