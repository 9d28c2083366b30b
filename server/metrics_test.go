package server_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// scrape reads a /metrics page into series name (with its labels) ->
// value.
func scrape(t *testing.T, srv *server.Server) map[string]float64 {
	t.Helper()
	ln, err := srv.ListenMetrics()
	if err != nil || ln == nil {
		t.Fatalf("metrics listener: %v %v", ln, err)
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m
}

// status is what GET url answers, without a token.
func status(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b)
}

// moved fails unless each series grew from before to after.
func moved(t *testing.T, before, after map[string]float64, series ...string) {
	t.Helper()
	for _, s := range series {
		if after[s] <= before[s] {
			t.Errorf("%s did not grow: %v -> %v", s, before[s], after[s])
		}
	}
}

// syncWork makes a node, syncs it once with a local write, then writes a
// record the node sees on the server, and waits until that is routed.
func syncWork(t *testing.T, srv *server.Server, url string) {
	t.Helper()
	ctx := context.Background()
	adm := srv.Admin()
	if _, err := adm.Create(ctx, "employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}); err != nil {
		t.Fatal(err)
	}
	added, err := adm.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Init(ctx, client.Config{Dir: filepath.Join(t.TempDir(), "ann"), Server: url, Node: "ann-laptop", Secret: added.Secret})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Apply(ctx, fieldsync.Insert("note", map[string]any{"id": "n1", "owner_id": "ann", "body": "offline"})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(ctx, client.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	if _, err := adm.Create(ctx, "note", map[string]any{"id": "n2", "owner_id": "ann", "body": "from the office"}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
}

// TestMetricsCombined scrapes a server that runs every component before
// and after a node's sync and a write routed to it.
func TestMetricsCombined(t *testing.T) { testutil.ForBackends(t, testMetricsCombined) }

func testMetricsCombined(t *testing.T, b testutil.Backend) {
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t), Schema: notesSchema(t), NoTokenFile: true, MetricsListen: "127.0.0.1:0"})
	for _, u := range []string{url + "/health", url + "/ready"} {
		if code, body := status(t, u); code != http.StatusOK {
			t.Fatalf("GET %s without a token: %d %s", u, code, body)
		}
	}
	before := scrape(t, srv)
	syncWork(t, srv, url)
	after := scrape(t, srv)
	moved(t, before, after, "fieldsync_txnproc_files_written_total", `fieldsync_routed_total{partition="0"}`,
		`fieldsync_outbox_deliveries_total{partition="0"}`, `fieldsync_http_requests_total{code="200",component="sync",route="POST /sync/v1/sessions"}`,
		`fieldsync_http_request_duration_seconds_count{component="sync",route="POST /sync/v1/sessions"}`,
		`fieldsync_http_bytes_total{component="sync",direction="in",route="PUT /sync/v1/uploads/{number}"}`,
		`fieldsync_http_bytes_total{component="sync",direction="out",route="GET /sync/v1/extract"}`,
		"fieldsync_log_last_seq", `fieldsync_nodes{state="active"}`, "fieldsync_outbox_backlog_files_count")
	if after[`fieldsync_outbox_top_backlog_files{node="ann-laptop"}`] < 1 {
		t.Errorf("the node's outbox backlog is not among the top ones: %v", after)
	}
	if after["fieldsync_log_backlog"] != 0 || after[`fieldsync_router_backlog{partition="0"}`] != 0 {
		t.Errorf("backlog when idle: log %v router %v", after["fieldsync_log_backlog"], after[`fieldsync_router_backlog{partition="0"}`])
	}
}

// TestMetricsSplit scrapes a processor,router process beside an
// api,sync,merger,extract one on the same database: each reports its own
// work, and the routing process the backlogs the database holds.
func TestMetricsSplit(t *testing.T) { testutil.ForBackends(t, testMetricsSplit) }

func testMetricsSplit(t *testing.T, b testutil.Backend) {
	dir, db := t.TempDir(), b.DB(t)
	front, url := testutil.StartServer(t, server.Config{DataDir: dir, DB: db, Schema: notesSchema(t), NoTokenFile: true,
		MetricsListen: "127.0.0.1:0", Poll: 20 * time.Millisecond, Only: []string{server.API, server.Sync, server.Merger, server.Extract}})
	back, _ := testutil.StartServer(t, server.Config{DataDir: dir, DB: db, NoTokenFile: true, MetricsListen: "127.0.0.1:0",
		Poll: 20 * time.Millisecond, Only: []string{server.Processor, server.Router}})
	ln, _ := back.ListenMetrics()
	for _, p := range []string{"/health", "/ready"} {
		if code, body := status(t, "http://"+ln.Addr().String()+p); code != http.StatusOK {
			t.Fatalf("GET %s of the processor,router process: %d %s", p, code, body)
		}
	}
	fb, bb := scrape(t, front), scrape(t, back)
	syncWork(t, front, url)
	fa, ba := scrape(t, front), scrape(t, back)
	moved(t, bb, ba, "fieldsync_txnproc_files_written_total", `fieldsync_routed_total{partition="0"}`, "fieldsync_log_last_seq")
	moved(t, fb, fa, `fieldsync_http_requests_total{code="200",component="sync",route="POST /sync/v1/sessions"}`, "fieldsync_log_last_seq")
	if fa["fieldsync_txnproc_files_written_total"] != 0 {
		t.Errorf("the front process, which runs no Transaction Processor, counted %v files", fa["fieldsync_txnproc_files_written_total"])
	}
	if ba[`fieldsync_outbox_top_backlog_files{node="ann-laptop"}`] < 1 {
		t.Errorf("the routing process does not report the node's outbox backlog")
	}
}

// TestReadyDatabaseClosed: /ready answers 503 once the database is gone,
// and when the components are not running; /health still answers.
func TestReadyDatabaseClosed(t *testing.T) { testutil.ForBackends(t, testReadyDatabaseClosed) }

func testReadyDatabaseClosed(t *testing.T, b testutil.Backend) {
	srv, err := server.Open(context.Background(), server.Config{DataDir: t.TempDir(), DB: b.DB(t), NoTokenFile: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	if code, body := status(t, hs.URL+"/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not running") {
		t.Fatalf("/ready before Serve: %d %q", code, body)
	}
	srv.Store().Close()
	if code, body := status(t, hs.URL+"/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, "database unreachable") {
		t.Fatalf("/ready with the database closed: %d %q", code, body)
	}
	if code, _ := status(t, hs.URL+"/health"); code != http.StatusOK {
		t.Fatalf("/health: %d", code)
	}
}
