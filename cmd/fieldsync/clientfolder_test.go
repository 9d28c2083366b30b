package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/fieldsync/fieldsync/internal/testutil"
)

// clientRun runs one client command line in-process.
func clientRun(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"client"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// pointAt rewrites a node folder's server address (node.json).
func pointAt(t *testing.T, dir, url string) {
	t.Helper()
	path := filepath.Join(dir, "node.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var conf map[string]any
	if err := json.Unmarshal(raw, &conf); err != nil {
		t.Fatal(err)
	}
	conf["server"] = url
	raw, _ = json.Marshal(conf)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestClientFolderFailures: client status shows the last failed sync,
// when and why, not "ok"; in a read-only folder, client status and list
// work and client sync and create fail, each in one line saying the folder
// is read-only.
func TestClientFolderFailures(t *testing.T) { testutil.ForBackends(t, testClientFolderFailures) }

func testClientFolderFailures(t *testing.T, b testutil.Backend) {
	url, token := startServer(t, b)
	mustCLI(t, url, token, "record", "create", "employee", "id=ann", "name=Ann Field", "login=ann")
	secret := regexp.MustCompile(`(?m)^secret\s+(\S+)$`).FindStringSubmatch(mustCLI(t, url, token, "admin", "node", "add", "ann-laptop", "--employee", "ann"))
	dir := filepath.Join(t.TempDir(), "ann")
	if code, _, errs := clientRun("init", "--dir", dir, "--server", url, "--node", "ann-laptop", "--secret", secret[1]); code != 0 {
		t.Fatalf("client init: %s", errs)
	}
	if code, _, errs := clientRun("sync", "--wait", "--dir", dir); code != 0 {
		t.Fatalf("client sync: %s", errs)
	}
	pointAt(t, dir, "http://127.0.0.1:1")
	if code, _, errs := clientRun("sync", "--wait", "--dir", dir); code != 1 || strings.Count(errs, "\n") != 1 {
		t.Fatalf("client sync to nowhere: exit %d, %q", code, errs)
	}
	_, out, _ := clientRun("status", "--dir", dir)
	if !regexp.MustCompile(`(?m)^result +failed: .*cannot reach`).MatchString(out) || !regexp.MustCompile(`(?m)^last failure +20\d\d-\S+ failed: `).MatchString(out) {
		t.Fatalf("client status after a failed sync:\n%s", out)
	}
	pointAt(t, dir, url)

	folderReadOnly(t, dir)
	code, out, errs := clientRun("status", "--dir", dir)
	if code != 0 || !strings.Contains(out, "not writable: "+dir+" is read-only") {
		t.Fatalf("client status in a read-only folder: exit %d: %s%s", code, out, errs)
	}
	if code, out, errs := clientRun("list", "employee", "--dir", dir); code != 0 || !strings.Contains(out, "Ann Field") {
		t.Fatalf("client list in a read-only folder: exit %d: %s%s", code, out, errs)
	}
	for _, args := range [][]string{{"sync", "--wait"}, {"sync"}, {"create", "account", "name=Acme"}, {"apply"}} {
		code, _, errs := clientRun(append(args, "--dir", dir)...)
		if code != 1 || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "fieldsync: cannot ") || !strings.Contains(errs, dir+" is read-only (") {
			t.Fatalf("client %s in a read-only folder: exit %d, %q", args[0], code, errs)
		}
	}
}

// folderReadOnly makes dir read-only until the test ends: as root (whom
// permissions do not stop) a read-only bind mount, otherwise permissions.
// A root that may not mount skips the test.
func folderReadOnly(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() == 0 {
		if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
			t.Skipf("as root a read-only folder needs a read-only bind mount, which this system refuses: %v", err)
		}
		t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
		if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
			t.Skipf("as root a read-only folder needs a read-only bind mount, which this system refuses: %v", err)
		}
		return
	}
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err == nil {
			os.Chmod(path, info.Mode().Perm()&^0o222)
			t.Cleanup(func() { os.Chmod(path, info.Mode().Perm()) })
		}
		return nil
	})
}
