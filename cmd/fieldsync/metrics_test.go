package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/api"
)

var metricsRE = regexp.MustCompile(`metrics on http://(\S+)/metrics`)

// scrapeCounter reads one series of a /metrics page (0 when absent).
func scrapeCounter(t *testing.T, addr, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if name, v, ok := strings.Cut(sc.Text(), " "); ok && name == series {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

// TestMetricsListenSplitProcesses: a --only processor,router process
// serves /metrics, /health and /ready on --metrics-listen, its figures
// move as the API process beside it takes writes, and both log JSON with
// --log-format json, one access line per API request.
func TestMetricsListenSplitProcesses(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	front := startProc(t, bin, "", "--data", data, "--only", "api,sync", "--log-format", "json")
	addr := front.addr(t)
	back := startProc(t, bin, "", "--data", data, "--only", "processor,router", "--metrics-listen", "127.0.0.1:0", "--log-format", "json")
	back.waitOut(t, "metrics on http://")
	maddr := metricsRE.FindStringSubmatch(back.out.String())[1]
	back.waitLog(t, "holding the Transaction Processor lock")
	for _, p := range []string{"/health", "/ready"} {
		resp, err := http.Get("http://" + maddr + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", p, resp.Status)
		}
	}
	before := scrapeCounter(t, maddr, "fieldsync_txnproc_files_written_total")
	token := strings.TrimSpace(readFile(t, filepath.Join(data, "admin.token")))
	adm := &api.Client{BaseURL: "http://" + addr, Token: token}
	if _, err := adm.Create(context.Background(), "account", map[string]any{"name": "Acme"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for scrapeCounter(t, maddr, "fieldsync_txnproc_files_written_total") <= before {
		if time.Now().After(deadline) {
			t.Fatalf("the processor's files written stayed at %v:\n%s", before, back.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	front.waitLog(t, `"msg":"http request"`)
	for _, line := range strings.Split(strings.TrimSpace(front.log.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == "http request" && (rec["method"] == nil || rec["status"] == nil || rec["path"] == nil) {
			t.Errorf("access log line without method, path or status: %q", line)
		}
	}
}
