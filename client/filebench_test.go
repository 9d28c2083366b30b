package client_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// randReader yields n pseudo-random bytes without holding them.
type randReader struct {
	rng *rand.Rand
	n   int64
}

func (r *randReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	for i := range p {
		p[i] = byte(r.rng.Uint32())
	}
	r.n -= int64(len(p))
	return len(p), nil
}

// peakHeap samples the heap in use until stop is closed.
func peakHeap(stop <-chan struct{}) *atomic.Uint64 {
	var peak atomic.Uint64
	go func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return &peak
}

// BenchmarkFileTransfer256MB: a node fetches a 256 MB published attachment
// on loopback (ranged download, hashed as it arrives, fsynced), against a
// plain net/http download of the same bytes to a file (fsynced) in the same
// run. Bar: at least 0.8 of the plain download, with flat memory (the file
// is never held whole: the peak heap is printed).
func BenchmarkFileTransfer256MB(b *testing.B) {
	const size = 256 << 20
	ctx := context.Background()
	dir := b.TempDir()
	srv, url := testutil.StartServer(b, server.Config{DataDir: dir, MaxFileBytes: 512 << 20})
	admin := &api.Client{BaseURL: url, Token: srv.Token()}
	for _, r := range []struct {
		table string
		vals  map[string]any
	}{
		{"employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}},
		{"position", map[string]any{"id": "p-ann", "employee_id": "ann"}},
		{"account", map[string]any{"id": "acme", "name": "Acme"}},
		{"opportunity", map[string]any{"id": "deal", "name": "Deal", "account_id": "acme"}},
		{"opportunity_team", map[string]any{"opportunity_id": "deal", "position_id": "p-ann"}},
		{"attachment", map[string]any{"id": "big", "opportunity_id": "deal"}},
	} {
		if _, err := admin.Create(ctx, r.table, r.vals); err != nil {
			b.Fatal(err)
		}
	}
	row, err := admin.Attach(ctx, "attachment", "big", &randReader{rng: rand.New(rand.NewPCG(7, 7)), n: size}, "big.bin", "published")
	if err != nil {
		b.Fatal(err)
	}
	ref, _ := fieldsync.ParseFileRef(row["file"].(string))
	added, err := admin.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		b.Fatal(err)
	}
	c, err := client.Init(ctx, client.Config{Dir: filepath.Join(dir, "ann"), Server: url, Node: "ann-laptop", Secret: added.Secret})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Sync(ctx, client.SyncOptions{Apply: true}); err != nil { // rows and a first copy
		b.Fatal(err)
	}
	stored := filepath.Join(dir, "files", ref.SHA256[:2], ref.SHA256)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, stored) }))
	defer plain.Close()

	var ours, base time.Duration
	var peak uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Plain net/http: GET the file into a file, fsync.
		start := time.Now()
		resp, err := http.Get(plain.URL)
		if err != nil {
			b.Fatal(err)
		}
		f, _ := os.Create(filepath.Join(dir, "plain.bin"))
		if _, err := io.Copy(f, resp.Body); err != nil {
			b.Fatal(err)
		}
		f.Sync()
		f.Close()
		resp.Body.Close()
		base += time.Since(start)
		os.Remove(filepath.Join(dir, "plain.bin"))

		// fieldsync: the node lost its copy; the next sync fetches it.
		os.Remove(c.FilePath(ref))
		stop := make(chan struct{})
		p := peakHeap(stop)
		start = time.Now()
		sum, err := c.Sync(ctx, client.SyncOptions{Apply: true})
		ours += time.Since(start)
		close(stop)
		if err != nil || sum.FileBytes != size {
			b.Fatalf("sync fetched %d bytes: %v", sum.FileBytes, err)
		}
		peak = max(peak, p.Load())
	}
	mb := float64(size) / (1 << 20) * float64(b.N)
	oursRate, baseRate := mb/ours.Seconds(), mb/base.Seconds()
	b.ReportMetric(oursRate, "MB/s")
	b.ReportMetric(baseRate, "plain-MB/s")
	b.ReportMetric(oursRate/baseRate, "ratio")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("file_transfer_256mb %.0f MB/s\nplain_http_256mb %.0f MB/s\nfile_transfer_ratio %.2f\nfile_transfer_peak_heap %.1f MB\n",
		oursRate, baseRate, oursRate/baseRate, float64(peak)/1e6)
}
