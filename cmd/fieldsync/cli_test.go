package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// startServer runs a server on backend b's database in the test process on
// a loopback port.
func startServer(t *testing.T, b testutil.Backend) (url, token string) {
	t.Helper()
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t)})
	return url, srv.Token()
}

// cli runs one command line in-process against the server.
func cli(t *testing.T, url, token string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	args = append(args, "--server", url, "--token", token)
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func mustCLI(t *testing.T, url, token string, args ...string) string {
	t.Helper()
	code, out, errs := cli(t, url, token, args...)
	if code != 0 {
		t.Fatalf("fieldsync %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

func TestRecordCommands(t *testing.T) { testutil.ForBackends(t, testRecordCommands) }

func testRecordCommands(t *testing.T, b testutil.Backend) {
	url, token := startServer(t, b)
	mustCLI(t, url, token, "record", "create", "employee", "id=ann", "name=Ann Field", "login=ann")
	mustCLI(t, url, token, "record", "create", "account", "id=acme", "name=Acme Corp", "industry=tools")
	out := mustCLI(t, url, token, "record", "create", "opportunity", "name=Acme renewal", "account_id=acme",
		"revenue:=50000", "close_date=2026-12-15", "campaign_id:=null", "--json")
	var row map[string]any
	if err := json.Unmarshal([]byte(out), &row); err != nil {
		t.Fatalf("create --json printed %q: %v", out, err)
	}
	id, _ := row["id"].(string)
	if id == "" || row["revenue"] != 50000.0 || row["close_date"] != "2026-12-15T00:00:00Z" || row["campaign_id"] != nil {
		t.Fatalf("created %v", row)
	}
	out = mustCLI(t, url, token, "record", "get", "opportunity", id)
	if !regexp.MustCompile(`(?m)^name\s+Acme renewal$`).MatchString(out) {
		t.Fatalf("get printed:\n%s", out)
	}
	// Flags may come before the positionals too.
	out = mustCLI(t, url, token, "record", "update", "--json", "opportunity", id, "stage=won")
	if !strings.Contains(out, `"stage": "won"`) {
		t.Fatalf("update printed %s", out)
	}
	out = mustCLI(t, url, token, "record", "list", "opportunity", "stage=won", "--json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 || rows[0]["id"] != id {
		t.Fatalf("list printed %s (%v)", out, err)
	}
	out = mustCLI(t, url, token, "record", "list", "opportunity")
	if !strings.Contains(out, "Acme renewal") || !strings.HasPrefix(out, "id ") {
		t.Fatalf("list table:\n%s", out)
	}
	mustCLI(t, url, token, "record", "delete", "opportunity", id)
	if code, _, errs := cli(t, url, token, "record", "get", "opportunity", id); code != 1 || !strings.Contains(errs, "no row with id") {
		t.Fatalf("get after delete: %d %s", code, errs)
	}
}

func TestErrorsAreOneLine(t *testing.T) { testutil.ForBackends(t, testErrorsAreOneLine) }

func testErrorsAreOneLine(t *testing.T, b testutil.Backend) {
	url, token := startServer(t, b)
	mustCLI(t, url, token, "record", "create", "account", "id=acme", "name=Acme")
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"record", "create", "nosuch", "a=b"}, 1, `unknown table "nosuch"`},
		{[]string{"record", "create", "account", "colour=red"}, 1, `table account has no column "colour"`},
		{[]string{"record", "create", "product", "name=x", "price=cheap"}, 1, `column price expects real, got "cheap"`},
		{[]string{"record", "create", "contact", "account_id=ghost"}, 1, `contact.account_id: no account with id "ghost"`},
		{[]string{"record", "create", "account", "justtext"}, 2, `"justtext" is not col=value`},
		{[]string{"record", "get", "account"}, 2, "record get TABLE ID"},
		{[]string{"record", "frobnicate", "account"}, 2, `unknown record verb "frobnicate"`},
		{[]string{"admin", "node", "add", "n1"}, 2, "--employee"},
		{[]string{"admin", "node", "add", "n1", "--employee", "ghost"}, 1, `no employee with id "ghost"`},
		{[]string{"admin", "node", "deactivate", "ghost"}, 1, `unknown node "ghost"`},
		{[]string{"admin", "conflicts", "--node", "ghost"}, 1, `unknown node "ghost"`},
		{[]string{"nosuchcommand"}, 2, `unknown command "nosuchcommand"`},
	}
	for _, tc := range cases {
		code, _, errs := cli(t, url, token, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.msg) || strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "fieldsync: ") {
			t.Errorf("fieldsync %s: exit %d, stderr %q; want exit %d and one line saying %q", strings.Join(tc.args, " "), code, errs, tc.code, tc.msg)
		}
	}
	if code, _, errs := cli(t, url, "wrong-token", "record", "list", "account"); code != 1 || errs != "fieldsync: invalid token\n" {
		t.Errorf("wrong token: %d %q", code, errs)
	}
	if code, _, errs := cli(t, "http://127.0.0.1:1", token, "record", "list", "account"); code != 1 || !strings.Contains(errs, "cannot reach the fieldsync server") {
		t.Errorf("unreachable server: %d %q", code, errs)
	}
	// A server address without its scheme is taken as http://.
	if code, out, errs := cli(t, strings.TrimPrefix(url, "http://"), token, "record", "list", "account"); code != 0 || !strings.Contains(out, "acme") {
		t.Errorf("a server without its scheme: %d %q %q", code, out, errs)
	}
	if code, _, errs := cli(t, "ftp://"+strings.TrimPrefix(url, "http://"), token, "record", "list", "account"); code != 1 || !strings.Contains(errs, "is not an http:// or https:// URL") || strings.Count(errs, "\n") != 1 {
		t.Errorf("a server of another scheme: %d %q", code, errs)
	}
	// version takes no connection flags (it talks to no server).
	var vout bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &vout, io.Discard); code != 0 || !strings.HasPrefix(vout.String(), "fieldsync ") {
		t.Errorf("version: %d %q", code, vout.String())
	}
}

func TestAdminCommands(t *testing.T) { testutil.ForBackends(t, testAdminCommands) }

func testAdminCommands(t *testing.T, b testutil.Backend) {
	url, token := startServer(t, b)
	mustCLI(t, url, token, "record", "create", "employee", "id=ann", "name=Ann", "login=ann")
	out := mustCLI(t, url, token, "admin", "node", "add", "ann-laptop", "--employee", "ann")
	if !regexp.MustCompile(`(?m)^secret\s+\S{40,}$`).MatchString(out) {
		t.Fatalf("node add printed:\n%s", out)
	}
	if code, _, errs := cli(t, url, token, "admin", "node", "add", "ann-laptop", "--employee", "ann"); code != 1 || !strings.Contains(errs, `node "ann-laptop" already exists`) {
		t.Fatalf("duplicate node: %d %s", code, errs)
	}
	var nodes []map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, url, token, "admin", "node", "list", "--json")), &nodes); err != nil || len(nodes) != 1 || nodes[0]["active"] != true {
		t.Fatalf("node list: %v %v", nodes, err)
	}
	out = mustCLI(t, url, token, "admin", "node", "reextract", "ann-laptop")
	if !strings.Contains(out, "re-extracted") {
		t.Fatalf("reextract printed %q", out)
	}
	out = mustCLI(t, url, token, "admin", "node", "reextract", "--all")
	if !strings.Contains(out, "new extracts asked for 1 active nodes") {
		t.Fatalf("reextract --all printed %q", out)
	}
	if code, _, errs := cli(t, url, token, "admin", "node", "reextract", "--all", "ann-laptop"); code != 2 || !strings.Contains(errs, "reextract NAME, or admin node reextract --all") {
		t.Fatalf("reextract --all NAME: exit %d, %q", code, errs)
	}
	out = mustCLI(t, url, token, "admin", "status")
	if !strings.Contains(out, "Transaction Log") || !strings.Contains(out, "ann-laptop") {
		t.Fatalf("status printed:\n%s", out)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, url, token, "admin", "status", "--json")), &st); err != nil || st["nodes"] == nil {
		t.Fatalf("status --json: %v %v", st, err)
	}
	var reset map[string]string
	if err := json.Unmarshal([]byte(mustCLI(t, url, token, "admin", "node", "reset-secret", "ann-laptop", "--json")), &reset); err != nil || reset["secret"] == "" || reset["node"] != "ann-laptop" {
		t.Fatalf("reset-secret --json: %v %v", reset, err)
	}
	mustCLI(t, url, token, "admin", "node", "deactivate", "ann-laptop")
	if err := json.Unmarshal([]byte(mustCLI(t, url, token, "admin", "node", "list", "--json")), &nodes); err != nil || nodes[0]["active"] != false {
		t.Fatalf("node list after deactivate: %v %v", nodes, err)
	}
}

// TestBinary builds the real binary, starts its server on a free loopback
// port (on each backend's database), drives it with the CLI as the README
// does, and stops it with SIGTERM.
func TestBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fieldsync")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) { testBinary(t, b, bin) })
}

func testBinary(t *testing.T, b testutil.Backend, bin string) {
	dir, db := t.TempDir(), b.DB(t)
	args := []string{"server", "--listen", "127.0.0.1:0"}
	if db != "" {
		args = append(args, "--db", db)
	}
	srv := exec.Command(bin, args...)
	srv.Dir = dir
	stdout, _ := srv.StdoutPipe()
	var serverLog bytes.Buffer
	srv.Stderr = &serverLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("server printed nothing; log:\n%s", serverLog.String())
	}
	m := regexp.MustCompile(`listening on (http://\S+) \(data \./fieldsync-data, admin token in (\S+)\)`).FindStringSubmatch(lines.Text())
	if m == nil {
		t.Fatalf("server said %q", lines.Text())
	}
	url := m[1]
	info, err := os.Stat(filepath.Join(dir, m[2]))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v, mode %v", err, info.Mode())
	}
	// The data folder holds a SQLite database only when no --db is given.
	if _, err := os.Stat(filepath.Join(dir, "fieldsync-data", "server.db")); (err == nil) != (db == "") {
		t.Fatalf("server.db in the data folder (--db %q): %v", db, err)
	}
	fs := func(args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir // the token comes from ./fieldsync-data/admin.token
		cmd.Env = append(os.Environ(), "FIELDSYNC_SERVER="+url, "FIELDSYNC_TOKEN=")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	for _, args := range [][]string{
		{"record", "create", "employee", "id=ann", "name=Ann Field", "login=ann"},
		{"record", "create", "campaign", "id=spring", "name=Spring launch", "starts_on=2026-03-01"},
		{"record", "create", "account", "id=acme", "name=Acme Corp"},
	} {
		if _, errs, err := fs(args...); err != nil {
			t.Fatalf("%v: %v %s", args, err, errs)
		}
	}
	out, errs, err := fs("record", "create", "opportunity", "name=Acme renewal", "account_id=acme", "campaign_id=spring", "revenue:=50000", "--json")
	if err != nil {
		t.Fatalf("create opportunity: %v %s", err, errs)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(out), &row); err != nil || row["id"] == nil {
		t.Fatalf("create printed %q", out)
	}
	id := row["id"].(string)
	mustFS := func(args ...string) string {
		t.Helper()
		out, errs, err := fs(args...)
		if err != nil {
			t.Fatalf("fieldsync %s: %v %s", strings.Join(args, " "), err, errs)
		}
		return out
	}
	if out := mustFS("record", "get", "opportunity", id, "--json"); !strings.Contains(out, `"campaign_id": "spring"`) || !strings.Contains(out, `"revenue": 50000`) {
		t.Fatalf("get printed %s", out)
	}
	var rows []map[string]any
	if out := mustFS("record", "list", "opportunity", "account_id=acme", "--json"); json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 1 || rows[0]["id"] != id {
		t.Fatalf("list printed %s", out)
	}
	if out := mustFS("record", "update", "opportunity", id, "stage=won", "campaign_id:=null", "--json"); json.Unmarshal([]byte(out), &row) != nil || row["stage"] != "won" || row["campaign_id"] != nil {
		t.Fatalf("update printed %s", out)
	}
	if out := mustFS("record", "delete", "opportunity", id); !strings.Contains(out, "deleted opportunity "+id) {
		t.Fatalf("delete printed %q", out)
	}
	// The same, with the token given as a file.
	if out := mustFS("record", "list", "opportunity", "--json", "--token-file", m[2]); strings.TrimSpace(out) != "[]" {
		t.Fatalf("list after delete printed %q", out)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"record", "get", "opportunity", id}, 1, `fieldsync: opportunity: no row with id "` + id + `"` + "\n"},
		{[]string{"record", "create", "account", "colour=red"}, 1, `fieldsync: table account has no column "colour"` + "\n"},
		{[]string{"record", "create", "opportunity", "name=x", "account_id=ghost"}, 1, `fieldsync: opportunity.account_id: no account with id "ghost"` + "\n"},
		{[]string{"record", "get", "opportunity"}, 2, "fieldsync: usage: record get TABLE ID\n"},
		{[]string{"record", "list", "account", "--token", "wrong"}, 1, "fieldsync: invalid token\n"},
	} {
		_, errs, err := fs(tc.args...)
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != tc.code || errs != tc.msg {
			t.Errorf("fieldsync %s: %v, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), err, errs, tc.code, tc.msg)
		}
	}
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- srv.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("server exit after SIGTERM: %v\n%s", err, serverLog.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not stop on SIGTERM")
	}
}

// TestParseInterleavesFlags: flags may come before, between or after the
// command's words and its positional arguments, in the Go style with one
// dash too; "--" ends them; a flag the command does not take, or one
// without its value, is a usage error.
func TestParseInterleavesFlags(t *testing.T) {
	cases := []struct {
		args []string
		pos  []string
		json bool
		srv  string
		err  string
	}{
		{args: []string{"record", "create", "account", "name=x"}, pos: []string{"account", "name=x"}},
		{args: []string{"record", "create", "--json", "account", "name=x"}, pos: []string{"account", "name=x"}, json: true},
		{args: []string{"record", "create", "account", "--json", "name=x"}, pos: []string{"account", "name=x"}, json: true},
		{args: []string{"record", "--json", "create", "account", "name=x"}, pos: []string{"account", "name=x"}, json: true},
		{args: []string{"--json", "record", "create", "account", "name=x"}, pos: []string{"account", "name=x"}, json: true},
		{args: []string{"--server", "http://h:1", "record", "create", "account", "name=x"}, pos: []string{"account", "name=x"}, srv: "http://h:1"},
		{args: []string{"record", "create", "account", "name=x", "--server", "http://h:1", "--json"}, pos: []string{"account", "name=x"}, json: true, srv: "http://h:1"},
		{args: []string{"record", "create", "account", "-server=http://h:1", "name=x"}, pos: []string{"account", "name=x"}, srv: "http://h:1"},
		{args: []string{"record", "create", "account", "-json", "name=x"}, pos: []string{"account", "name=x"}, json: true},
		{args: []string{"record", "create", "account", "--", "--json", "-x"}, pos: []string{"account", "--json", "-x"}},
		{args: []string{"record", "create", "account", "--nope", "name=x"}, err: "unknown flag: --nope"},
		{args: []string{"record", "create", "account", "name=x", "--server"}, err: "flag needs an argument: --server"},
	}
	for _, tc := range cases {
		root := newRoot(io.Discard, io.Discard)
		args, _ := commandFirst(root, tc.args)
		cmd, _, err := root.Find(args)
		if err != nil || cmd.Name() != "create" {
			t.Fatalf("%q: found %v, %v", tc.args, cmd.Name(), err)
		}
		var pos []string
		cmd.RunE = func(_ *cobra.Command, args []string) error { pos = args; return nil }
		root.SetArgs(args)
		err = root.Execute()
		if tc.err != "" {
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parse %q: %v, want a usage error saying %q", tc.args, err, tc.err)
			}
			continue
		}
		json, _ := cmd.Flags().GetBool("json")
		srv, _ := cmd.Flags().GetString("server")
		if err != nil || !slices.Equal(pos, tc.pos) || json != tc.json || srv != tc.srv {
			t.Errorf("parse %q: %q json=%v server=%q err=%v; want %q json=%v server=%q", tc.args, pos, json, srv, err, tc.pos, tc.json, tc.srv)
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"record", "create", "x", "--help"}, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "Usage:") {
		t.Errorf("--help: exit %d, %q", code, out.String())
	}
}

func TestParseValues(t *testing.T) {
	cases := []struct {
		arg  string
		want any
		err  string
	}{
		{"name=Acme Corp", "Acme Corp", ""},
		{"name=", "", ""},
		{"expr=a=b", "a=b", ""},   // only the first = splits
		{"note=x:=y", "x:=y", ""}, // := after = is part of the text
		{"revenue:=5000", json.Number("5000"), ""},
		{"revenue:=12.5", json.Number("12.5"), ""},
		{"campaign_id:=null", nil, ""},
		{"done:=true", true, ""},
		{`name:="quoted"`, "quoted", ""},
		{"revenue:=lots", nil, `"lots" is not a JSON value`},
		{"novalue", nil, `"novalue" is not col=value or col:=JSON`},
		{"=x", nil, `"=x" is not col=value`},
	}
	for _, tc := range cases {
		vals, err := parseValues([]string{tc.arg})
		if tc.err != "" {
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want a usage error saying %s", tc.arg, err, tc.err)
			}
			continue
		}
		if err != nil || len(vals) != 1 {
			t.Errorf("%s: %v %v", tc.arg, vals, err)
			continue
		}
		for _, v := range vals {
			if v != tc.want {
				t.Errorf("%s: got %#v, want %#v", tc.arg, v, tc.want)
			}
		}
	}
}

func TestVersionHelpAndUsage(t *testing.T) {
	t.Chdir(t.TempDir()) // no ./fieldsync-data/admin.token here
	t.Setenv("FIELDSYNC_TOKEN", "")
	t.Setenv("FIELDSYNC_SERVER", "")
	cases := []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"version"}, 0, "fieldsync dev\n", ""},
		{[]string{"help"}, 0, "fieldsync record create TABLE", ""},
		{[]string{}, 2, "", "fieldsync: usage: no command given"},
		{[]string{"record"}, 2, "", "record needs a verb"},
		{[]string{"server", "--trusted-proxy", "10.0.0.0/33"}, 2, "", `trusted proxy "10.0.0.0/33"`},
		{[]string{"record", "get", "account"}, 2, "", "usage: record get TABLE ID\n"},
		{[]string{"record", "update", "account", "x"}, 2, "", "usage: record update TABLE ID col=value ...\n"},
		{[]string{"admin", "node", "list", "extra"}, 2, "", "admin node list takes no arguments"},
		{[]string{"admin", "node", "frob"}, 2, "", `unknown admin node verb "frob"`},
		{[]string{"admin", "nodes"}, 2, "", `unknown admin command "nodes"`},
		{[]string{"server", "extra"}, 2, "", "server takes no arguments"},
		{[]string{"record", "list", "account"}, 1, "", "no API token: pass --token, set FIELDSYNC_TOKEN"},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errb.String(), tc.err) {
			t.Errorf("fieldsync %s: exit %d, stdout %q, stderr %q; want exit %d, %q, %q",
				strings.Join(tc.args, " "), code, out.String(), errb.String(), tc.code, tc.out, tc.err)
		}
	}
}

func TestNodeGet(t *testing.T) { testutil.ForBackends(t, testNodeGet) }

func testNodeGet(t *testing.T, b testutil.Backend) {
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t)})
	token := srv.Token()
	mustCLI(t, url, token, "record", "create", "employee", "id=ann", "name=Ann", "login=ann")
	mustCLI(t, url, token, "admin", "node", "add", "ann-laptop", "--employee", "ann")
	out := mustCLI(t, url, token, "admin", "node", "get", "ann-laptop")
	if !regexp.MustCompile(`(?m)^employee\s+ann$`).MatchString(out) || !regexp.MustCompile(`(?m)^active\s+true$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^merging\s+yes$`).MatchString(out) {
		t.Fatalf("node get printed:\n%s", out)
	}
	// A node whose merging a refusal stopped (--on-refusal stop) says so,
	// and how to resume it.
	if err := srv.Store().StopMerging(context.Background(), "ann-laptop", "upload 3: 1 of its 2 changes refused"); err != nil {
		t.Fatal(err)
	}
	out = mustCLI(t, url, token, "admin", "node", "get", "ann-laptop")
	if !strings.Contains(out, "stopped: upload 3: 1 of its 2 changes refused (fieldsync admin node resume ann-laptop)") {
		t.Fatalf("node get of a stopped node printed:\n%s", out)
	}
	mustCLI(t, url, token, "admin", "node", "resume", "ann-laptop")
	if out = mustCLI(t, url, token, "admin", "node", "get", "ann-laptop"); !regexp.MustCompile(`(?m)^merging\s+yes$`).MatchString(out) {
		t.Fatalf("node get after resume printed:\n%s", out)
	}
	var n map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, url, token, "admin", "node", "get", "ann-laptop", "--json")), &n); err != nil || n["name"] != "ann-laptop" {
		t.Fatalf("node get --json: %v %v", n, err)
	}
	if code, _, errs := cli(t, url, token, "admin", "node", "get", "ghost"); code != 1 || errs != "fieldsync: unknown node \"ghost\"\n" {
		t.Fatalf("node get ghost: %d %q", code, errs)
	}
}

// TestHTTPS: the record, admin and client commands reach an HTTPS server
// when told (--ca) which authority signed its certificate, and say why not
// when they are not.
func TestHTTPS(t *testing.T) {
	certFile, keyFile := testutil.TLSFiles(t)
	srv, url := testutil.StartServer(t, server.Config{TLSCert: certFile, TLSKey: keyFile})
	token := srv.Token()
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("server URL %s", url)
	}
	code, _, errs := cli(t, url, token, "record", "create", "employee", "id=ann", "name=Ann", "login=ann")
	if code == 0 || !strings.Contains(errs, "certificate") || strings.Count(errs, "\n") != 1 {
		t.Fatalf("without --ca: exit %d, %q", code, errs)
	}
	mustCLI(t, url, token, "record", "create", "employee", "id=ann", "name=Ann", "login=ann", "--ca", certFile)
	out := mustCLI(t, url, token, "admin", "node", "add", "ann-laptop", "--employee", "ann", "--ca", certFile)
	secret := regexp.MustCompile(`(?m)^secret\s+(\S+)$`).FindStringSubmatch(out)
	if secret == nil {
		t.Fatalf("no secret in %q", out)
	}
	dir := filepath.Join(t.TempDir(), "ann")
	var o, e bytes.Buffer
	if code := run(context.Background(), []string{"client", "init", "--dir", dir, "--server", url, "--node", "ann-laptop",
		"--secret", secret[1], "--ca", certFile}, &o, &e); code != 0 {
		t.Fatalf("client init --ca: exit %d: %s", code, e.String())
	}
	o.Reset()
	e.Reset()
	if code := run(context.Background(), []string{"client", "sync", "--wait", "--dir", dir}, &o, &e); code != 0 || !strings.Contains(o.String(), "synced ann-laptop") {
		t.Fatalf("client sync over HTTPS: exit %d: %s%s", code, o.String(), e.String())
	}
}
