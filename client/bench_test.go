package client_test

// Benchmarks for the synchronization bars of docs/design.md "Bars" (the
// figures: BENCHMARKS.md "Synchronization"). Each prints its figures as
// `name value unit` lines and reports them with b.ReportMetric. They start a
// real server on 127.0.0.1:0 and real clients in temporary folders; setup
// runs with the timer stopped. Run them with -benchtime 1x (or Nx): every
// iteration prepares its own work, so b.N > 1 is correct but slow.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/localdb"
	"github.com/fieldsync/fieldsync/merger"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/sqlite"
)

// benchServer is a server on loopback with an administrator's API client
// (world of e2e_test.go, for benchmarks).
type benchServer struct {
	tb  testing.TB
	srv *server.Server
	url string
	api *api.Client
}

func startBenchServer(tb testing.TB, cfg server.Config) *benchServer {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg.DataDir = tb.TempDir()
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
		srv.Close()
	})
	url := "http://" + ln.Addr().String()
	return &benchServer{tb: tb, srv: srv, url: url, api: &api.Client{BaseURL: url, Token: srv.Token()}}
}

// apply writes changes as a connected user, straight through the store's
// write path, in database transactions of at most batch changes.
func (s *benchServer) apply(batch int, changes []fieldsync.Change) {
	s.tb.Helper()
	for len(changes) > 0 {
		n := min(batch, len(changes))
		if _, err := s.srv.Store().Apply(context.Background(), "", changes[:n]...); err != nil {
			s.tb.Fatal(err)
		}
		changes = changes[n:]
	}
}

// settle waits until every upload is merged and every logged change routed.
func (s *benchServer) settle(timeout time.Duration) {
	s.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.srv.WaitIdle(ctx); err != nil {
		s.tb.Fatal(err)
	}
}

// node registers a node (its extract is taken) and initializes its client.
func (s *benchServer) node(name, employee string) *client.Client {
	s.tb.Helper()
	c, err := s.tryNode(name, employee)
	if err != nil {
		s.tb.Fatal(err)
	}
	return c
}

func (s *benchServer) tryNode(name, employee string) (*client.Client, error) {
	ctx := context.Background()
	added, err := s.api.AddNode(ctx, name, employee)
	if err != nil {
		return nil, fmt.Errorf("add node %s: %w", name, err)
	}
	c, err := client.Init(ctx, client.Config{Dir: filepath.Join(s.tb.TempDir(), name), Server: s.url, Node: name, Secret: added.Secret})
	if err != nil {
		return nil, fmt.Errorf("init %s: %w", name, err)
	}
	s.tb.Cleanup(func() { c.Close() })
	return c, nil
}

func ins(table string, vals map[string]any) fieldsync.Change {
	return fieldsync.Change{Op: fieldsync.OpInsert, Table: table, Values: vals}
}

func upd(table, id string, vals map[string]any) fieldsync.Change {
	return fieldsync.Change{Op: fieldsync.OpUpdate, Table: table, ID: id, Values: vals}
}

// countRows counts a table's rows in a local database.
func countRows(tb testing.TB, st *localdb.DB, table string) int {
	tb.Helper()
	db, err := sqlite.OpenDB(st.Path(), false)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM "` + table + `"`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// seedTeam creates an employee with a position on an account's team.
func seedTeam(s *benchServer, employee, account string) {
	s.apply(100, []fieldsync.Change{
		ins("employee", map[string]any{"id": employee, "name": "Employee " + employee, "login": employee}),
		ins("position", map[string]any{"id": "p-" + employee, "name": "Sales", "employee_id": employee}),
		ins("account", map[string]any{"id": account, "name": "Account " + account}),
		ins("account_team", map[string]any{"account_id": account, "position_id": "p-" + employee}),
	})
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// BenchmarkSyncDownloadApply: a node sees 10,000 newly routed transactions
// (5,000 contact inserts and 5,000 updates on an account its employee's
// position is on the team of, written by a connected user); one
// Sync(Wait) downloads and applies them. Bar: under 1 s.
func BenchmarkSyncDownloadApply(b *testing.B) {
	const txns = 10_000
	ctx := context.Background()
	s := startBenchServer(b, server.Config{})
	seedTeam(s, "ann", "acme")
	c := s.node("ann-laptop", "ann")
	s.settle(time.Minute)
	if _, err := c.Sync(ctx, client.SyncOptions{Apply: true}); err != nil {
		b.Fatal(err)
	}
	var took time.Duration
	var files int
	var bytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		changes := make([]fieldsync.Change, 0, txns)
		for j := 0; j < txns/2; j++ {
			changes = append(changes, ins("contact", map[string]any{"id": fmt.Sprintf("c%d-%d", i, j), "account_id": "acme",
				"first_name": fmt.Sprintf("First%d", j), "last_name": "Lastname", "email": fmt.Sprintf("c%d@example.com", j), "phone": "+1 555 0100"}))
		}
		for j := 0; j < txns/2; j++ {
			changes = append(changes, upd("contact", fmt.Sprintf("c%d-%d", i, j), map[string]any{"email": fmt.Sprintf("new%d@example.com", j)}))
		}
		s.apply(1000, changes)
		s.settle(2 * time.Minute)
		b.StartTimer()
		start := time.Now()
		sum, err := c.Sync(ctx, client.SyncOptions{Apply: true})
		took += time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		files += sum.DownFiles
		bytes += sum.DownBytes
		if n := countRows(b, c.Store(), "contact"); n != txns/2*(i+1) {
			b.Fatalf("the node holds %d contacts after sync %d, want %d (%+v)", n, i, txns/2*(i+1), sum)
		}
		if r, err := c.Get(ctx, "contact", fmt.Sprintf("c%d-7", i)); err != nil || r["email"] != "new7@example.com" {
			b.Fatalf("updated contact on the node: %v %v", r, err)
		}
	}
	sec := took.Seconds() / float64(b.N)
	b.ReportMetric(sec, "s/sync")
	b.ReportMetric(txns/sec, "txn/s")
	b.ReportMetric(float64(files)/float64(b.N), "files/sync")
	fmt.Printf("sync_10000_txns_download_apply %.3f s\n", sec)
	fmt.Printf("sync_10000_txns_outbox_files %.1f files\n", float64(files)/float64(b.N))
	fmt.Printf("sync_10000_txns_download_bytes %.0f B\n", float64(bytes)/float64(b.N))
}

// BenchmarkSyncNothingNew: a full Sync(Wait) of a node with nothing to
// upload or download (after a first sync). Bar: under 10 ms.
func BenchmarkSyncNothingNew(b *testing.B) {
	ctx := context.Background()
	s := startBenchServer(b, server.Config{})
	seedTeam(s, "ann", "acme")
	var cs []fieldsync.Change
	for j := 0; j < 100; j++ {
		cs = append(cs, ins("contact", map[string]any{"account_id": "acme", "first_name": "F", "last_name": "L"}))
	}
	s.apply(100, cs)
	c := s.node("ann-laptop", "ann")
	s.settle(time.Minute)
	for range 2 {
		if _, err := c.Sync(ctx, client.SyncOptions{Apply: true}); err != nil {
			b.Fatal(err)
		}
	}
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		sum, err := c.Sync(ctx, client.SyncOptions{Apply: true})
		times = append(times, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if sum.DownFiles != 0 || sum.UpFiles != 0 || sum.Applied != 0 {
			b.Fatalf("a quiet sync moved files: %+v", sum)
		}
	}
	b.StopTimer()
	var total time.Duration
	for _, t := range times {
		total += t
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	mean := ms(total) / float64(len(times))
	b.ReportMetric(mean, "ms/sync")
	b.ReportMetric(ms(percentile(times, 0.5)), "p50-ms")
	b.ReportMetric(ms(percentile(times, 0.99)), "p99-ms")
	fmt.Printf("sync_nothing_new %.2f ms\n", mean)
	fmt.Printf("sync_nothing_new_p50 %.2f ms\n", ms(percentile(times, 0.5)))
	fmt.Printf("sync_nothing_new_p99 %.2f ms\n", ms(percentile(times, 0.99)))
}

// BenchmarkClientApply compares the client's inbox apply (the local
// store's ApplyInbox: one database transaction for the whole batch, as for
// one downloaded file) with a plain prepared-statement bulk insert of the
// same rows into the same table definition, same driver and pragmas, one
// transaction. Both run on fresh files in every iteration, alternating
// which goes first. Bar: the ratio is at least 0.5.
func BenchmarkClientApply(b *testing.B) {
	const rows = 20_000
	ctx := context.Background()
	s := schema.Default()
	contact := s.Table("contact")
	now := time.Now().UTC()
	txns := make([]fieldsync.Txn, rows)
	for i := range txns {
		id := fmt.Sprintf("contact-%08d", i)
		txns[i] = fieldsync.Txn{Seq: int64(i + 1), Op: fieldsync.OpInsert, Table: "contact", RowID: id, Time: now,
			Values: fieldsync.Row{"id": id, "account_id": "acme", "first_name": fmt.Sprintf("First%d", i), "last_name": "Lastname",
				"email": fmt.Sprintf("c%d@example.com", i), "phone": "+1 555 0100"}}
	}
	dir := b.TempDir()

	clientApply := func(i int) time.Duration {
		path := filepath.Join(dir, fmt.Sprintf("local-%d.db", i))
		err := localdb.Build(ctx, path, s, localdb.Header{Node: "bench"}, func(func(string, fieldsync.Row) error) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		st, err := localdb.Open(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		b.StartTimer() // the benchmark's own time is the client apply's
		start := time.Now()
		ok, err := st.ApplyInbox(ctx, 1, txns, nil)
		took := time.Since(start)
		b.StopTimer()
		if err != nil || !ok {
			b.Fatalf("apply inbox: %v %v", ok, err)
		}
		if n := countRows(b, st, "contact"); n != rows {
			b.Fatalf("applied %d rows, want %d", n, rows)
		}
		return took
	}
	bulkInsert := func(i int) time.Duration {
		db, err := sqlite.OpenDB(filepath.Join(dir, fmt.Sprintf("plain-%d.db", i)), true)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		for _, q := range localdb.TableDDL(contact) {
			if _, err := db.Exec(q); err != nil {
				b.Fatal(err)
			}
		}
		cols := make([]string, len(contact.Columns))
		ph := make([]string, len(contact.Columns))
		for i, c := range contact.Columns {
			cols[i], ph[i] = `"`+c.Name+`"`, fmt.Sprintf("?%d", i+1)
		}
		q := fmt.Sprintf(`INSERT INTO "contact" (%s) VALUES (%s)`, strings.Join(cols, ", "), strings.Join(ph, ", "))
		args := make([]any, len(contact.Columns))
		start := time.Now()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		stmt, err := tx.PrepareContext(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range txns {
			for i, c := range contact.Columns {
				args[i] = t.Values[c.Name]
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				b.Fatal(err)
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM contact`).Scan(&n); err != nil || n != rows {
			b.Fatalf("inserted %d rows, want %d (%v)", n, rows, err)
		}
		return took
	}

	var applyTook, bulkTook time.Duration
	b.ResetTimer()
	b.StopTimer()
	defer b.StartTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			applyTook += clientApply(i)
			bulkTook += bulkInsert(i)
		} else {
			bulkTook += bulkInsert(i)
			applyTook += clientApply(i)
		}
	}
	applyRate := float64(rows*b.N) / applyTook.Seconds()
	bulkRate := float64(rows*b.N) / bulkTook.Seconds()
	b.ReportMetric(applyRate, "apply-rows/s")
	b.ReportMetric(bulkRate, "bulk-rows/s")
	b.ReportMetric(applyRate/bulkRate, "ratio")
	fmt.Printf("client_apply %.0f rows/s\n", applyRate)
	fmt.Printf("bulk_insert %.0f rows/s\n", bulkRate)
	fmt.Printf("client_apply_ratio %.2f\n", applyRate/bulkRate)
}

// BenchmarkConcurrentSyncs: 200 registered nodes, each seeing its own
// account (with 5 contacts) and the reference rows, each with one local
// change to upload and one server change to download, all start Sync(Wait)
// at the same moment over loopback. Bar: all succeed. A client told
// "busy" retries (at most 10 times, 1 s apart as the server's Retry-After
// says); first-try and with-retry successes are both reported.
func BenchmarkConcurrentSyncs(b *testing.B) {
	const nodes = 200
	ctx := context.Background()
	s := startBenchServer(b, server.Config{})
	setup := time.Now()
	var changes []fieldsync.Change
	for i := 0; i < nodes; i++ {
		e, a := fmt.Sprintf("e%03d", i), fmt.Sprintf("a%03d", i)
		changes = append(changes,
			ins("employee", map[string]any{"id": e, "name": "Employee " + e, "login": e}),
			ins("position", map[string]any{"id": "p-" + e, "name": "Sales", "employee_id": e}),
			ins("account", map[string]any{"id": a, "name": "Account " + a}),
			ins("account_team", map[string]any{"account_id": a, "position_id": "p-" + e}))
		for j := 0; j < 5; j++ {
			changes = append(changes, ins("contact", map[string]any{"id": fmt.Sprintf("k%03d-%d", i, j), "account_id": a,
				"first_name": "F", "last_name": "L", "phone": "0"}))
		}
	}
	s.apply(500, changes)
	s.settle(time.Minute)
	// Register the nodes and initialize their clients, 8 at a time.
	clients := make([]*client.Client, nodes)
	var wg sync.WaitGroup
	var firstErr error
	var errMu sync.Mutex
	sem := make(chan struct{}, 8)
	for i := 0; i < nodes; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := s.tryNode(fmt.Sprintf("n%03d", i), fmt.Sprintf("e%03d", i))
			errMu.Lock()
			defer errMu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	s.settle(time.Minute)
	b.Logf("setup of %d nodes: %v", nodes, time.Since(setup).Round(time.Millisecond))

	var firstOK, finalOK, retries int64
	var wall time.Duration
	var lat []time.Duration
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		val := fmt.Sprintf("v%d", it)
		changes = changes[:0]
		for i := 0; i < nodes; i++ {
			changes = append(changes, upd("contact", fmt.Sprintf("k%03d-1", i), map[string]any{"phone": "server-" + val}))
		}
		s.apply(500, changes)
		for i, c := range clients {
			if _, err := c.Apply(ctx, upd("contact", fmt.Sprintf("k%03d-0", i), map[string]any{"phone": "node-" + val})); err != nil {
				b.Fatal(err)
			}
		}
		s.settle(time.Minute)
		var okFirst, okFinal, nRetries atomic.Int64
		errs := make([]error, nodes)
		took := make([]time.Duration, nodes)
		startGun := make(chan struct{})
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-startGun
				start := time.Now()
				for attempt := 0; ; attempt++ {
					_, err := c.Sync(ctx, client.SyncOptions{Apply: true})
					if err == nil {
						if attempt == 0 {
							okFirst.Add(1)
						}
						okFinal.Add(1)
						break
					}
					if !errors.Is(err, client.ErrBusy) || attempt == 10 {
						errs[i] = err
						break
					}
					nRetries.Add(1)
					time.Sleep(time.Second)
				}
				took[i] = time.Since(start)
			}()
		}
		b.StartTimer()
		start := time.Now()
		close(startGun)
		wg.Wait()
		wall += time.Since(start)
		b.StopTimer()
		firstOK += okFirst.Load()
		finalOK += okFinal.Load()
		retries += nRetries.Load()
		lat = append(lat, took...)
		for i, err := range errs {
			if err != nil {
				b.Errorf("node n%03d: %v", i, err)
			}
		}
		// Each node got the server's change; the server gets each node's.
		for i, c := range clients {
			if errs[i] != nil {
				continue
			}
			if r, err := c.Get(ctx, "contact", fmt.Sprintf("k%03d-1", i)); err != nil || r["phone"] != "server-"+val {
				b.Errorf("node n%03d did not get the server's change: %v %v", i, r, err)
			}
		}
		s.settle(time.Minute)
		for i := 0; i < nodes; i += 37 {
			if r, err := s.srv.Store().Get(ctx, "contact", fmt.Sprintf("k%03d-0", i)); err != nil || r["phone"] != "node-"+val {
				b.Errorf("the server did not merge node n%03d's change: %v %v", i, r, err)
			}
		}
	}
	sec := wall.Seconds() / float64(b.N)
	b.ReportMetric(float64(firstOK)/float64(b.N), "ok-first-try")
	b.ReportMetric(float64(finalOK)/float64(b.N), "ok-with-retry")
	b.ReportMetric(sec, "s/round")
	fmt.Printf("concurrent_syncs_ok %d of %d\n", firstOK/int64(b.N), nodes)
	fmt.Printf("concurrent_syncs_ok_with_retry %d of %d\n", finalOK/int64(b.N), nodes)
	fmt.Printf("concurrent_syncs_retries %d retries\n", retries/int64(b.N))
	fmt.Printf("concurrent_syncs_wall %.3f s\n", sec)
	fmt.Printf("concurrent_syncs_p50 %.3f s\n", percentile(lat, 0.5).Seconds())
	fmt.Printf("concurrent_syncs_max %.3f s\n", percentile(lat, 1).Seconds())
}

// BenchmarkMerge: a node makes 5,000 local changes (2,500 contact updates,
// 2,500 contact inserts) and uploads them in one sync; the clock runs from
// when the Transaction Merger is handed the upload until the server records
// it merged (LastMerged). The server runs without its own merger so that
// nothing is merged before the clock starts; the benchmark runs the same
// merger code (merger.MergeWaiting, what the server's merger does when woken),
// with the processor and router running beside it.
func BenchmarkMerge(b *testing.B) {
	const half = 2_500
	ctx := context.Background()
	s := startBenchServer(b, server.Config{Only: []string{server.API, server.Sync, server.Processor, server.Router, server.Extract}})
	seedTeam(s, "ann", "acme")
	var cs []fieldsync.Change
	for j := 0; j < half; j++ {
		cs = append(cs, ins("contact", map[string]any{"id": fmt.Sprintf("k%d", j), "account_id": "acme", "first_name": "F",
			"last_name": "L", "email": fmt.Sprintf("k%d@example.com", j), "phone": "0"}))
	}
	s.apply(1000, cs)
	s.settle(time.Minute)
	const node = "ann-laptop"
	c := s.node(node, "ann")
	m := merger.New(s.srv.Store(), s.srv.Docking(), nil)
	db := s.srv.Store().(interface{ DB() *sql.DB }).DB()
	var took, limit time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		limit += mergeLimit(b, db, half, i)
		var local []fieldsync.Change
		for j := 0; j < half; j++ {
			local = append(local, upd("contact", fmt.Sprintf("k%d", j), map[string]any{"phone": fmt.Sprintf("%d-%d", i, j)}))
			local = append(local, ins("contact", map[string]any{"account_id": "acme", "first_name": "New", "last_name": fmt.Sprint(j),
				"email": fmt.Sprintf("n%d-%d@example.com", i, j)}))
		}
		for len(local) > 0 {
			n := min(500, len(local))
			if _, err := c.Apply(ctx, local[:n]...); err != nil {
				b.Fatal(err)
			}
			local = local[n:]
		}
		before, err := s.srv.Store().LastMerged(ctx, node)
		if err != nil {
			b.Fatal(err)
		}
		sum, err := c.Sync(ctx, client.SyncOptions{})
		if err != nil || sum.Uploaded != 2*half || sum.UpFiles != 1 {
			b.Fatalf("upload: %+v %v", sum, err)
		}
		b.StartTimer()
		start := time.Now()
		if err := m.MergeWaiting(ctx); err != nil {
			b.Fatal(err)
		}
		for {
			last, err := s.srv.Store().LastMerged(ctx, node)
			if err != nil {
				b.Fatal(err)
			}
			if last > before {
				break
			}
			time.Sleep(time.Millisecond)
		}
		took += time.Since(start)
		b.StopTimer()
		if ref, _ := s.srv.Store().Refused(ctx, node); len(ref) > 0 {
			b.Fatalf("upload refused: %+v", ref)
		}
		if r, err := s.srv.Store().Get(ctx, "contact", "k7"); err != nil || r["phone"] != fmt.Sprintf("%d-7", i) {
			b.Fatalf("merged contact: %v %v", r, err)
		}
		s.settle(time.Minute)
		if _, err := c.Sync(ctx, client.SyncOptions{Apply: true}); err != nil {
			b.Fatal(err)
		}
	}
	rate := float64(2*half*b.N) / took.Seconds()
	b.ReportMetric(rate, "txn/s")
	fmt.Printf("merge_rate %.0f txn/s\n", rate)
	fmt.Printf("merge_5000_txns %.3f s\n", took.Seconds()/float64(b.N))
	fmt.Printf("merge_machine_limit %.0f txn/s (the same rows and their log rows, one prepared statement per kind, one transaction)\n",
		float64(2*half*b.N)/limit.Seconds())
	fmt.Printf("merge_vs_limit %.2f x (merge time over machine-limit time)\n", float64(took)/float64(limit))
}

// mergeLimit times the writes of BenchmarkMerge's upload done the
// cheapest way, in the server's own SQLite database: half contact updates
// and half inserts, each with its Transaction Log row, with one prepared
// statement per kind in one transaction. It is rolled back, so the data and
// the log stay as they were (and no commit is timed).
func mergeLimit(b *testing.B, db *sql.DB, half, iter int) time.Duration {
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	start := time.Now()
	upd, err1 := tx.PrepareContext(ctx, `UPDATE "contact" SET "phone" = ? WHERE id = ?`)
	ins, err2 := tx.PrepareContext(ctx, `INSERT INTO "contact" ("id", "account_id", "first_name", "last_name", "email", "phone") VALUES (?, ?, ?, ?, ?, ?)`)
	lg, err3 := tx.PrepareContext(ctx, "INSERT INTO fs_log (seq, op, tbl, row_id, vals, prev, origin, at, usr) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
	if err := errors.Join(err1, err2, err3); err != nil {
		b.Fatal(err)
	}
	seq := int64(1 << 40) // far past the log's own numbers; rolled back
	at := time.Now().UnixNano()
	for j := 0; j < half; j++ {
		id, phone := fmt.Sprintf("k%d", j), fmt.Sprintf("limit-%d-%d", iter, j)
		_, err1 := upd.ExecContext(ctx, phone, id)
		_, err2 := lg.ExecContext(ctx, seq, "update", "contact", id, `{"phone":"`+phone+`"}`, `{"phone":"0"}`, "ann-laptop", at, "")
		nid := fmt.Sprintf("limit-%d-%d", iter, j)
		email := fmt.Sprintf("limit%d-%d@example.com", iter, j)
		_, err3 := ins.ExecContext(ctx, nid, "acme", "New", fmt.Sprint(j), email, nil)
		vals := fmt.Sprintf(`{"account_id":"acme","email":%q,"first_name":"New","id":%q,"last_name":"%d","phone":null}`, email, nid, j)
		_, err4 := lg.ExecContext(ctx, seq+1, "insert", "contact", nid, vals, nil, "ann-laptop", at, "")
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			b.Fatal(err)
		}
		seq += 2
	}
	return time.Since(start)
}
