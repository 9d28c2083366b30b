package extract_test

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/extract"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/sqlite"
)

var nodesFlag = flag.Int("nodes", 2000, "nodes BenchmarkRegisterNodes registers")

// BenchmarkExtract100k measures the Database Extract of a node that sees
// 100,000 rows (an account on its team with 99,996 contacts), in a server
// database that also holds 100,000 rows the node does not see.
func BenchmarkExtract100k(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "server.db"), schema.Default())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	must := func(changes ...fieldsync.Change) {
		if _, err := st.Apply(ctx, "", changes...); err != nil {
			b.Fatal(err)
		}
	}
	ins := func(table string, vals map[string]any) fieldsync.Change {
		return fieldsync.Change{Op: fieldsync.OpInsert, Table: table, Values: vals}
	}
	must(ins("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}),
		ins("position", map[string]any{"id": "p-ann", "employee_id": "ann"}),
		ins("account", map[string]any{"id": "mine", "name": "Mine"}),
		ins("account", map[string]any{"id": "other", "name": "Other"}),
		ins("account_team", map[string]any{"account_id": "mine", "position_id": "p-ann"}))
	for _, acc := range []string{"mine", "other"} {
		batch := make([]fieldsync.Change, 0, 1000)
		for i := 0; i < 99_996; i++ {
			batch = append(batch, ins("contact", map[string]any{"account_id": acc, "first_name": fmt.Sprintf("First%d", i),
				"last_name": "Lastname", "email": fmt.Sprintf("c%d@example.com", i), "phone": "+1 555 0100"}))
			if len(batch) == cap(batch) {
				must(batch...)
				batch = batch[:0]
			}
		}
		must(batch...)
	}
	if _, err := st.AddNode(ctx, fieldsync.Node{Name: "ann-laptop", EmployeeID: "ann"}, fieldsync.HashSecret("x")); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var took time.Duration
	var rows int
	for i := 0; i < b.N; i++ {
		res, err := extract.Extract(ctx, st, docking.In(dir), "ann-laptop", nil)
		if err != nil {
			b.Fatal(err)
		}
		took += res.Took
		rows = 0
		for _, n := range res.Rows {
			rows += n
		}
	}
	if rows < 100_000 {
		b.Fatalf("extract holds %d rows, want at least 100,000", rows)
	}
	sec := took.Seconds() / float64(b.N)
	b.ReportMetric(sec, "s/extract")
	b.ReportMetric(float64(rows)/sec, "rows/s")
	fmt.Printf("extract_100k_of_200k_rows %.0f ms\n", sec*1000)
}

// crm is the shape of a generated database of the built-in CRM schema:
// accounts with their contacts, team rows, activities, one opportunity
// each (with its team and an attachment), reps (employees holding one
// position each), and a manager whose position is on every team.
type crm struct {
	reps           int // employees with one position, besides the manager
	accountsPerRep int // accounts on each rep's team
	repsPerAccount int // reps on each account's team (and its opportunity's)
	accounts       int
	contacts       int // per account
	campaigns      int
	products       int
	broadcast      int // attachments in broadcast mode, seen by every node
}

// fieldForce: 100,000 contacts over 1,000 accounts; 50 reps of 10 accounts
// each (a rep's node sees about 1,223 rows) and the manager (who sees
// every row).
var fieldForce = crm{reps: 50, accountsPerRep: 10, repsPerAccount: 1, accounts: 1000, contacts: 100,
	campaigns: 5, products: 6, broadcast: 1}

// bigForce: the same accounts and contacts, worked by 2,000 reps, two on
// each account (a rep's node sees about 4,100 rows, most of them the
// employee and position rows every node sees).
var bigForce = crm{reps: 2000, accountsPerRep: 1, repsPerAccount: 2, accounts: 1000, contacts: 100,
	campaigns: 5, products: 5, broadcast: 1}

// crmData is a generated database: the reps' employee ids.
type crmData struct {
	reps []string
	rows int
}

// load writes the database through the store's write path, 1,000 changes
// a transaction.
func (c crm) load(tb testing.TB, st fieldsync.Writer) crmData {
	tb.Helper()
	ctx := context.Background()
	var d crmData
	batch := make([]fieldsync.Change, 0, 1000)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if _, err := st.Apply(ctx, "", batch...); err != nil {
			tb.Fatal(err)
		}
		batch = batch[:0]
	}
	add := func(table string, vals map[string]any) string {
		id := fieldsync.NewID()
		vals["id"] = id
		batch = append(batch, fieldsync.Insert(table, vals))
		d.rows++
		if len(batch) == cap(batch) {
			flush()
		}
		return id
	}
	emp := func(name string) (string, string) {
		e := add("employee", map[string]any{"name": name, "login": name})
		return e, add("position", map[string]any{"name": name, "employee_id": e})
	}
	mgr, mgrPos := emp("manager")
	d.reps = append(d.reps, mgr)
	var repPos []string
	for i := 0; i < c.reps; i++ {
		e, p := emp(fmt.Sprintf("rep%d", i))
		d.reps = append(d.reps, e)
		repPos = append(repPos, p)
	}
	d.reps = d.reps[1:]
	var campaigns []string
	for i := 0; i < c.campaigns; i++ {
		campaigns = append(campaigns, add("campaign", map[string]any{"name": fmt.Sprintf("Campaign %d", i), "channel": "web"}))
	}
	for i := 0; i < c.products; i++ {
		add("product", map[string]any{"name": fmt.Sprintf("Product %d", i), "price": float64(10 * (i + 1))})
	}
	for a := 0; a < c.accounts; a++ {
		acc := add("account", map[string]any{"name": fmt.Sprintf("Account %d", a), "industry": "tools"})
		team := []int{}
		for j := 0; j < c.repsPerAccount; j++ {
			if r := (a*c.repsPerAccount + j) / c.accountsPerRep; r < c.reps {
				team = append(team, r)
			}
		}
		owner := mgr
		for _, r := range team {
			add("account_team", map[string]any{"account_id": acc, "position_id": repPos[r]})
			owner = d.reps[team[0]]
		}
		add("account_team", map[string]any{"account_id": acc, "position_id": mgrPos})
		for k := 0; k < c.contacts; k++ {
			add("contact", map[string]any{"account_id": acc, "first_name": fmt.Sprintf("First%d", k), "last_name": fmt.Sprintf("Last%d", a),
				"email": fmt.Sprintf("c%d.%d@example.com", a, k), "phone": "+1 555 0100"})
		}
		// One activity of the account's rep, one of another rep (seen by
		// its owner whether or not the owner sees the account).
		add("activity", map[string]any{"account_id": acc, "owner_id": owner, "type": "call", "description": "Quarterly call"})
		other := d.reps[(a*7)%c.reps]
		add("activity", map[string]any{"account_id": acc, "owner_id": other, "type": "visit", "description": "Site visit"})
		opp := add("opportunity", map[string]any{"name": fmt.Sprintf("Deal %d", a), "account_id": acc,
			"campaign_id": campaigns[a%len(campaigns)], "stage": "prospect", "revenue": float64(1000 * (a%50 + 1))})
		for _, r := range team {
			add("opportunity_team", map[string]any{"opportunity_id": opp, "position_id": repPos[r]})
		}
		add("opportunity_team", map[string]any{"opportunity_id": opp, "position_id": mgrPos})
		mode := fieldsync.ModePublished
		if a >= c.accounts-c.broadcast {
			mode = fieldsync.ModeBroadcast
		}
		add("attachment", map[string]any{"opportunity_id": opp, "file_name": fmt.Sprintf("proposal-%d.pdf", a), "mode": mode})
	}
	flush()
	return d
}

// BenchmarkExtractCRM measures the Database Extract in a CRM database of
// 100,000 contacts over 1,000 accounts (fieldForce), on SQLite and on
// PostgreSQL: of a rep's node, which sees about 1,223 rows, and of the
// manager's, which sees every row. Beside each, the machine's limit for
// the same work: the same rows read by primary key with one prepared
// statement a table, and the same bytes written to a file and fsynced.
// Bars: 50 ms and 1.5 s.
func BenchmarkExtractCRM(b *testing.B) {
	for _, be := range testutil.Backends {
		b.Run(be.Name, func(b *testing.B) {
			ctx := context.Background()
			st, _ := be.Open(b, schema.Default())
			d := fieldForce.load(b, st)
			mgr, err := firstEmployee(ctx, st, "manager")
			if err != nil {
				b.Fatal(err)
			}
			for name, emp := range map[string]string{"rep-laptop": d.reps[0], "manager-laptop": mgr} {
				if _, err := st.AddNode(ctx, fieldsync.Node{Name: name, EmployeeID: emp}, fieldsync.HashSecret("x")); err != nil {
					b.Fatal(err)
				}
			}
			dock := docking.In(b.TempDir())
			b.Run("rep", func(b *testing.B) { benchExtract(b, st, be.Name, dock, "rep-laptop", "extract_1223_rows") })
			b.Run("manager", func(b *testing.B) { benchExtract(b, st, be.Name, dock, "manager-laptop", "extract_100k_rows") })
		})
	}
}

func firstEmployee(ctx context.Context, st fieldsync.Reader, login string) (string, error) {
	p, err := st.List(ctx, "employee", fieldsync.Query{Where: map[string]any{"login": login}, Limit: 1})
	if err != nil {
		return "", err
	}
	if len(p.Rows) == 0 {
		return "", fmt.Errorf("no employee %q", login)
	}
	return p.Rows[0].ID(), nil
}

func benchExtract(b *testing.B, st *sqlstore.Store, backend string, dock docking.Folder, node, name string) {
	ctx := context.Background()
	var res extract.Result
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		var err error
		if res, err = extract.Extract(ctx, st, dock, node, nil); err != nil {
			b.Fatal(err)
		}
	}
	took := time.Since(start) / time.Duration(b.N)
	b.StopTimer()
	rows := 0
	for _, n := range res.Rows {
		rows += n
	}
	limit, err := machineLimit(ctx, st, backend, res.Path, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(took.Microseconds())/1000, "ms/extract")
	b.ReportMetric(float64(rows), "rows")
	fmt.Printf("%s_%s %.1f ms (%d rows)\n", name, backend, float64(took.Microseconds())/1000, rows)
	fmt.Printf("%s_%s_limit %.1f ms\n", name, backend, float64(limit.Microseconds())/1000)
}

// machineLimit is the time to read an extract's rows from the server
// database by primary key (one prepared statement per table, in one read
// transaction) and to write as many bytes as the extract file holds to a
// new file, fsynced.
func machineLimit(ctx context.Context, st *sqlstore.Store, backend, extractPath, tmp string) (time.Duration, error) {
	ids, size, err := extractIDs(ctx, st.Schema(), extractPath)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := readByID(ctx, st.DB(), st.Schema(), backend, ids); err != nil {
		return 0, err
	}
	if err := writeBytes(filepath.Join(tmp, "limit.bin"), size); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// extractIDs returns the row ids of an extract file, by table, and the
// file's size.
func extractIDs(ctx context.Context, s *fieldsync.Schema, path string) (map[string][]string, int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, 0, err
	}
	defer db.Close()
	out := map[string][]string{}
	for _, t := range s.Tables {
		ids, err := sqlstore.QueryStrings(ctx, db, fmt.Sprintf(`SELECT id FROM "%s"`, t.Name))
		if err != nil {
			return nil, 0, err
		}
		out[t.Name] = ids
	}
	return out, fi.Size(), nil
}

func readByID(ctx context.Context, db *sql.DB, s *fieldsync.Schema, backend string, ids map[string][]string) error {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: backend == "postgres"})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ph := "?"
	if backend == "postgres" {
		ph = "$1"
	}
	for _, t := range s.Tables {
		if len(ids[t.Name]) == 0 {
			continue
		}
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = `"` + c.Name + `"`
		}
		stmt, err := tx.PrepareContext(ctx, fmt.Sprintf(`SELECT %s FROM "%s" WHERE id = %s`, strings.Join(cols, ", "), t.Name, ph))
		if err != nil {
			return err
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for _, id := range ids[t.Name] {
			if err := stmt.QueryRowContext(ctx, id).Scan(ptrs...); err != nil {
				stmt.Close()
				return fmt.Errorf("%s %s: %w", t.Name, id, err)
			}
		}
		stmt.Close()
	}
	return nil
}

func writeBytes(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	buf := make([]byte, 64<<10)
	for n := int64(0); n < size; n += int64(len(buf)) {
		chunk := buf
		if size-n < int64(len(chunk)) {
			chunk = chunk[:size-n]
		}
		if _, err := f.Write(chunk); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// BenchmarkRegisterNodes registers 2,000 nodes (-nodes N) one after the
// other through the HTTP API of a real server on loopback (POST
// /api/v1/admin/nodes, what `fieldsync admin node add` sends), each taking
// its Database Extract, in a database of 100,000 contacts over 1,000
// accounts worked by 2,000 reps (bigForce), on SQLite and on PostgreSQL.
// Beside it, the machine's limit for the same work: for every 20th node,
// its extract's rows read by primary key and its bytes written to a file,
// scaled to all the nodes. Bar: 2 minutes.
func BenchmarkRegisterNodes(b *testing.B) {
	for _, be := range testutil.Backends {
		b.Run(be.Name, func(b *testing.B) {
			ctx := context.Background()
			cfg := server.Config{NoTokenFile: true}
			if be.Name == "postgres" {
				cfg.DB = testutil.PostgresURL(b)
			}
			srv, url := testutil.StartServer(b, cfg)
			d := bigForce.load(b, srv.Store())
			if err := srv.WaitIdle(ctx); err != nil {
				b.Fatal(err)
			}
			c := &api.Client{BaseURL: url, Token: srv.Token()}
			nodes := min(*nodesFlag, len(d.reps))
			st := srv.Store().(*sqlstore.Store)
			b.ResetTimer()
			var took, limit time.Duration
			rows := 0
			for i := 0; i < b.N; i++ {
				var paths []string
				start := time.Now()
				for n := 0; n < nodes; n++ {
					name := fmt.Sprintf("rep-%d-%d-laptop", i, n)
					added, err := c.AddNode(ctx, name, d.reps[n])
					if err != nil {
						b.Fatal(err)
					}
					if added.ExtractError != "" || added.Extract == nil {
						b.Fatalf("%s: no extract: %s", name, added.ExtractError)
					}
					if n%20 == 0 {
						paths = append(paths, srv.Docking().Extract(name))
					}
				}
				took += time.Since(start)
				b.StopTimer()
				var sample time.Duration
				for _, p := range paths {
					l, err := machineLimit(ctx, st, be.Name, p, b.TempDir())
					if err != nil {
						b.Fatal(err)
					}
					sample += l
				}
				limit += sample * time.Duration(nodes) / time.Duration(len(paths))
				ids, _, err := extractIDs(ctx, st.Schema(), paths[0])
				if err != nil {
					b.Fatal(err)
				}
				rows = 0
				for _, l := range ids {
					rows += len(l)
				}
				b.StartTimer()
			}
			took /= time.Duration(b.N)
			limit /= time.Duration(b.N)
			b.ReportMetric(took.Seconds(), "s")
			fmt.Printf("register_%d_nodes_%s %.1f s (%.1f ms a node, %d rows in the first node's extract)\n",
				nodes, be.Name, took.Seconds(), float64(took.Microseconds())/1000/float64(nodes), rows)
			fmt.Printf("register_%d_nodes_%s_limit %.1f s\n", nodes, be.Name, limit.Seconds())
		})
	}
}
