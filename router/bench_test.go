package router_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/durable"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/router"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/txnproc"
)

// benchEnv is a server with `registered` nodes, of which the first 100
// hold a position on the team of one opportunity each: every update of an
// opportunity is delivered to exactly one node, whatever the number of
// registered nodes.
type benchEnv struct {
	st      *sqlstore.Store
	docking docking.Folder
	proc    *txnproc.Processor
	rt      *router.Router
	opps    []string
}

func newBenchEnv(b *testing.B, backend testutil.Backend, registered int) *benchEnv {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	st, _ := backend.Open(b, schema.Default())
	e := &benchEnv{st: st, docking: docking.In(dir)}
	var changes []fieldsync.Change
	flush := func() {
		if _, err := st.Apply(ctx, "", changes...); err != nil {
			b.Fatal(err)
		}
		changes = changes[:0]
	}
	changes = append(changes, ins("account", map[string]any{"id": "acme", "name": "Acme"}))
	for i := 0; i < registered; i++ {
		emp := fmt.Sprintf("e%05d", i)
		changes = append(changes,
			ins("employee", map[string]any{"id": emp, "name": emp, "login": emp}),
			ins("position", map[string]any{"id": "p" + emp, "employee_id": emp}))
		if i < 100 {
			opp := fmt.Sprintf("o%03d", i)
			e.opps = append(e.opps, opp)
			changes = append(changes,
				ins("opportunity", map[string]any{"id": opp, "name": opp, "account_id": "acme"}),
				ins("opportunity_team", map[string]any{"opportunity_id": opp, "position_id": "p" + emp}))
		}
		if len(changes) > 1000 {
			flush()
		}
	}
	flush()
	e.registerNodes(b, registered)
	e.startFlow(b)
	return e
}

// registerNodes registers n nodes, node00000 for employee e00000 and so
// on, without building their files (the benchmarks measure routing), and
// returns their names.
func (e *benchEnv) registerNodes(b *testing.B, n int) []string {
	b.Helper()
	ctx := context.Background()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("node%05d", i)
		if _, err := e.st.AddNode(ctx, fieldsync.Node{Name: names[i], EmployeeID: fmt.Sprintf("e%05d", i)}, fieldsync.HashSecret(names[i])); err != nil {
			b.Fatal(err)
		}
		if _, err := e.st.StartExtract(ctx, names[i], func(fieldsync.Snapshot) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	return names
}

// startFlow starts the processor and the router from the database and
// routes everything written so far.
func (e *benchEnv) startFlow(b *testing.B) {
	b.Helper()
	ctx := context.Background()
	recent := txnproc.NewRecent(0)
	e.proc = txnproc.New(e.st, txnproc.Config{Docking: e.docking, Recent: recent})
	e.rt = router.New(e.st, router.Config{Docking: e.docking, Recent: recent})
	if err := e.proc.Recover(ctx); err != nil {
		b.Fatal(err)
	}
	if err := e.rt.Recover(ctx); err != nil {
		b.Fatal(err)
	}
	e.pump(b)
}

// write commits n updates of the opportunities' stage, 1,000 per database
// transaction.
func (e *benchEnv) write(b *testing.B, n int, round int) {
	b.Helper()
	ctx := context.Background()
	changes := make([]fieldsync.Change, 0, 1000)
	for i := 0; i < n; i++ {
		changes = append(changes, upd("opportunity", e.opps[i%len(e.opps)], map[string]any{"stage": fmt.Sprintf("r%d-%d", round, i)}))
		if len(changes) == cap(changes) || i == n-1 {
			if _, err := e.st.Apply(ctx, "", changes...); err != nil {
				b.Fatal(err)
			}
			changes = changes[:0]
		}
	}
}

// pump runs the processor and the router until both are idle.
func (e *benchEnv) pump(b *testing.B) {
	b.Helper()
	ctx := context.Background()
	for {
		n, err := e.proc.Step(ctx)
		if err != nil {
			b.Fatal(err)
		}
		routed, err := e.rt.Step(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 && !routed {
			return
		}
	}
}

// BenchmarkRouting measures processor + router throughput, in transactions
// per second, with 100 and with 10,000 registered nodes and the same
// deliveries (each transaction to one node). Bar: at least 20,000 txn/s at
// 10,000 nodes, and at least 0.8 of the 100-node figure.
func BenchmarkRouting(b *testing.B) {
	for _, backend := range testutil.Backends {
		for _, nodes := range []int{100, 10_000} {
			b.Run(fmt.Sprintf("%s/nodes=%d", backend.Name, nodes), func(b *testing.B) {
				e := newBenchEnv(b, backend, nodes)
				const perRound = 20_000
				var busy time.Duration
				var from, to int64
				for i := 0; i < b.N; i++ {
					from = e.lastSeq(b)
					e.write(b, perRound, i)
					to = e.lastSeq(b)
					start := time.Now()
					e.pump(b)
					busy += time.Since(start)
				}
				rate := float64(perRound*b.N) / busy.Seconds()
				b.ReportMetric(rate, "txn/s")
				b.ReportMetric(0, "ns/op")
				fmt.Printf("routing_%s_nodes_%d %.0f txn/s\n", backend.Name, nodes, rate)
				limit := e.machineLimit(b, from, to)
				fmt.Printf("routing_%s_nodes_%d_machine_limit %.0f txn/s (the round's deliveries encoded and written to one fsynced file per node, %d at a time)\n",
					backend.Name, nodes, float64(perRound)/limit.Seconds(), commitWorkers)
			})
		}
	}
}

func (e *benchEnv) lastSeq(b *testing.B) int64 {
	b.Helper()
	seq, err := e.st.LastLogSeq(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return seq
}

// commitWorkers is how many files machineLimit commits at once, as the
// router does.
const commitWorkers = 16

// machineLimit returns the floor of a round's work: the transactions with
// from < Seq <= to that the nodes' outboxes hold, encoded and written, as
// the router writes them, to one fsynced file per node (a round's outbox
// files coalesced), commitWorkers files at a time, with no database.
func (e *benchEnv) machineLimit(b *testing.B, from, to int64) time.Duration {
	b.Helper()
	per := map[string][]*fieldsync.Txn{}
	for i := range e.opps {
		name := fmt.Sprintf("node%05d", i)
		nums, err := docking.Numbers(e.docking.Outbox(name))
		if err != nil {
			b.Fatal(err)
		}
		for _, num := range nums {
			_, txns, err := dx.ReadFile(e.docking.OutboxFile(name, num), dx.Limits{})
			if err != nil {
				b.Fatal(err)
			}
			for j := range txns {
				if txns[j].Seq > from && txns[j].Seq <= to {
					per[name] = append(per[name], &txns[j])
				}
			}
		}
	}
	dir := b.TempDir()
	start := time.Now()
	files := make(chan *durable.AtomicFile)
	var wg sync.WaitGroup
	for range commitWorkers {
		wg.Go(func() {
			for f := range files {
				if err := f.Commit(); err != nil {
					b.Error(err)
				}
			}
		})
	}
	var w dx.Writer
	for name, txns := range per {
		sub := filepath.Join(dir, name)
		if err := os.Mkdir(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		f, err := w.WriteTemp(sub, "000000000001.dx", dx.Header{Kind: dx.KindOutbox, Node: name, Number: 1}, txns)
		if err != nil {
			b.Fatal(err)
		}
		files <- f
	}
	close(files)
	wg.Wait()
	return time.Since(start)
}

// BenchmarkRouterMemory routes a million transactions and reports the
// heap in use (after a GC) and the process's resident memory after each
// 100,000: they must stay flat. The process also holds the server database
// (SQLite's page cache), as a server does.
func BenchmarkRouterMemory(b *testing.B) {
	for i := 0; i < b.N; i++ {
		e := newBenchEnv(b, testutil.Backends[0], 1000)
		const total, step = 1_000_000, 100_000
		var first, last, peak uint64
		for done := 0; done < total; done += step {
			e.write(b, step, done)
			e.pump(b)
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if done == 0 {
				first = ms.HeapInuse
			}
			last = ms.HeapInuse
			peak = max(peak, ms.HeapInuse)
			fmt.Printf("router_heap_after_%d_txns %.1f MB\n", done+step, float64(ms.HeapInuse)/1e6)
			fmt.Printf("process_rss_after_%d_txns %.1f MB\n", done+step, rssMB())
		}
		b.ReportMetric(float64(first)/1e6, "MB-heap-first")
		b.ReportMetric(float64(last)/1e6, "MB-heap-last")
		b.ReportMetric(float64(peak)/1e6, "MB-heap-peak")
		b.ReportMetric(0, "ns/op")
	}
}

// rssMB reads the process's resident set size from /proc (Linux).
func rssMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb)
			return kb / 1024
		}
	}
	return 0
}
