package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/internal/testutil"
)

// TestClientLogFormat: with --log-format json a client command logs the
// client's events on stderr as JSON lines naming the component and node;
// without it, nothing is logged; another format is a usage error.
func TestClientLogFormat(t *testing.T) { testutil.ForBackends(t, testClientLogFormat) }

func testClientLogFormat(t *testing.T, b testutil.Backend) {
	url, token := startServer(t, b)
	mustCLI(t, url, token, "record", "create", "employee", "id=ann", "name=Ann", "login=ann")
	out := mustCLI(t, url, token, "admin", "node", "add", "ann-laptop", "--employee", "ann")
	secret := regexp.MustCompile(`(?m)^secret\s+(\S+)$`).FindStringSubmatch(out)
	if secret == nil {
		t.Fatalf("node add printed:\n%s", out)
	}
	dir := filepath.Join(t.TempDir(), "ann")
	local := func(args ...string) (int, string, string) {
		var o, e bytes.Buffer
		code := run(context.Background(), append(args, "--dir", dir), &o, &e)
		return code, o.String(), e.String()
	}
	if code, _, errs := local("client", "init", "--server", url, "--node", "ann-laptop", "--secret", secret[1], "--log-format", "xml"); code != 2 ||
		!strings.Contains(errs, `--log-format "xml": choose text or json`) {
		t.Fatalf("--log-format xml: exit %d, %q", code, errs)
	}
	if code, _, errs := local("client", "init", "--server", url, "--node", "ann-laptop", "--secret", secret[1]); code != 0 || errs != "" {
		t.Fatalf("client init: exit %d, stderr %q", code, errs)
	}
	mustCLI(t, url, token, "record", "create", "employee", "id=bob", "name=Bob", "login=bob") // the new extract is at a later position
	mustCLI(t, url, token, "admin", "node", "reextract", "ann-laptop")
	code, _, errs := local("client", "sync", "--wait", "--log-format", "json")
	if code != 0 {
		t.Fatalf("client sync: exit %d: %s", code, errs)
	}
	rebuilt := false
	for _, line := range strings.Split(strings.TrimSpace(errs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			continue // the sync's own lines
		}
		if rec["component"] != "Remote client" || rec["node"] != "ann-laptop" || !strings.HasSuffix(rec["time"].(string), "Z") {
			t.Errorf("log line %q", line)
		}
		rebuilt = rebuilt || rec["msg"] == "local data rebuilt from a new Database Extract"
	}
	if !rebuilt {
		t.Fatalf("no log line of the rebuilt local data on stderr:\n%s", errs)
	}
	if code, _, errs := local("client", "status"); code != 0 || strings.Contains(errs, "level=") {
		t.Fatalf("client status without --log-format: exit %d, stderr %q", code, errs)
	}
}
