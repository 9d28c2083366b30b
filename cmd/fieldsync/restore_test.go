package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// operationsBlocks returns the shell blocks of docs/operations.md's
// "Backup and restore" section whose first line starts with prefix.
func operationsBlocks(t *testing.T, prefix string) []string {
	t.Helper()
	return docBlocks(t, "operations.md", "Backup and restore", prefix)
}

// docBlocks returns the shell blocks of the section (## heading) of the
// file of docs/ whose first line starts with prefix.
func docBlocks(t *testing.T, file, heading, prefix string) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", file))
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start := strings.Index(text, "\n## "+heading+"\n")
	if start < 0 {
		t.Fatalf("docs/%s has no %s section", file, heading)
	}
	section := text[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	var out []string
	for _, m := range fenceRE.FindAllStringSubmatch(section, -1) {
		if strings.HasPrefix(m[1], prefix) {
			out = append(out, m[1])
		}
	}
	return out
}

// TestBackupRestoreBlocks runs docs/operations.md's SQLite backup block
// while a real server runs, with a record written before and one after,
// then its restore block with the server stopped, and checks the
// restarted server has the first record and not the second.
func TestBackupRestoreBlocks(t *testing.T) {
	backups, restores := operationsBlocks(t, "# backup (SQLite)"), operationsBlocks(t, "# restore (SQLite)")
	if len(backups) != 1 || len(restores) != 1 {
		t.Fatalf("docs/operations.md has %d SQLite backup and %d restore blocks, want one each", len(backups), len(restores))
	}
	bin := sharedBinary(t)
	dir := t.TempDir()
	env := append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"FIELDSYNC_DATA=", "FIELDSYNC_DB=", "FIELDSYNC_SERVER=", "FIELDSYNC_TOKEN=")
	run := func(script string) string {
		t.Helper()
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s\n%s", err, script, out)
		}
		return string(out)
	}
	data := filepath.Join(dir, "fieldsync-data")
	srv := startProc(t, bin, "", "--data", data)
	addr := srv.addr(t)
	record := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--server", addr)...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	record("record", "create", "employee", "id=ann", "name=Ann", "login=ann")
	run(backups[0])
	record("record", "create", "employee", "id=bob", "name=Bob", "login=bob")

	// admin restored refuses while the server runs.
	cmd := exec.Command(bin, "admin", "restored", "--data", data)
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "stop every server process") {
		t.Fatalf("admin restored with the server running: %v\n%s", err, out)
	}
	srv.stop(t)
	said := run(restores[0])
	if !strings.Contains(said, "database marked restored") {
		t.Fatalf("the restore block said:\n%s", said)
	}
	srv = startProc(t, bin, "", "--data", data)
	addr = srv.addr(t)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(record("record", "list", "employee", "--json")), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0]["id"] != "ann" {
		t.Fatalf("employees after the restore: %v, want ann alone", rows)
	}
	srv.stop(t)
}
