package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
)

// TestConsoleUsersBlock runs docs/console.md's block of admin user
// commands, as written, with the real binary against a real server whose
// data folder is in the block's folder, and checks the users it leaves:
// tess enabled with no password (reset), max with the password of the
// block's stdin, which signs max in.
func TestConsoleUsersBlock(t *testing.T) {
	blocks := docBlocks(t, "console.md", "Users", "# users")
	if len(blocks) != 1 {
		t.Fatalf("docs/console.md has %d blocks of admin user commands, want one", len(blocks))
	}
	bin := sharedBinary(t)
	dir := t.TempDir()
	srv := startProc(t, bin, "", "--data", filepath.Join(dir, "fieldsync-data"))
	const password = "a long password"
	env := append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"FIELDSYNC_SERVER="+srv.addr(t), "FIELDSYNC_TOKEN=", "FIELDSYNC_DATA=", "FIELDSYNC_PASSWORD=", "PASSWORD="+password)
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
	run("fieldsync record create employee id=emp-ann name=Ann login=ann")
	said := run(blocks[0])
	for _, want := range []string{"user tess added for employee emp-ann", "user max added", "user tess disabled", "user tess enabled", "user tess: password reset"} {
		if !strings.Contains(said, want) {
			t.Errorf("the block does not say %q:\n%s", want, said)
		}
	}
	var users []fieldsync.User
	if err := json.Unmarshal([]byte(run("fieldsync admin user list --json")), &users); err != nil {
		t.Fatal(err)
	}
	got := map[string]fieldsync.User{}
	for _, u := range users {
		got[u.Login] = u
	}
	if tess := got["tess"]; len(users) != 2 || tess.Disabled || tess.HasPassword || tess.Admin || tess.EmployeeID != "emp-ann" {
		t.Errorf("users after the block: %+v, want tess enabled without a password", users)
	}
	if m := got["max"]; !m.HasPassword || m.Disabled {
		t.Errorf("users after the block: %+v, want max with the password of stdin", users)
	}
	if out := run("FIELDSYNC_PASSWORD=\"$PASSWORD\" fieldsync record get employee emp-ann --user max"); !strings.Contains(out, "Ann") {
		t.Errorf("max signed in with the block's password:\n%s", out)
	}
}
