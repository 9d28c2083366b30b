package client_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncproto"
)

var (
	waitersFlag = flag.Int("waiters", 10000, "nodes holding a news wait in BenchmarkNewsWaiters")
	arriveFlag  = flag.Int("arrive", 500, "news waits BenchmarkNewsWaiters opens every 50 ms (500: 10,000 a second)")
)

// BenchmarkNewsWaiters: the real server binary on loopback with many
// registered nodes, each holding a news long-poll open (as a laptop in
// background sync does), and one node watching (client Watch). It prints
// the server process's CPU while they all wait and nothing is written
// (share of one core, from /proc/PID/stat over 5 s), its resident memory
// before and with the waiters, and the watching node's write-to-applied
// latency without and with them (the bar: within 2×).
//
//	go test -run XXX -bench NewsWaiters -benchtime 1x ./client/ [-waiters 10000] [-arrive 500]
func BenchmarkNewsWaiters(b *testing.B) {
	for i := 0; i < b.N; i++ {
		benchNewsWaiters(b, *waitersFlag)
	}
}

func benchNewsWaiters(b *testing.B, waiters int) {
	ctx := context.Background()
	dir := b.TempDir()
	secrets := registerIdleNodes(b, dir, waiters)
	bin := os.Getenv("FIELDSYNC_BIN") // a binary built already; else built here
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "fieldsync")
		if out, err := exec.Command("go", "build", "-o", bin, "../cmd/fieldsync").CombinedOutput(); err != nil {
			b.Fatalf("build: %v\n%s", err, out)
		}
	}
	addr := freeAddr(b)
	cmd := exec.Command(bin, "server", "--data", dir, "--listen", addr, "--news-waiters", strconv.Itoa(waiters+100))
	cmd.Stderr, cmd.Stdout = nil, nil
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	url := "http://" + addr
	tokenPath := filepath.Join(dir, "admin.token")
	var admin *api.Client
	for i := 0; ; i++ {
		tok, err := os.ReadFile(tokenPath)
		if err == nil {
			admin = &api.Client{BaseURL: url, Token: strings.TrimSpace(string(tok))}
			if _, err := admin.Status(ctx); err == nil {
				break
			}
		}
		if i == 300 {
			b.Fatalf("the server did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	watcher, stopWatch := watchingNode(b, ctx, admin, url, dir)
	defer stopWatch()
	rssBefore := procRSS(b, cmd.Process.Pid)
	idle := propagation(b, ctx, admin, watcher, 20)

	// The waiters: each a registered node with one news request open at
	// a time, asked again when it answers (every 25 s, or at news).
	tr := &http.Transport{MaxIdleConnsPerHost: waiters + 10, MaxConnsPerHost: 0, IdleConnTimeout: time.Minute}
	hc := &http.Client{Transport: tr}
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var openMu sync.Mutex
	open, failed := 0, 0
	var firstErr error
	for i := 0; i < waiters; i++ {
		name := fmt.Sprintf("w%05d", i)
		rc := syncproto.NewClient(url, name, secrets[i], hc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for wctx.Err() == nil {
				if first {
					openMu.Lock()
					open++
					openMu.Unlock()
					first = false
				}
				if _, err := rc.News(wctx, 0); err != nil && wctx.Err() == nil {
					openMu.Lock()
					failed++
					if firstErr == nil {
						firstErr = err
					}
					openMu.Unlock()
					time.Sleep(time.Second)
				}
			}
		}()
		if every := max(*arriveFlag, 1); i%every == every-1 {
			time.Sleep(50 * time.Millisecond) // do not storm the accept queue
		}
	}
	defer func() { cancel(); wg.Wait(); tr.CloseIdleConnections() }()
	time.Sleep(3 * time.Second) // every request is waiting now
	cpu := procCPU(b, cmd.Process.Pid, 5*time.Second)
	rssWith := procRSS(b, cmd.Process.Pid)
	with := propagation(b, ctx, admin, watcher, 20)
	b.ReportMetric(0, "ns/op")
	openMu.Lock()
	fmt.Printf("news_waiters %d nodes, %d failed requests (first: %v)\n", waiters, failed, firstErr)
	openMu.Unlock()
	fmt.Printf("news_waiters_idle_cpu %.1f %%-of-one-core   bar ≤ 5\n", cpu)
	fmt.Printf("news_waiters_arrival %d a second\n", max(*arriveFlag, 1)*20)
	fmt.Printf("news_waiters_rss_growth %.1f MB   bar ≤ 100 (server %.1f MB before, %.1f MB with them)\n",
		float64(rssWith-rssBefore)/1e6, float64(rssBefore)/1e6, float64(rssWith)/1e6)
	fmt.Printf("news_waiters_rss_peak %.1f MB   (VmHWM: the most the server held, during the arrival)\n", float64(procStatus(b, cmd.Process.Pid, "VmHWM"))/1e6)
	fmt.Printf("watch_propagation_p50_alone %.1f ms\n", ms(idle[len(idle)/2]))
	fmt.Printf("watch_propagation_p50_with_waiters %.1f ms\n", ms(with[len(with)/2]))
	fmt.Printf("watch_propagation_ratio %.2f   bar ≤ 2\n", ms(with[len(with)/2])/ms(idle[len(idle)/2]))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// registerIdleNodes registers n nodes in a new data folder (through the
// store, without extracts: a node waiting for news needs none) and returns
// their secrets; the server process then opens the folder.
func registerIdleNodes(b *testing.B, dir string, n int) []string {
	b.Helper()
	srv, err := server.Open(context.Background(), server.Config{DataDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	if _, err := srv.Store().Apply(ctx, "", fieldsync.Change{Op: fieldsync.OpInsert, Table: "employee", Values: map[string]any{"id": "idle", "name": "Idle", "login": "idle"}}); err != nil {
		b.Fatal(err)
	}
	secrets := make([]string, n)
	for i := range secrets {
		secrets[i] = fmt.Sprintf("secret-%05d-%d", i, time.Now().UnixNano())
		name := fmt.Sprintf("w%05d", i)
		if _, err := srv.Store().AddNode(ctx, fieldsync.Node{Name: name, EmployeeID: "idle", Active: true}, fieldsync.HashSecret(secrets[i])); err != nil {
			b.Fatal(err)
		}
	}
	return secrets
}

// watchingNode registers a node that sees one contact and runs Watch.
func watchingNode(b *testing.B, ctx context.Context, admin *api.Client, url, dir string) (*client.Client, func()) {
	b.Helper()
	for _, r := range []struct {
		table string
		vals  map[string]any
	}{
		{"employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}},
		{"position", map[string]any{"id": "p-ann", "employee_id": "ann"}},
		{"account", map[string]any{"id": "acme", "name": "Acme"}},
		{"account_team", map[string]any{"account_id": "acme", "position_id": "p-ann"}},
		{"contact", map[string]any{"id": "k1", "account_id": "acme"}},
	} {
		if _, err := admin.Create(ctx, r.table, r.vals); err != nil {
			b.Fatal(err)
		}
	}
	added, err := admin.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		b.Fatal(err)
	}
	c, err := client.Init(ctx, client.Config{Dir: filepath.Join(b.TempDir(), "ann"), Server: url, Node: "ann-laptop", Secret: added.Secret})
	if err != nil {
		b.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Watch(wctx, client.WatchOptions{Every: time.Hour}) }()
	return c, func() { cancel(); <-done; c.Close() }
}

// propagation makes n updates of the watched contact and returns, sorted,
// the times until each was applied on the watching node.
func propagation(b *testing.B, ctx context.Context, admin *api.Client, c *client.Client, n int) []time.Duration {
	b.Helper()
	var lat []time.Duration
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("v%d-%d", i, time.Now().UnixNano())
		start := time.Now()
		if _, err := admin.Update(ctx, "contact", "k1", map[string]any{"first_name": name}); err != nil {
			b.Fatal(err)
		}
		for {
			r, err := c.Get(ctx, "contact", "k1")
			if err == nil && r["first_name"] == name {
				break
			}
			if time.Since(start) > 30*time.Second {
				b.Fatalf("change %d did not arrive in 30 s", i)
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat
}

// procCPU returns the CPU a process used over a window, as a percentage
// of one core (utime + stime from /proc/PID/stat, in clock ticks of 10 ms).
func procCPU(b *testing.B, pid int, window time.Duration) float64 {
	b.Helper()
	ticks := func() int64 {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Fatal(err)
		}
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		return ut + st
	}
	t0, start := ticks(), time.Now()
	time.Sleep(window)
	used := time.Duration(ticks()-t0) * 10 * time.Millisecond
	return 100 * float64(used) / float64(time.Since(start))
}

// procRSS returns a process's resident memory in bytes.
func procRSS(b *testing.B, pid int) int64 {
	b.Helper()
	return procStatus(b, pid, "VmRSS")
}

// procStatus returns a memory field of /proc/PID/status (VmRSS, VmHWM)
// in bytes.
func procStatus(b *testing.B, pid int, field string) int64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	b.Fatalf("no %s", field)
	return 0
}

func freeAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
