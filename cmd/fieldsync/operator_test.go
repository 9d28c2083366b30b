package main

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

func TestAdminSessionsAndRefusals(t *testing.T) {
	testutil.ForBackends(t, testAdminSessionsAndRefusals)
}

func testAdminSessionsAndRefusals(t *testing.T, b testutil.Backend) {
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t), Only: []string{server.API}})
	token := srv.Token()
	ctx := context.Background()
	mustCLI(t, url, token, "record", "create", "employee", "id=ann", "name=Ann", "login=ann")
	mustCLI(t, url, token, "admin", "node", "add", "ann-laptop", "--employee", "ann")
	mustCLI(t, url, token, "admin", "node", "add", "bob-laptop", "--employee", "ann")
	if out := mustCLI(t, url, token, "admin", "sessions"); out != "(no sessions)\n" {
		t.Fatalf("sessions before any:\n%s", out)
	}
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	for i, res := range []string{"ok", "upload refused:\nbad file", "ok: nothing new"} {
		at := t0.Add(time.Duration(i) * time.Minute)
		s := fieldsync.Session{ID: "s" + string(rune('a'+i)), Node: "ann-laptop", Started: at, Ended: at.Add(1500 * time.Millisecond),
			UpFiles: 2, UpBytes: 2048, DownFiles: 1, DownBytes: 10, Result: res}
		if err := srv.Store().SaveSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	out := mustCLI(t, url, token, "admin", "sessions", "--node", "ann-laptop", "--limit", "2")
	want := regexp.MustCompile(`^NODE +STARTED +ENDED +RESULT +UP +DOWN\n` +
		`ann-laptop +2026-05-01T08:02:00\.000Z +2026-05-01T08:02:01\.500Z +ok: nothing new +2 files 2\.0 kB +1 files 10 B\n` +
		`ann-laptop +2026-05-01T08:01:00\.000Z +2026-05-01T08:01:01\.500Z +upload refused:\\nbad file +2 files 2\.0 kB +1 files 10 B\n$`)
	if !want.MatchString(out) {
		t.Fatalf("sessions printed:\n%s", out)
	}
	var ss []map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, url, token, "admin", "sessions", "--json")), &ss); err != nil || len(ss) != 3 || ss[0]["result"] != "ok: nothing new" {
		t.Fatalf("sessions --json: %v %v", ss, err)
	}
	// The node's view shows its latest failed session.
	out = mustCLI(t, url, token, "admin", "node", "get", "ann-laptop")
	if !regexp.MustCompile(`(?m)^last errors +2026-05-01T08:01:01Z  upload refused:\\nbad file$`).MatchString(out) {
		t.Fatalf("node get printed:\n%s", out)
	}
	if out = mustCLI(t, url, token, "admin", "node", "get", "bob-laptop"); !regexp.MustCompile(`(?m)^last errors +none$`).MatchString(out) {
		t.Fatalf("node get of a node without errors printed:\n%s", out)
	}
	// Refusals: an upload refused whole, and changes refused alone.
	if err := srv.Store().RecordRefused(ctx, "ann-laptop", 1, "damaged file: bad checksum"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []fieldsync.Conflict{
		{Node: "bob-laptop", Upload: 3, Kind: fieldsync.ConflictRefused, Table: "account", RowID: "acme", Change: 2, Reason: "no account acme"},
		{Node: "bob-laptop", Upload: 4, Kind: fieldsync.ConflictUpdate, Table: "account", RowID: "acme", Field: "name", Winner: `"A"`, Loser: `"B"`},
	} {
		recordConflict(t, srv, c)
	}
	out = mustCLI(t, url, token, "admin", "refusals")
	if !regexp.MustCompile(`(?s)^Uploads refused whole:\nTIME +NODE +UPLOAD +REASON\n\S+Z +ann-laptop +1 +damaged file: bad checksum\n\n` +
		`Changes refused alone:\nID +TIME +NODE +KIND +UPLOAD +CHANGE +ROW +REASON\n1 +\S+Z +bob-laptop +refused +3 +2 +account/acme +no account acme\n$`).MatchString(out) {
		t.Fatalf("refusals printed:\n%s", out)
	}
	out = mustCLI(t, url, token, "admin", "refusals", "--node", "ann-laptop")
	if !strings.Contains(out, "ann-laptop") || !strings.HasSuffix(out, "Changes refused alone:\n(none)\n") {
		t.Fatalf("refusals --node ann-laptop printed:\n%s", out)
	}
	var r map[string][]map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, url, token, "admin", "refusals", "--json", "--node", "bob-laptop")), &r); err != nil ||
		len(r["uploads"]) != 0 || len(r["changes"]) != 1 || r["changes"][0]["reason"] != "no account acme" {
		t.Fatalf("refusals --json: %v %v", r, err)
	}
	for _, args := range [][]string{{"admin", "sessions", "--node", "ghost"}, {"admin", "refusals", "--node", "ghost"}} {
		if code, _, errs := cli(t, url, token, args...); code != 1 || errs != "fieldsync: unknown node \"ghost\"\n" {
			t.Errorf("fieldsync %s: %d %q", strings.Join(args, " "), code, errs)
		}
	}
	if code, _, errs := cli(t, url, token, "admin", "sessions", "--limit", "0"); code != 2 || strings.Count(errs, "\n") != 1 {
		t.Errorf("sessions --limit 0: %d %q", code, errs)
	}
}

func TestNodeReactivateAndDelete(t *testing.T) { testutil.ForBackends(t, testNodeReactivateAndDelete) }

func testNodeReactivateAndDelete(t *testing.T, b testutil.Backend) {
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t)})
	token := srv.Token()
	mustCLI(t, url, token, "record", "create", "employee", "id=ann", "name=Ann", "login=ann")
	mustCLI(t, url, token, "admin", "node", "add", "ann-laptop", "--employee", "ann")
	mustCLI(t, url, token, "admin", "node", "deactivate", "ann-laptop")
	if out := mustCLI(t, url, token, "admin", "node", "reactivate", "ann-laptop"); out != "node ann-laptop is active: it may sync again\n" {
		t.Fatalf("reactivate printed %q", out)
	}
	var n map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, url, token, "admin", "node", "get", "ann-laptop", "--json")), &n); err != nil || n["active"] != true || n["deactivated"] != nil {
		t.Fatalf("node after reactivate: %v %v", n, err)
	}
	dir := srv.Docking().Node("ann-laptop")
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"admin", "node", "delete", "ann-laptop"}, 2, "confirm with --yes"},
		{[]string{"admin", "node", "delete", "ann-laptop", "--yes"}, 1, "node ann-laptop is active: deactivate it first (fieldsync admin node deactivate ann-laptop), or delete it with --force"},
		{[]string{"admin", "node", "delete", "ghost", "--yes"}, 1, `unknown node "ghost"`},
		{[]string{"admin", "node", "reactivate", "ghost"}, 1, `unknown node "ghost"`},
	} {
		code, _, errs := cli(t, url, token, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.msg) || strings.Count(errs, "\n") != 1 {
			t.Errorf("fieldsync %s: exit %d, %q; want %d and %q", strings.Join(tc.args, " "), code, errs, tc.code, tc.msg)
		}
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the refused deletes touched the docking folder: %v", err)
	}
	mustCLI(t, url, token, "admin", "node", "deactivate", "ann-laptop")
	if out := mustCLI(t, url, token, "admin", "node", "delete", "ann-laptop", "--yes"); out != "node ann-laptop deleted: its secret no longer works, its docking folder is removed\n" {
		t.Fatalf("delete printed %q", out)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("docking folder after delete: %v", err)
	}
	if code, _, errs := cli(t, url, token, "admin", "node", "get", "ann-laptop"); code != 1 || errs != "fieldsync: unknown node \"ann-laptop\"\n" {
		t.Fatalf("node get after delete: %d %q", code, errs)
	}
	// An active node goes with --force.
	mustCLI(t, url, token, "admin", "node", "add", "ann-laptop", "--employee", "ann")
	var del map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, url, token, "admin", "node", "delete", "ann-laptop", "--yes", "--force", "--json")), &del); err != nil || del["folder_removed"] != true {
		t.Fatalf("delete --force --json: %v %v", del, err)
	}
	if out := mustCLI(t, url, token, "admin", "node", "list"); strings.Contains(out, "ann-laptop") {
		t.Fatalf("node list after delete:\n%s", out)
	}
}
