package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// TestRecordBatch: record batch applies a file's changes, or standard
// input's, in one transaction; a refused change names its place and
// leaves every other change of the batch unapplied; a file that is no
// batch is refused in one line before anything is sent.
func TestRecordBatch(t *testing.T) {
	srv, url := testutil.StartServer(t, server.Config{Only: []string{server.API}})
	token := srv.Token()
	dir := t.TempDir()
	file := filepath.Join(dir, "changes.json")
	os.WriteFile(file, []byte(`{"changes": [
		{"op": "insert", "table": "account", "id": "acme", "values": {"name": "Acme"}},
		{"op": "insert", "table": "opportunity", "values": {"name": "Deal", "account_id": "acme"}}
	]}`), 0o644)
	code, out, errs := cliInput(url, "", "record", "batch", file, "--token", token)
	if code != 0 || !strings.Contains(out, "applied 2 changes (2 transactions logged)") || !strings.Contains(out, "insert account acme") {
		t.Fatalf("record batch FILE: exit %d %q %s", code, out, errs)
	}
	in := `{"changes":[{"op":"update","table":"account","id":"acme","values":{"industry":"tools"}}]}`
	code, out, errs = cliInput(url, in, "record", "batch", "-", "--json", "--token", token)
	var res struct {
		Changes []map[string]string `json:"changes"`
		Txns    int                 `json:"txns"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Txns != 1 || res.Changes[0]["id"] != "acme" {
		t.Fatalf("record batch - --json: exit %d %q %s", code, out, errs)
	}
	in = `{"changes":[{"op":"update","table":"account","id":"acme","values":{"industry":"none"}},{"op":"insert","table":"account","id":"globex","values":{}}]}`
	code, _, errs = cliInput(url, in, "record", "batch", "-", "--token", token)
	if code != 1 || !strings.Contains(errs, "change 2 of 2: account: column name is required") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("refused batch: exit %d %q", code, errs)
	}
	if row, err := srv.Store().Get(context.Background(), "account", "acme"); err != nil || row["industry"] != "tools" {
		t.Fatalf("a refused batch changed acme: %v %v", row, err)
	}
	code, _, errs = cliInput(url, `[{"op":"delete"}]`, "record", "batch", "-", "--token", token)
	if code != 2 || !strings.Contains(errs, "-: not a batch of changes") {
		t.Fatalf("a list instead of a batch: exit %d %q", code, errs)
	}
}
