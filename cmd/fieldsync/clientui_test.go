package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/client/localui"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// TestClientUIListensOnLoopbackOnly: a --listen address off loopback is
// refused with one line before the folder is opened.
func TestClientUIListensOnLoopbackOnly(t *testing.T) {
	dir := t.TempDir()
	for _, addr := range []string{"0.0.0.0:7171", "192.168.1.5:7171", ":7171"} {
		r := runBin(t, dir, nil, "client", "ui", "--dir", dir, "--listen", addr)
		if r.code == 0 || strings.Count(r.errout, "\n") != 1 || !strings.Contains(r.errout, "loopback only") && !strings.Contains(r.errout, "on loopback") {
			t.Errorf("client ui --listen %s: exit %d, stderr %q; want a one-line refusal", addr, r.code, r.errout)
		}
	}
}

var uiURLRE = regexp.MustCompile(`^the field user's view of node ann-laptop: http://(127\.0\.0\.1:\d+)/\?token=([0-9a-f]+)$`)

// startUI starts `fieldsync client ui` on the node folder dir and returns
// the process, the address and the token it printed.
func startUI(t *testing.T, dir string) (cmd *exec.Cmd, addr, token string, stderr *lockedBuffer) {
	t.Helper()
	cmd = exec.Command(sharedBinary(t), "client", "ui", "--dir", dir, "--listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr = &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := uiURLRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case m := <-found:
		return cmd, m[1], m[2], stderr
	case <-time.After(20 * time.Second):
		t.Fatalf("client ui printed no URL within 20 s; stderr %q", stderr.String())
	}
	return nil, "", "", nil
}

// TestClientUIBinary: the real binary serves a synced node folder: the
// API answers with the printed token, a sync through it brings the
// server's opportunity, the printed URL opens the pages, and SIGINT ends
// the process cleanly, leaving the folder for the next command.
func TestClientUIBinary(t *testing.T) {
	srv, url := testutil.StartServer(t, server.Config{DB: testutil.Backends[0].DB(t)})
	ctx := context.Background()
	admin := &api.Client{BaseURL: url, Token: srv.Token()}
	for _, r := range []struct {
		table string
		vals  map[string]any
	}{
		{"employee", map[string]any{"id": "ann", "name": "Ann Field", "login": "ann"}},
		{"position", map[string]any{"id": "p-ann", "name": "Sales East", "employee_id": "ann"}},
		{"account", map[string]any{"id": "acme", "name": "Acme"}},
		{"opportunity", map[string]any{"id": "deal", "name": "Acme renewal", "account_id": "acme"}},
		{"opportunity_team", map[string]any{"opportunity_id": "deal", "position_id": "p-ann"}},
	} {
		if _, err := admin.Create(ctx, r.table, r.vals); err != nil {
			t.Fatal(err)
		}
	}
	added, err := admin.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ann")
	if code, _, errs := clientRun("init", "--dir", dir, "--server", url, "--node", "ann-laptop", "--secret", added.Secret); code != 0 {
		t.Fatalf("client init: %s", errs)
	}
	// After the extract: a deal only a sync brings.
	for _, r := range []struct {
		table string
		vals  map[string]any
	}{
		{"opportunity", map[string]any{"id": "deal-2", "name": "Acme expansion", "account_id": "acme"}},
		{"opportunity_team", map[string]any{"opportunity_id": "deal-2", "position_id": "p-ann"}},
	} {
		if _, err := admin.Create(ctx, r.table, r.vals); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	cmd, addr, token, stderr := startUI(t, dir)
	base := "http://" + addr
	call := func(method, path string, out any) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return resp.StatusCode
	}
	var st client.Status
	if code := call("GET", "/api/v1/status", &st); code != 200 || st.Node != "ann-laptop" {
		t.Fatalf("status: %d %+v", code, st)
	}
	var row map[string]any
	if code := call("GET", "/api/v1/records/opportunity/deal-2", &row); code != 404 {
		t.Fatalf("the new deal before the sync: %d, want 404", code)
	}
	var sync localui.SyncState
	if code := call("POST", "/api/v1/sync", &sync); code != http.StatusAccepted {
		t.Fatalf("start a sync: %d", code)
	}
	for sync.Running {
		call("GET", "/api/v1/sync?after="+strconv.FormatInt(sync.Version, 10), &sync)
	}
	if sync.Error != "" || sync.Last == nil || sync.Last.DownFiles == 0 {
		t.Fatalf("sync through the binary: %+v", sync)
	}
	var page struct{ Rows []map[string]any }
	if code := call("GET", "/api/v1/records/opportunity", &page); code != 200 || len(page.Rows) != 2 {
		t.Fatalf("opportunities after the sync: %d %v", code, page.Rows)
	}
	openPages(t, base, token)
	stopUI(t, cmd, addr, stderr)
	if code, out, errs := clientRun("status", "--dir", dir); code != 0 || !strings.Contains(out, "ann-laptop") {
		t.Fatalf("client status after the view stopped: exit %d %s%s", code, out, errs)
	}
}

// openPages opens the printed URL as a browser does (the token becomes a
// cookie) and the opportunities' page.
func openPages(t *testing.T, base, token string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	for _, p := range [][2]string{{"/?token=" + token, "Sync now"}, {"/records/opportunity", "Acme expansion"}} {
		path, want := p[0], p[1]
		resp, err := browser.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) || !strings.Contains(string(body), "ann-laptop") {
			t.Fatalf("page %s: %d, want it to show %q:\n%s", path, resp.StatusCode, want, body)
		}
	}
}

// stopUI sends SIGINT and checks that the process exits 0, having
// stopped listening.
func stopUI(t *testing.T, cmd *exec.Cmd, addr string, stderr *lockedBuffer) {
	t.Helper()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("client ui after SIGINT: %v; stderr %q", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("client ui still running 20 s after SIGINT; stderr %q", stderr.String())
	}
	if strings.Contains(stderr.String(), "ERROR") {
		t.Fatalf("client ui logged an error: %q", stderr.String())
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after the exit", addr)
	}
}
