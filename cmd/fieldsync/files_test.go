package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/internal/testutil"
)

// TestAttachAndFetch: a file attached from the command line comes back
// whole; a broken download resumes from its .part file; a download whose
// bytes do not match the file's hash is refused and discarded.
func TestAttachAndFetch(t *testing.T) { testutil.ForBackends(t, testAttachAndFetch) }

func testAttachAndFetch(t *testing.T, b testutil.Backend) {
	url, token := startServer(t, b)
	dir := t.TempDir()
	mustCLI(t, url, token, "record", "create", "account", "id=acme", "name=Acme")
	mustCLI(t, url, token, "record", "create", "opportunity", "id=deal", "name=Deal", "account_id=acme")
	mustCLI(t, url, token, "record", "create", "attachment", "id=a1", "opportunity_id=deal")
	content := bytes.Repeat([]byte("0123456789abcdef"), 20_000)
	src := filepath.Join(dir, "proposal.pdf")
	if err := os.WriteFile(src, content, 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustCLI(t, url, token, "record", "attach", "attachment", "a1", src, "--mode", "requested")
	if !strings.Contains(out, "proposal.pdf") || !strings.Contains(out, "requested") {
		t.Fatalf("attach printed:\n%s", out)
	}
	dst := filepath.Join(dir, "copy.pdf")
	// A previous download broke halfway.
	if err := os.WriteFile(dst+".part", content[:len(content)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, url, token, "record", "fetch", "attachment", "a1", "--out", dst)
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, content) {
		t.Fatalf("resumed download differs (%d bytes)", len(got))
	}
	// A damaged partial download is caught by the hash and discarded.
	bad := filepath.Join(dir, "bad.pdf")
	os.WriteFile(bad+".part", bytes.Repeat([]byte("x"), 1000), 0o644)
	code, _, errs := cli(t, url, token, "record", "fetch", "attachment", "a1", "--out", bad)
	if code != 1 || !strings.Contains(errs, "does not match its reference") {
		t.Fatalf("damaged download: %d %q", code, errs)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Fatal("a damaged download was kept")
	}
	if _, err := os.Stat(bad + ".part"); err == nil {
		t.Fatal("a damaged partial download was kept")
	}
}
