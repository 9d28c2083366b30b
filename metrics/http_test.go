package metrics_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/metrics"
)

// TestHTTPRefusedStalledUpload: a request whose body stalls is answered
// when its handler refuses it without reading the body, or after reading
// past an http.MaxBytesReader limit, as it would be without the metrics
// around the handler; the request is still counted under its route.
func TestHTTPRefusedStalledUpload(t *testing.T) {
	m := metrics.New(metrics.Options{})
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /refuse", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too many requests", http.StatusTooManyRequests)
	})
	mux.HandleFunc("PUT /limit", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1024)); err != nil {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: m.HTTP("sync", slog.New(slog.DiscardHandler), mux)}
	go hs.Serve(ln)
	defer hs.Close()
	for _, c := range []struct {
		path     string
		sent     int // body bytes sent before the client stalls
		declared int // the Content-Length it declared
		want     int
	}{
		{"/refuse", 10, 1 << 20, http.StatusTooManyRequests},
		{"/limit", 2048, 100 << 10, http.StatusRequestEntityTooLarge},
	} {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		// A safety net so that a regression fails instead of hanging.
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", c.path, c.declared, strings.Repeat("x", c.sent))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("PUT %s with a stalled body of %d bytes: no answer: %v", c.path, c.declared, err)
		}
		if resp.StatusCode != c.want {
			t.Errorf("PUT %s: %s, want %d", c.path, resp.Status, c.want)
		}
		resp.Body.Close()
		conn.Close()
	}
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]float64{}
	for _, f := range families {
		if f.GetName() == "fieldsync_http_requests_total" {
			for _, mm := range f.GetMetric() {
				for _, l := range mm.GetLabel() {
					if l.GetName() == "route" {
						routes[l.GetValue()] += mm.GetCounter().GetValue()
					}
				}
			}
		}
	}
	if routes["PUT /refuse"] != 1 || routes["PUT /limit"] != 1 {
		t.Errorf("requests by route: %v", routes)
	}
}
