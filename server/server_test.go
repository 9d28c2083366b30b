package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// serve runs srv's components on a loopback port until the returned stop
// is called; stop checks that Serve returned cleanly and in time.
func serve(t *testing.T, srv *server.Server) (base string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	return "http://" + ln.Addr().String(), func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("serve: %v", err)
			}
		case <-time.After(server.ShutdownTimeout + 5*time.Second):
			t.Fatal("Serve did not return after its context ended")
		}
	}
}

// get calls an API endpoint with a token and returns the status.
func get(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAdminTokenCreatedOnceAndKept(t *testing.T) {
	testutil.ForBackends(t, testAdminTokenCreatedOnceAndKept)
}

func testAdminTokenCreatedOnceAndKept(t *testing.T, b testutil.Backend) {
	dir, db := filepath.Join(t.TempDir(), "data"), b.DB(t)
	ctx := context.Background()
	s1, err := server.Open(ctx, server.Config{DataDir: dir, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("data folder: %v, mode %v", err, info.Mode())
	}
	info, err := os.Stat(s1.TokenPath())
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, mode %v", err, info.Mode())
	}
	data, _ := os.ReadFile(s1.TokenPath())
	tok := s1.Token()
	if strings.TrimSpace(string(data)) != tok || len(tok) < 40 {
		t.Fatalf("token file holds %q, server uses %q", data, tok)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("temporary file %s left behind", e.Name())
		}
	}
	// The token works over HTTP; others do not.
	base, stop := serve(t, s1)
	if code := get(t, base+"/api/v1/admin/nodes", tok); code != http.StatusOK {
		t.Fatalf("admin token answered %d", code)
	}
	if code := get(t, base+"/api/v1/admin/nodes", fieldsync.NewSecret()); code != http.StatusUnauthorized {
		t.Fatalf("another token answered %d", code)
	}
	stop()
	s1.Close()

	s2, err := server.Open(ctx, server.Config{DataDir: dir, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Token() != tok {
		t.Fatal("second start made a new token")
	}
	base, stop = serve(t, s2)
	defer stop()
	if code := get(t, base+"/api/v1/admin/nodes", tok); code != http.StatusOK {
		t.Fatalf("admin token after restart answered %d", code)
	}
}

// TestTokenFileRegisteredInNewDatabase: a token file beside a database that
// does not know it (the database was replaced) is registered, not replaced.
func TestTokenFileRegisteredInNewDatabase(t *testing.T) {
	testutil.ForBackends(t, testTokenFileRegisteredInNewDatabase)
}

func testTokenFileRegisteredInNewDatabase(t *testing.T, b testutil.Backend) {
	dir := t.TempDir()
	tok := fieldsync.NewSecret()
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{DataDir: dir, DB: b.DB(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if srv.Token() != tok {
		t.Fatalf("server made token %q instead of using the file's", srv.Token())
	}
	if role, err := srv.Store().TokenRole(ctx, fieldsync.HashSecret(tok)); err != nil || role != fieldsync.RoleAdmin {
		t.Fatalf("token of the file not registered: %q %v", role, err)
	}
}

func TestEmptyTokenFileRefused(t *testing.T) { testutil.ForBackends(t, testEmptyTokenFileRefused) }

func testEmptyTokenFileRefused(t *testing.T, b testutil.Backend) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Open(context.Background(), server.Config{DataDir: dir, DB: b.DB(t)}); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Fatalf("empty token file: %v", err)
	}
}

// TestGracefulShutdown: ending Serve's context stops the API; a request
// in flight when it ends still gets its answer.
func TestGracefulShutdown(t *testing.T) { testutil.ForBackends(t, testGracefulShutdown) }

func testGracefulShutdown(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{DataDir: t.TempDir(), DB: b.DB(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base, stop := serve(t, srv)
	// A request whose body is still arriving when shutdown starts.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", base+"/api/v1/records/account", pr)
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	answered := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Logf("request in flight: %v", err)
			answered <- -1
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	if _, err := pw.Write([]byte(`{"id":"acme",`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the server accept the connection and read the headers
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	time.Sleep(200 * time.Millisecond) // let Shutdown begin: it waits for the request
	select {
	case <-stopped:
		t.Fatal("Serve returned with a request in flight")
	default:
	}
	pw.Write([]byte(`"name":"Acme"}`))
	pw.Close()
	if code := <-answered; code != http.StatusCreated {
		t.Fatalf("request in flight at shutdown answered %d", code)
	}
	<-stopped
	if _, err := http.Get(base + "/health"); err == nil {
		t.Fatal("API still answers after shutdown")
	}
	if _, err := srv.Store().Get(ctx, "account", "acme"); err != nil {
		t.Fatalf("the request in flight was not applied: %v", err)
	}
}

func TestBadConfig(t *testing.T) {
	ctx := context.Background()
	if _, err := server.Open(ctx, server.Config{DataDir: t.TempDir(), Only: []string{"mergr"}}); err == nil {
		t.Fatal("unknown component accepted")
	}
	if _, err := server.Open(ctx, server.Config{DataDir: t.TempDir(), RouterPartitions: 2, RouterPartition: 2}); err == nil {
		t.Fatal("partition out of range accepted")
	}
}

// TestOnlyComponents runs the processor and the router without the API
// and checks that they move a change into a txnproc file and route it,
// then stop when their context ends.
func TestOnlyComponents(t *testing.T) { testutil.ForBackends(t, testOnlyComponents) }

func testOnlyComponents(t *testing.T, b testutil.Backend) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.Open(ctx, server.Config{DataDir: dir, DB: b.DB(t), Only: []string{server.Processor, server.Router}, RouterPartition: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, nil) }()
	if _, err := srv.Store().Apply(ctx, "", fieldsync.Change{Op: fieldsync.OpInsert, Table: "account", Values: map[string]any{"name": "Acme"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := srv.Store().LogState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pos, _ := srv.Store().RouterPositions(ctx)
		// The router records its position before it removes the
		// routed file, so wait for both.
		files, _ := docking.In(dir).TxnprocFiles()
		if st.Trimmed == 1 && pos[0] == 1 && len(files) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not processed, routed and removed: %+v %v, files left %v", st, pos, files)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("components did not stop")
	}
}

// TestExtractProcess: an API process that does not run the Database Extract
// asks for it; a process running only the extract takes it.
func TestExtractProcess(t *testing.T) { testutil.ForBackends(t, testExtractProcess) }

func testExtractProcess(t *testing.T, b testutil.Backend) {
	dir, db := t.TempDir(), b.DB(t)
	apiSrv, url := testutil.StartServer(t, server.Config{DataDir: dir, DB: db, Only: []string{server.API}})
	testutil.StartServer(t, server.Config{DataDir: dir, DB: db, Only: []string{server.Extract}})
	c := &api.Client{BaseURL: url, Token: apiSrv.Token()}
	ctx := context.Background()
	if _, err := c.Create(ctx, "employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}); err != nil {
		t.Fatal(err)
	}
	added, err := c.AddNode(ctx, "ann-laptop", "ann")
	if err != nil || added.Secret == "" {
		t.Fatalf("add node: %+v %v", added, err)
	}
	if m, ok := added.Extract.(map[string]any); !ok || m["requested"] != true {
		t.Fatalf("registration answer's extract: %#v", added.Extract)
	}
	// The extract counts as taken once its file is durable.
	deadline := time.Now().Add(15 * time.Second)
	for {
		n, _, err := apiSrv.Store().Node(ctx, "ann-laptop")
		if err != nil {
			t.Fatal(err)
		}
		if !n.Extracted.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the extract process did not take the extract")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(docking.In(dir).Extract("ann-laptop")); err != nil {
		t.Fatalf("the node's extract is recorded, its file: %v", err)
	}
}

// TestFileGC: files no row names are removed once older than the grace
// period; named ones stay.
func TestFileGC(t *testing.T) { testutil.ForBackends(t, testFileGC) }

func testFileGC(t *testing.T, b testutil.Backend) {
	dir := t.TempDir()
	srv, url := testutil.StartServer(t, server.Config{DataDir: dir, DB: b.DB(t)})
	c := &api.Client{BaseURL: url, Token: srv.Token()}
	ctx := context.Background()
	for _, r := range []struct {
		table string
		vals  map[string]any
	}{
		{"account", map[string]any{"id": "acme", "name": "Acme"}},
		{"opportunity", map[string]any{"id": "deal", "name": "Deal", "account_id": "acme"}},
		{"attachment", map[string]any{"id": "a1", "opportunity_id": "deal"}},
	} {
		if _, err := c.Create(ctx, r.table, r.vals); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Attach(ctx, "attachment", "a1", strings.NewReader("first version"), "v1.txt", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Attach(ctx, "attachment", "a1", strings.NewReader("second version"), "v2.txt", ""); err != nil {
		t.Fatal(err)
	}
	files := func() int {
		n, _ := filepath.Glob(filepath.Join(dir, "files", "??", "*"))
		return len(n)
	}
	if files() != 2 {
		t.Fatalf("%d files before GC", files())
	}
	if n, err := srv.GCFiles(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("GC within the grace period removed %d: %v", n, err)
	}
	if n, err := srv.GCFiles(ctx, 0); err != nil || n != 1 || files() != 1 {
		t.Fatalf("GC removed %d (%v), %d left", n, err, files())
	}
	var got strings.Builder
	if _, err := c.Fetch(ctx, "attachment", "a1", &got, 0); err != nil || got.String() != "second version" {
		t.Fatalf("the named file after GC: %q %v", got.String(), err)
	}
}

// TestTokenRotation: deleting admin.token and restarting makes a new token
// and revokes the old one.
func TestTokenRotation(t *testing.T) { testutil.ForBackends(t, testTokenRotation) }

func testTokenRotation(t *testing.T, b testutil.Backend) {
	dir, db := t.TempDir(), b.DB(t)
	ctx := context.Background()
	s1, err := server.Open(ctx, server.Config{DataDir: dir, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	old := s1.Token()
	s1.Close()
	if err := os.Remove(filepath.Join(dir, "admin.token")); err != nil {
		t.Fatal(err)
	}
	s2, err := server.Open(ctx, server.Config{DataDir: dir, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Token() == old {
		t.Fatal("no new token")
	}
	if _, err := s2.Store().TokenRole(ctx, fieldsync.HashSecret(old)); !errors.Is(err, fieldsync.ErrUnauthorized) {
		t.Fatalf("the old token still works: %v", err)
	}
	if role, err := s2.Store().TokenRole(ctx, fieldsync.HashSecret(s2.Token())); err != nil || role != fieldsync.RoleAdmin {
		t.Fatalf("the new token: %q %v", role, err)
	}
}

// TestFirstStartTogether: several processes starting for the first time
// on one data folder and database agree on one administrator token, and
// it works.
func TestFirstStartTogether(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		dir, db := t.TempDir(), b.DB(t)
		ctx := context.Background()
		const n = 6
		tokens := make(chan string, n)
		errs := make(chan error, n)
		for range n {
			go func() {
				srv, err := server.Open(ctx, server.Config{DataDir: dir, DB: db, Only: []string{server.API}})
				if err != nil {
					errs <- err
					return
				}
				defer srv.Close()
				tokens <- srv.Token()
			}()
		}
		seen := map[string]bool{}
		for range n {
			select {
			case tok := <-tokens:
				seen[tok] = true
			case err := <-errs:
				t.Fatalf("open: %v", err)
			}
		}
		if len(seen) != 1 {
			t.Fatalf("%d different tokens made", len(seen))
		}
		srv, err := server.Open(ctx, server.Config{DataDir: dir, DB: db, Only: []string{server.API}})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		if !seen[srv.Token()] {
			t.Fatal("the token file holds another token")
		}
		if role, err := srv.Store().TokenRole(ctx, fieldsync.HashSecret(srv.Token())); err != nil || role != fieldsync.RoleAdmin {
			t.Fatalf("the token does not work: %q %v", role, err)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, ".admin.token-*")); len(left) != 0 {
			t.Fatalf("temporary files left: %v", left)
		}
	})
}
