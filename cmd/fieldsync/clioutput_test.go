package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// binSession is the real binary pointed at a real server, in a folder of
// its own, with the local time zone far from UTC (so that a time printed in
// local time shows).
type binSession struct {
	t   *testing.T
	dir string
	env []string
	srv *server.Server
	url string
}

func newBinSession(t *testing.T, cfg server.Config) *binSession {
	srv, url := testutil.StartServer(t, cfg)
	return &binSession{t: t, dir: t.TempDir(), srv: srv, url: url,
		env: []string{"FIELDSYNC_SERVER=" + url, "FIELDSYNC_TOKEN=" + srv.Token(), "TZ=America/New_York"}}
}

// ok runs a command line that must succeed and returns its output.
func (s *binSession) ok(args ...string) string {
	s.t.Helper()
	r := runBin(s.t, s.dir, s.env, args...)
	if r.code != 0 {
		s.t.Fatalf("fieldsync %s: exit %d: %s", strings.Join(args, " "), r.code, r.errout)
	}
	return r.out
}

// json runs a command line that must succeed and print one JSON value,
// and decodes it.
func (s *binSession) json(args ...string) map[string]any {
	s.t.Helper()
	out := s.ok(args...)
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		s.t.Fatalf("fieldsync %s printed no JSON (%v):\n%s", strings.Join(args, " "), err, out)
	}
	m, _ := v.(map[string]any)
	if m == nil {
		m = map[string]any{"list": v}
	}
	return m
}

func (s *binSession) idle() {
	s.t.Helper()
	if err := s.srv.WaitIdle(context.Background()); err != nil {
		s.t.Fatal(err)
	}
}

// TestJSONEverywhere: every command that prints a result prints valid JSON
// with --json, wherever the flag comes on the line (the administrator's
// commands past nodes, history, files, backup and restored: clijson_test.go).
func TestJSONEverywhere(t *testing.T) {
	data := t.TempDir()
	s := newBinSession(t, server.Config{DataDir: data})
	backup := jsonBackup(s, data)
	for _, args := range [][]string{
		{"record", "create", "employee", "id=ann", "name=Ann Field", "login=ann"},
		{"record", "create", "position", "id=pos-east", "name=Sales East", "employee_id=ann"},
		{"record", "create", "employee", "id=bob", "name=Bob Road", "login=bob"},
		{"record", "create", "account", "id=acme", "name=Acme"},
		{"record", "create", "opportunity", "id=deal", "name=Deal", "account_id=acme"},
		{"record", "create", "opportunity_team", "opportunity_id=deal", "position_id=pos-east"},
	} {
		s.json(append(args, "--json")...)
	}
	src := filepath.Join(s.dir, "proposal.txt")
	os.WriteFile(src, []byte("the proposal\n"), 0o644)
	s.json("record", "create", "attachment", "id=a1", "opportunity_id=deal", "--json")
	if row := s.json("record", "attach", "attachment", "a1", src, "--mode", "requested", "--json"); row["file_name"] != "proposal.txt" {
		t.Errorf("record attach --json: %v", row)
	}
	if got := s.json("record", "fetch", "attachment", "a1", "--out", filepath.Join(s.dir, "copy.txt"), "--json"); got["size"] != 13.0 || len(got["sha256"].(string)) != 64 {
		t.Errorf("record fetch --json: %v", got)
	}
	s.json("record", "get", "account", "acme", "--json")
	s.json("--json", "record", "list", "account") // before the group
	s.json("record", "--json", "list", "account") // between the group and the verb
	s.json("record", "list", "--json", "account") // before the arguments
	s.json("record", "update", "account", "acme", "industry=tools", "--json")
	s.json("record", "create", "account", "id=gone", "name=Gone", "--json")
	if got := s.json("record", "delete", "account", "gone", "--json"); got["deleted"] != "gone" {
		t.Errorf("record delete --json: %v", got)
	}
	added := s.json("admin", "node", "add", "ann-laptop", "--employee", "ann", "--json")
	s.json("admin", "node", "add", "bob-laptop", "--json", "--employee", "bob")
	s.json("admin", "--json", "node", "list")
	s.json("admin", "node", "get", "ann-laptop", "--json")
	s.json("admin", "node", "reextract", "--json", "bob-laptop")
	s.json("admin", "node", "reextract", "--all", "--json")
	s.json("admin", "node", "reset-secret", "bob-laptop", "--json")
	s.json("admin", "node", "deactivate", "bob-laptop", "--json")
	s.json("admin", "node", "resume", "bob-laptop", "--json")
	s.json("admin", "status", "--json")
	s.json("admin", "conflicts", "--json")
	jsonOfAdmin(s)
	s.idle()

	ann := filepath.Join(s.dir, "ann")
	s.json("client", "init", "--dir", ann, "--server", s.url, "--node", "ann-laptop", "--secret", added["secret"].(string), "--json")
	if sum := s.json("client", "sync", "--dir", ann, "--wait", "--json"); sum["node"] != "ann-laptop" || sum["down_files"] == nil {
		t.Errorf("client sync --json: %v", sum)
	}
	s.json("--dir", ann, "client", "--json", "status")
	s.json("client", "get", "opportunity", "deal", "--dir", ann, "--json")
	s.json("client", "list", "employee", "--dir", ann, "--json")
	created := s.json("client", "create", "activity", "owner_id=ann", "type=call", "--dir", ann, "--json")
	s.json("client", "update", "activity", created["id"].(string), "type=visit", "--dir", ann, "--json")
	s.json("client", "delete", "activity", created["id"].(string), "--dir", ann, "--json")
	s.json("client", "attach", "attachment", "a1", src, "--dir", ann, "--json")
	s.jsonKeys([]string{"path", "size", "sha256"}, "client", "files", "get", "attachment", "a1", "--out", filepath.Join(s.dir, "local-copy.txt"), "--dir", ann)
	s.json("client", "request", "attachment", "a1", "--dir", ann, "--json")
	if got := s.json("client", "apply", "--dir", ann, "--json"); got["applied"] == nil {
		t.Errorf("client apply --json: %v", got)
	}
	jsonOfOperator(s)
	jsonOfRestored(s, backup)
	s.json("version", "--json")
}

var (
	utcSecond = `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`
	utcMilli  = `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`
)

// TestOutputFixes: times in RFC 3339 UTC (seconds in the administrator's
// tables, milliseconds in a node's status); table values on one line with
// null distinct from the text "-"; a server address without a scheme; an
// unknown node's conflicts; pending uploads worded as what they are.
func TestOutputFixes(t *testing.T) {
	s := newBinSession(t, server.Config{})
	s.ok("record", "create", "employee", "id=ann", "name=Ann\tField", "login=ann")
	s.ok("record", "create", "account", "id=acme", "name=Acme\nCorp", "industry:=null")
	s.ok("record", "create", "account", "id=dash", "name=-", "industry=NULL")
	table := s.ok("record", "list", "account")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !regexp.MustCompile(`^acme\s+∅\s+Acme\\nCorp$`).MatchString(lines[1]) || !regexp.MustCompile(`^dash\s+NULL\s+-$`).MatchString(lines[2]) {
		t.Errorf("record list account: a value's newline breaks its row, or null reads as text:\n%s", table)
	}
	if row := s.ok("record", "get", "account", "acme"); !regexp.MustCompile(`(?m)^industry\s+∅$`).MatchString(row) || !strings.Contains(row, `Acme\nCorp`) {
		t.Errorf("record get:\n%s", row)
	}
	// A server address without a scheme is an http:// one.
	bare := strings.TrimPrefix(s.url, "http://")
	if out := s.ok("record", "get", "employee", "ann", "--server", bare); !strings.Contains(out, `Ann\tField`) {
		t.Errorf("record get --server %s:\n%s", bare, out)
	}
	added := s.json("admin", "node", "add", "ann-laptop", "--employee", "ann", "--json", "--server", bare)
	ann := filepath.Join(s.dir, "ann")
	s.ok("client", "init", "--dir", ann, "--server", bare, "--node", "ann-laptop", "--secret", added["secret"].(string))
	s.ok("client", "sync", "--dir", ann, "--wait")

	for _, out := range []string{s.ok("admin", "node", "list"), s.ok("admin", "node", "get", "ann-laptop"), s.ok("admin", "status")} {
		if !regexp.MustCompile(utcSecond).MatchString(out) || regexp.MustCompile(`\d\d:\d\d:\d\d[^Z\d]`).MatchString(out) {
			t.Errorf("an administrator's table without RFC 3339 UTC times:\n%s", out)
		}
	}
	if out := s.ok("client", "status", "--dir", ann); !regexp.MustCompile(`(?m)^last sync\s+` + utcMilli + `$`).MatchString(out) {
		t.Errorf("client status without an RFC 3339 UTC time:\n%s", out)
	}
	s.ok("record", "create", "employee", "id=bob", "name=Bob", "login=bob")
	s.ok("admin", "node", "add", "bob-laptop", "--employee", "bob")
	recordConflict(t, s.srv, fieldsync.Conflict{Node: "bob-laptop", Upload: 1, Kind: fieldsync.ConflictUpdate, Table: "account", RowID: "acme",
		Field: "name", Winner: `"Acme\nCorp"`, Loser: `"Acme"`})
	if out := s.ok("admin", "conflicts", "--node", "bob-laptop"); !regexp.MustCompile(`(?m)^1\s+` + utcSecond + `\s+bob-laptop\s+update\s+account/acme\s+name\s+"Acme\\nCorp"\s+"Acme"$`).MatchString(out) {
		t.Errorf("admin conflicts:\n%s", out)
	}
	r := runBin(t, s.dir, s.env, "admin", "conflicts", "--node", "nosuch")
	if r.code != 1 || r.out != "" || r.errout != "fieldsync: unknown node \"nosuch\"\n" {
		t.Errorf("admin conflicts --node nosuch: exit %d, %q %q", r.code, r.out, r.errout)
	}

}

// TestUploadsWording: client status says what an upload file the node
// holds is: sent and waiting for the server to confirm it merged (here
// the server runs no Transaction Merger, so it stays unconfirmed).
func TestUploadsWording(t *testing.T) {
	s := newBinSession(t, server.Config{Only: []string{server.API, server.Sync, server.Processor, server.Router, server.Extract}})
	s.ok("record", "create", "employee", "id=ann", "name=Ann", "login=ann")
	added := s.json("admin", "node", "add", "ann-laptop", "--employee", "ann", "--json")
	ann := filepath.Join(s.dir, "ann")
	s.ok("client", "init", "--dir", ann, "--node", "ann-laptop", "--secret", added["secret"].(string))
	s.ok("client", "create", "activity", "owner_id=ann", "description=offline", "--dir", ann)
	if out := s.ok("client", "status", "--dir", ann); !regexp.MustCompile(`(?m)^changes not yet sent\s+1$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^uploads not yet confirmed merged\s+0$`).MatchString(out) {
		t.Errorf("client status before the sync:\n%s", out)
	}
	s.ok("client", "sync", "--dir", ann, "--wait")
	out := s.ok("client", "status", "--dir", ann)
	if !regexp.MustCompile(`(?m)^uploads not yet confirmed merged\s+1 \(sent; the next sync confirms them merged\)$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^changes not yet sent\s+0$`).MatchString(out) || strings.Contains(out, "pending") {
		t.Errorf("client status after the upload:\n%s", out)
	}
}

// recordConflict records a conflict as the Transaction Merger does.
func recordConflict(t *testing.T, srv *server.Server, c fieldsync.Conflict) {
	t.Helper()
	ctx := context.Background()
	err := srv.Store().MergeUpload(ctx, c.Node, c.Upload, func(tx fieldsync.MergeTx) error { return tx.RecordConflict(ctx, c) })
	if err != nil {
		t.Fatal(err)
	}
}

// TestWatchOutput: client sync --watch prints a line for each sync that
// moved something, stamped in RFC 3339 UTC to the millisecond (with
// --json, a JSON object a line, the banner on stderr), and stops cleanly
// on SIGINT.
func TestWatchOutput(t *testing.T) {
	s := newBinSession(t, server.Config{})
	s.ok("record", "create", "employee", "id=ann", "name=Ann", "login=ann")
	added := s.json("admin", "node", "add", "ann-laptop", "--employee", "ann", "--json")
	ann := filepath.Join(s.dir, "ann")
	s.ok("client", "init", "--dir", ann, "--node", "ann-laptop", "--secret", added["secret"].(string))
	for _, asJSON := range []bool{false, true} {
		s.ok("client", "create", "activity", "owner_id=ann", "--dir", ann)
		args := []string{"client", "sync", "--watch", "--dir", ann}
		if asJSON {
			args = append(args, "--json")
		}
		cmd := exec.Command(sharedBinary(t), args...)
		cmd.Dir, cmd.Env = s.dir, append(os.Environ(), s.env...)
		stdout, _ := cmd.StdoutPipe()
		var stderr lockedBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 10)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		want := regexp.MustCompile(`^` + utcMilli + ` synced: up 1 files \(1 changes\), down \d+ files, 0 conflicts$`)
		if asJSON {
			want = regexp.MustCompile(`^\{"time":"` + utcMilli + `","node":"ann-laptop","up_files":1,`)
		}
		var got []string
	wait:
		for {
			select {
			case line := <-lines:
				got = append(got, line)
				if want.MatchString(line) {
					break wait
				}
			case <-time.After(20 * time.Second):
				t.Errorf("client sync --watch (json %v) printed no sync line within 20 s: %q, stderr %q", asJSON, got, stderr.String())
				break wait
			}
		}
		if asJSON && (len(got) != 1 || !strings.Contains(stderr.String(), "keeping ann-laptop in step")) {
			t.Errorf("client sync --watch --json printed more than JSON: %q, stderr %q", got, stderr.String())
		}
		cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Errorf("client sync --watch after SIGINT: %v, stderr %q", err, stderr.String())
		}
	}
}
