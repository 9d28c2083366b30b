package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// TestClientFilesGet: client files get copies a synced attachment file out
// of the node's folder; a file not there yet says in one line why (not
// requested, or requested and not yet synced); client sync counts the
// attachment files it fetched.
func TestClientFilesGet(t *testing.T) { testutil.ForBackends(t, testClientFilesGet) }

func testClientFilesGet(t *testing.T, b testutil.Backend) {
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t)})
	token := srv.Token()
	for _, args := range [][]string{
		{"employee", "id=ann", "name=Ann", "login=ann"},
		{"position", "id=pos-east", "name=East", "employee_id=ann"},
		{"account", "id=acme", "name=Acme"},
		{"opportunity", "id=deal", "name=Deal", "account_id=acme"},
		{"opportunity_team", "opportunity_id=deal", "position_id=pos-east"},
		{"attachment", "id=pub", "opportunity_id=deal"},
		{"attachment", "id=req", "opportunity_id=deal"},
	} {
		mustCLI(t, url, token, append([]string{"record", "create"}, args...)...)
	}
	work := t.TempDir()
	published, requested := bytes.Repeat([]byte("published "), 300), []byte("on request\n")
	for id, content := range map[string][]byte{"pub": published, "req": requested} {
		src := filepath.Join(work, id+".txt")
		if err := os.WriteFile(src, content, 0o644); err != nil {
			t.Fatal(err)
		}
		mode := map[string]string{"pub": "published", "req": "requested"}[id]
		mustCLI(t, url, token, "record", "attach", "attachment", id, src, "--mode", mode)
	}
	secret := regexp.MustCompile(`(?m)^secret\s+(\S+)$`).FindStringSubmatch(mustCLI(t, url, token, "admin", "node", "add", "ann-laptop", "--employee", "ann"))
	if err := srv.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(work, "ann")
	if code, _, errs := clientRun("init", "--dir", dir, "--server", url, "--node", "ann-laptop", "--secret", secret[1]); code != 0 {
		t.Fatalf("client init: %s", errs)
	}
	code, out, errs := clientRun("sync", "--wait", "--dir", dir)
	if code != 0 || !strings.Contains(out, ", 1 attachment files (2.9 kB), ") {
		t.Fatalf("client sync: exit %d: %s%s", code, out, errs)
	}
	dst := filepath.Join(work, "copy.txt")
	if code, out, errs := clientRun("files", "get", "attachment", "pub", "--out", dst, "--dir", dir); code != 0 || !strings.HasPrefix(out, "wrote "+dst+" (3000 bytes, sha256 ") {
		t.Fatalf("files get: exit %d: %s%s", code, out, errs)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, published) {
		t.Fatalf("files get wrote %d bytes", len(got))
	}
	reqOut := filepath.Join(work, "req.copy")
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"files", "get", "attachment", "req", "--out", reqOut}, 1, "comes only on request (fieldsync client request attachment req, then client sync)"},
		{[]string{"files", "get", "attachment", "req"}, 2, "client files get TABLE ID --out PATH"},
		{[]string{"files", "get", "account", "acme", "--out", reqOut}, 1, "table account carries no files"},
		{[]string{"files", "get", "attachment", "ghost", "--out", reqOut}, 1, `no row with id "ghost"`},
	} {
		code, _, errs := clientRun(append(tc.args, "--dir", dir)...)
		if code != tc.code || !strings.Contains(errs, tc.msg) || strings.Count(errs, "\n") != 1 {
			t.Errorf("client %s: exit %d, %q; want %d and one line saying %q", strings.Join(tc.args, " "), code, errs, tc.code, tc.msg)
		}
	}
	if code, _, errs := clientRun("request", "attachment", "req", "--dir", dir); code != 0 {
		t.Fatalf("client request: %s", errs)
	}
	if code, _, errs := clientRun("files", "get", "attachment", "req", "--out", reqOut, "--dir", dir); code != 1 ||
		!strings.Contains(errs, "requested and comes at the next sync (fieldsync client sync)") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("files get of a requested file not yet synced: exit %d, %q", code, errs)
	}
	if _, err := os.Stat(reqOut); !os.IsNotExist(err) {
		t.Fatalf("a failed files get left %s: %v", reqOut, err)
	}
	if code, out, errs := clientRun("sync", "--wait", "--dir", dir); code != 0 || !strings.Contains(out, ", 1 attachment files (11 B), ") {
		t.Fatalf("client sync of the requested file: exit %d: %s%s", code, out, errs)
	}
	if code, _, errs := clientRun("files", "get", "attachment", "req", "--out", reqOut, "--dir", dir, "--json"); code != 0 {
		t.Fatalf("files get of the requested file: %s", errs)
	}
	if got, _ := os.ReadFile(reqOut); !bytes.Equal(got, requested) {
		t.Fatalf("files get of the requested file wrote %q", got)
	}
}
