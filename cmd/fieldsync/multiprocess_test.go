package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/visibility"
)

// hostSwitch sends requests to the live server processes in turn.
type hostSwitch struct {
	mu    sync.Mutex
	hosts []string
	n     int
}

func (h *hostSwitch) set(hosts ...string) {
	h.mu.Lock()
	h.hosts = hosts
	h.mu.Unlock()
}

func (h *hostSwitch) RoundTrip(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	host := h.hosts[h.n%len(h.hosts)]
	h.n++
	h.mu.Unlock()
	req = req.Clone(req.Context())
	req.URL.Host = host
	return http.DefaultTransport.RoundTrip(req)
}

// TestMultiProcess runs the server as two real processes on one PostgreSQL
// database and one docking folder, each with the API, a Synchronization
// Manager, a Transaction Processor (one active, one standby), one of two
// router partitions and a merger. Clients sync through both. The process
// holding the processor lock is killed (SIGKILL) mid-run; the other takes
// over, the killed one is restarted, and every client converges with
// nothing lost or doubled.
func TestMultiProcess(t *testing.T) {
	dsn := testutil.PostgresURL(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "fieldsync")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	type proc struct {
		cmd  *exec.Cmd
		addr string
		log  *lockedBuffer
	}
	start := func(partition int) *proc {
		cmd := exec.Command(bin, "server", "--db", dsn, "--data", data, "--listen", "127.0.0.1:0",
			"--only", "api,sync,processor,router,merger,extract", "--router-partitions", "2", "--router-partition", fmt.Sprint(partition))
		out, _ := cmd.StdoutPipe()
		p := &proc{cmd: cmd, log: &lockedBuffer{}}
		cmd.Stderr = p.log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		sc := bufio.NewScanner(out)
		if !sc.Scan() {
			t.Fatalf("server printed nothing: %s", p.log.String())
		}
		m := regexp.MustCompile(`listening on http://(\S+) `).FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("server said %q", sc.Text())
		}
		p.addr = m[1]
		go func() {
			for sc.Scan() {
			}
		}()
		return p
	}
	waitLog := func(p *proc, what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(p.log.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %q in:\n%s", what, p.log.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	a := start(0)
	waitLog(a, "holding the Transaction Processor lock")
	b := start(1)
	waitLog(b, "waiting for the Transaction Processor lock")

	ctx := context.Background()
	token := strings.TrimSpace(readFile(t, filepath.Join(data, "admin.token")))
	adminA := &api.Client{BaseURL: "http://" + a.addr, Token: token}
	adminB := &api.Client{BaseURL: "http://" + b.addr, Token: token}
	create := func(c *api.Client, table string, vals map[string]any) {
		t.Helper()
		if _, err := c.Create(ctx, table, vals); err != nil {
			t.Fatalf("create %s: %v", table, err)
		}
	}
	emps := []string{"e0", "e1", "e2", "e3"}
	for i, e := range emps {
		create(adminA, "employee", map[string]any{"id": e, "name": e, "login": e})
		create(adminA, "position", map[string]any{"id": "p-" + e, "employee_id": e})
		create(adminA, "account", map[string]any{"id": fmt.Sprintf("acc%d", i), "name": e})
		create(adminA, "account_team", map[string]any{"account_id": fmt.Sprintf("acc%d", i), "position_id": "p-" + e})
	}
	hosts := &hostSwitch{hosts: []string{a.addr, b.addr}}
	var clients []*client.Client
	for _, e := range emps {
		added, err := adminB.AddNode(ctx, "node-"+e, e)
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.Init(ctx, client.Config{Dir: filepath.Join(dir, e), Server: "http://" + a.addr, Node: "node-" + e,
			Secret: added.Secret, HTTP: &http.Client{Transport: hosts, Timeout: time.Minute}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	// The test's view of the installation: a server over the same database
	// and folder that runs nothing, asked whether the processes are idle.
	view, err := server.Open(ctx, server.Config{DB: dsn, DataDir: data, RouterPartitions: 2, RouterPartition: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer view.Close()
	st := view.Store()
	settle := func() {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := view.WaitIdle(wctx); err != nil {
			t.Fatalf("the servers did not settle: %v", err)
		}
	}
	round := func(tag string, admin *api.Client) {
		t.Helper()
		for i, c := range clients {
			create(admin, "contact", map[string]any{"account_id": fmt.Sprintf("acc%d", i), "first_name": tag + "-server"})
			if _, err := c.Apply(ctx, fieldsync.Insert("contact", map[string]any{"account_id": fmt.Sprintf("acc%d", i), "first_name": tag + "-" + c.Node()})); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Sync(ctx, client.SyncOptions{Apply: true}); err != nil {
				t.Fatalf("%s: sync of %s: %v", tag, c.Node(), err)
			}
		}
	}
	round("r1", adminA)
	settle()

	// The process holding the processor lock dies.
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.cmd.Wait()
	hosts.set(b.addr)
	waitLog(b, "holding the Transaction Processor lock")
	round("r2", adminB)
	// It comes back (its router partition has nodes to serve) as the standby.
	a = start(0)
	waitLog(a, "waiting for the Transaction Processor lock")
	hosts.set(a.addr, b.addr)
	round("r3", adminB)
	for r := 0; r < 2; r++ {
		settle()
		for _, c := range clients {
			if _, err := c.Sync(ctx, client.SyncOptions{Apply: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, c := range clients {
		ref, err := visibility.Reference(ctx, st, st.Schema(), emps[i])
		if err != nil {
			t.Fatal(err)
		}
		p, _ := c.List(ctx, "contact", fieldsync.Query{Limit: 1000})
		var got []string
		for _, r := range p.Rows {
			got = append(got, r.ID())
		}
		if !reflect.DeepEqual(got, ref["contact"]) || len(got) != 6 {
			t.Fatalf("%s's contacts %v, server's visible %v (want 6: three rounds of two)", c.Node(), got, ref["contact"])
		}
	}
	// Nothing doubled: every transaction was routed once per partition.
	ls, _ := st.LogState(ctx)
	if pos, _ := st.RouterPositions(ctx); pos[0] != ls.LastSeq || pos[1] != ls.LastSeq {
		t.Fatalf("router positions %v, log at %d", pos, ls.LastSeq)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
