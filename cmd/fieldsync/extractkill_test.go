package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/postgres"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/sqlite"
)

// TestExtractKilled SIGKILLs a real server process while it takes a
// node's Database Extract, at registration and at a re-extract, and
// restarts it: the claim on the extract dies with the process (a lease),
// so the extract is retaken within seconds, a re-extract is accepted, the
// node converges, and nothing is skipped by the router meanwhile.
func TestExtractKilled(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fieldsync")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) { testExtractKilled(t, b, bin) })
}

// extractRows is how many contacts the node sees: enough that its extract
// takes a while to build, so the kill lands in the middle of it.
const extractRows = 15_000

func testExtractKilled(t *testing.T, b testutil.Backend, bin string) {
	ctx := context.Background()
	dir, db := t.TempDir(), b.DB(t)
	populate(t, dir, db)
	// The server comes back at the same address, as a restarted one does.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	srv := startKillable(t, bin, dir, db, listen)
	admin := &api.Client{BaseURL: srv.url, Token: srv.token}
	dock := docking.In(filepath.Join(dir, "data"))

	// Killed at registration: the node is recorded, its extract is not.
	go admin.AddNode(context.Background(), "ann-laptop", "ann")
	srv.killDuringExtract(t, dock, "ann-laptop")
	srv = startKillable(t, bin, dir, db, listen)
	admin = &api.Client{BaseURL: srv.url, Token: srv.token}
	// Its secret went with the lost answer: a new one is issued.
	secret, err := resetSecretWhenExtracted(ctx, admin, "ann-laptop")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Init(ctx, client.Config{Dir: filepath.Join(t.TempDir(), "ann"), Server: srv.url, Node: "ann-laptop", Secret: secret})
	if err != nil {
		t.Fatalf("client init after the restart: %v", err)
	}
	defer c.Close()
	countContacts(t, c, extractRows)

	// Killed at a re-extract, while the server writes what the node sees.
	if _, err := admin.Create(ctx, "contact", map[string]any{"id": "c-before", "account_id": "acme"}); err != nil {
		t.Fatal(err)
	}
	go admin.Reextract(context.Background(), "ann-laptop")
	srv.killDuringExtract(t, dock, "ann-laptop")
	srv = startKillable(t, bin, dir, db, listen)
	admin = &api.Client{BaseURL: srv.url, Token: srv.token}
	if _, err := admin.Create(ctx, "contact", map[string]any{"id": "c-after", "account_id": "acme"}); err != nil {
		t.Fatal(err)
	}
	// A re-extract is accepted within seconds (the dead process's lease
	// runs out), never "being taken by another process" for good.
	deadline := time.Now().Add(2 * fieldsync.ExtractLease)
	for {
		_, err := admin.Reextract(ctx, "ann-laptop")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("re-extract after the restart: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := c.Sync(ctx, client.SyncOptions{Apply: true}); err != nil {
		t.Fatalf("sync after the restart: %v", err)
	}
	countContacts(t, c, extractRows+2)
}

// populate makes the story's rows in the server database before the
// server starts: ann's team on acme, with many contacts.
func populate(t *testing.T, dir, db string) {
	t.Helper()
	ctx := context.Background()
	var st interface {
		Apply(context.Context, string, ...fieldsync.Change) ([]fieldsync.Txn, error)
		Close() error
	}
	var err error
	if db == "" {
		os.MkdirAll(filepath.Join(dir, "data"), 0o755)
		st, err = sqlite.Open(ctx, filepath.Join(dir, "data", "server.db"), schema.Default())
	} else {
		st, err = postgres.Open(ctx, db, schema.Default())
	}
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	changes := []fieldsync.Change{
		fieldsync.Insert("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}),
		fieldsync.Insert("position", map[string]any{"id": "p-ann", "employee_id": "ann"}),
		fieldsync.Insert("account", map[string]any{"id": "acme", "name": "Acme"}),
		fieldsync.Insert("account_team", map[string]any{"id": "t-ann", "account_id": "acme", "position_id": "p-ann"}),
	}
	for i := range extractRows {
		changes = append(changes, fieldsync.Insert("contact", map[string]any{"id": fmt.Sprintf("c%d", i), "account_id": "acme",
			"first_name": "Contact", "email": fmt.Sprintf("c%d@example.com", i)}))
	}
	if _, err := st.Apply(ctx, "", changes...); err != nil {
		t.Fatal(err)
	}
}

// killable is a real server process.
type killable struct {
	cmd        *exec.Cmd
	url, token string
	log        *lockedBuffer
}

func startKillable(t *testing.T, bin, dir, db, listen string) *killable {
	t.Helper()
	args := []string{"server", "--listen", listen, "--data", filepath.Join(dir, "data")}
	if db != "" {
		args = append(args, "--db", db)
	}
	k := &killable{cmd: exec.Command(bin, args...), log: &lockedBuffer{}}
	stdout, _ := k.cmd.StdoutPipe()
	k.cmd.Stderr = k.log
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.cmd.Process.Kill(); k.cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("server printed nothing; log:\n%s", k.log.String())
	}
	m := regexp.MustCompile(`listening on (http://\S+) \(data .*, admin token in (\S+)\)`).FindStringSubmatch(lines.Text())
	if m == nil {
		t.Fatalf("server said %q", lines.Text())
	}
	token, err := os.ReadFile(m[2])
	if err != nil {
		t.Fatal(err)
	}
	k.url, k.token = m[1], strings.TrimSpace(string(token))
	go func() {
		for lines.Scan() {
		}
	}()
	return k
}

// killDuringExtract waits until the server is writing the node's extract
// file, then SIGKILLs it.
func (k *killable) killDuringExtract(t *testing.T, dock docking.Folder, node string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if tmp, _ := filepath.Glob(filepath.Join(dock.Node(node), ".extract-*.tmp")); len(tmp) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server never started %s's extract; log:\n%s", node, k.log.String())
		}
		time.Sleep(time.Millisecond)
	}
	if err := k.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	k.cmd.Wait()
}

// resetSecretWhenExtracted waits (a few lease times at most) until the
// node's extract was retaken after the kill, and issues a new secret.
func resetSecretWhenExtracted(ctx context.Context, admin *api.Client, node string) (string, error) {
	deadline := time.Now().Add(4 * fieldsync.ExtractLease)
	for {
		n, err := admin.Node(ctx, node)
		if err == nil && !n.Extracted.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("node %s has no extract %s after the restart (%v)", node, 4*fieldsync.ExtractLease, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return admin.ResetSecret(ctx, node)
}

func countContacts(t *testing.T, c *client.Client, want int) {
	t.Helper()
	n := 0
	err := fieldsync.Each(context.Background(), c, "contact", fieldsync.Query{}, func(fieldsync.Row) error { n++; return nil })
	if err != nil || n != want {
		t.Fatalf("the node holds %d contacts (%v), want %d", n, err, want)
	}
}
