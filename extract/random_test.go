package extract_test

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/extract"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/localdb"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/visibility"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "seed for the randomized extract test (0: from FIELDSYNC_SEED or the clock)")
	stepsFlag = flag.Int("steps", 150, "random changes per seed in the randomized extract test")
	seedsFlag = flag.Int("seeds", 2, "number of seeds the randomized extract test runs")
)

// tangleYAML is a schema with every shape of rule the walk follows: rows
// every node sees through all and what hangs off them (region, depot, and
// the offices depots point to), an owner rule on a column that is no
// foreign key (office.label), position rules (two on one table), a cycle
// (ring_a, ring_b), a private table, and a table in attachment modes
// whose broadcast rows make their pages and tickets seen by everyone.
const tangleYAML = `fieldsync_schema: 1
nodes:
  employee: employee
  positions: position.employee_id
tables:
  employee:
    columns: {name: text, login: text}
    visibility: [all]
  position:
    columns: {employee_id: {type: text, references: employee, on_delete: set_null}}
    visibility: [all]
  region:
    columns: {name: text}
    visibility: [all]
  depot:
    columns:
      region_id: {type: text, references: region, on_delete: cascade}
      office_id: {type: text, references: office, on_delete: set_null}
    visibility:
      - parent: region_id
  office:
    columns:
      label: text
      lead_id: {type: text, references: position, on_delete: set_null}
    visibility:
      - owner: label
      - position: lead_id
      - referenced_by: depot.office_id
      - referenced_by: ring_a.office_id
  ring_a:
    columns:
      b_id: {type: text, references: ring_b, on_delete: set_null}
      owner_id: {type: text, references: employee, on_delete: set_null}
      office_id: {type: text, references: office, on_delete: set_null}
    visibility:
      - owner: owner_id
      - parent: b_id
  ring_b:
    columns:
      a_id: {type: text, references: ring_a, on_delete: set_null}
    visibility:
      - parent: a_id
  memo:
    columns:
      office_id: {type: text, references: office, on_delete: cascade}
    visibility: private
  doc:
    columns:
      office_id: {type: text, references: office, on_delete: cascade}
      file: file
      mode: text
    visibility:
      - parent: office_id
  page:
    columns:
      doc_id: {type: text, references: doc, on_delete: cascade}
      ticket_id: {type: text, references: ticket, on_delete: set_null}
    visibility:
      - parent: doc_id
  ticket:
    columns:
      pos_a: {type: text, references: position, on_delete: set_null}
      pos_b: {type: text, references: position, on_delete: set_null}
    visibility:
      - position: pos_a
      - position: pos_b
      - referenced_by: page.ticket_id
`

// TestExtractMatchesReference makes random changes to a server database
// (of the built-in CRM schema, and of tangleYAML) and, every so often,
// takes the extract of a node of every employee: each must hold exactly
// the rows visibility.Reference says the node sees, as the server holds
// them. Nodes of one round are extracted from the same snapshot state, so
// the rows every node sees are shared between their extracts; the rounds
// between them change those rows too.
func TestExtractMatchesReference(t *testing.T) {
	tangle, err := schema.Parse("tangle.yaml", []byte(tangleYAML))
	if err != nil {
		t.Fatal(err)
	}
	schemas := map[string]*fieldsync.Schema{"crm": schema.Default(), "tangle": tangle}
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		for _, name := range []string{"crm", "tangle"} {
			s := schemas[name]
			t.Run(name, func(t *testing.T) {
				for _, seed := range testutil.Seeds(t, *seedFlag, *seedsFlag) {
					t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
						t.Logf("replay with: go test ./extract -run 'TestExtractMatchesReference/%s/%s/seed=%d' -seed %d -steps %d (or FIELDSYNC_SEED=%d)",
							b.Name, name, seed, seed, *stepsFlag, seed)
						randomExtracts(t, b, s, seed, *stepsFlag)
					})
				}
			})
		}
	})
}

// randomDB makes random valid changes to a store of any schema.
type randomDB struct {
	t    *testing.T
	st   *sqlstore.Store
	rng  *rand.Rand
	emps []string
	ids  map[string][]string
}

func (r *randomDB) pick(table string) any {
	l := r.ids[table]
	if len(l) == 0 || r.rng.IntN(6) == 0 {
		return nil
	}
	return l[r.rng.IntN(len(l))]
}

// value returns a random value for a column: an existing row for a
// foreign key, an employee (or not) for an owner column, a mode for the
// mode column, and text otherwise.
func (r *randomDB) value(t *fieldsync.Table, c *fieldsync.Column) any {
	switch {
	case c.References != "":
		v := r.pick(c.References)
		if v == nil && c.Required && len(r.ids[c.References]) > 0 {
			v = r.ids[c.References][r.rng.IntN(len(r.ids[c.References]))]
		}
		return v
	case c.Name == fieldsync.ModeColumn:
		return []string{fieldsync.ModePublished, fieldsync.ModeRequested, fieldsync.ModeBroadcast}[r.rng.IntN(3)]
	case c.Type == fieldsync.TypeText:
		for _, rule := range t.Rules {
			if rule.Kind == fieldsync.RuleOwner && rule.Column == c.Name && r.rng.IntN(4) > 0 {
				return r.emps[r.rng.IntN(len(r.emps))]
			}
		}
		return fmt.Sprintf("v%d", r.rng.IntN(1000))
	case c.Type == fieldsync.TypeReal:
		return float64(r.rng.IntN(1000)) / 4
	}
	return nil
}

// step makes one random insert, update or delete; a change the schema
// refuses (a unique key, a restrict) is skipped.
func (r *randomDB) step() {
	ctx := context.Background()
	s := r.st.Schema()
	var tables []*fieldsync.Table
	for _, t := range s.Tables {
		if t.Name != s.Nodes.EmployeeTable {
			tables = append(tables, t)
		}
	}
	t := tables[r.rng.IntN(len(tables))]
	var ch fieldsync.Change
	switch op := r.rng.IntN(10); {
	case op < 5 || len(r.ids[t.Name]) == 0:
		vals := map[string]any{}
		for _, c := range t.Columns[1:] {
			if c.Type == fieldsync.TypeFile {
				continue
			}
			if v := r.value(t, c); v != nil || c.References != "" {
				vals[c.Name] = v
			}
		}
		ch = fieldsync.Insert(t.Name, vals)
	case op < 8:
		vals := map[string]any{}
		for _, c := range t.Columns[1:] {
			if c.Type != fieldsync.TypeFile && r.rng.IntN(2) == 0 {
				vals[c.Name] = r.value(t, c)
			}
		}
		if len(vals) == 0 {
			return
		}
		ch = fieldsync.Update(t.Name, r.ids[t.Name][r.rng.IntN(len(r.ids[t.Name]))], vals)
	default:
		ch = fieldsync.Delete(t.Name, r.ids[t.Name][r.rng.IntN(len(r.ids[t.Name]))])
	}
	txns, err := r.st.Apply(ctx, "", ch)
	switch {
	case err == nil:
	case errors.Is(err, fieldsync.ErrInvalid), errors.Is(err, fieldsync.ErrExists), errors.Is(err, fieldsync.ErrInUse):
		return
	default:
		r.t.Fatalf("%+v: %v", ch, err)
	}
	for _, tx := range txns {
		switch tx.Op {
		case fieldsync.OpInsert:
			r.ids[tx.Table] = append(r.ids[tx.Table], tx.RowID)
		case fieldsync.OpDelete:
			r.ids[tx.Table] = slices.DeleteFunc(r.ids[tx.Table], func(id string) bool { return id == tx.RowID })
		}
	}
}

func randomExtracts(t *testing.T, b testutil.Backend, s *fieldsync.Schema, seed uint64, steps int) {
	ctx := context.Background()
	st, _ := b.Open(t, s)
	r := &randomDB{t: t, st: st, rng: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)), ids: map[string][]string{}}
	// Five employees, each with a node; random rows name the first four.
	for i := 0; i < 5; i++ {
		e := fmt.Sprintf("e%d", i)
		if _, err := st.Apply(ctx, "", fieldsync.Insert("employee", map[string]any{"id": e, "name": e, "login": e})); err != nil {
			t.Fatal(err)
		}
		if i < 4 {
			r.emps = append(r.emps, e)
		}
		r.ids["employee"] = append(r.ids["employee"], e)
		if _, err := st.AddNode(ctx, fieldsync.Node{Name: e + "-laptop", EmployeeID: e}, fieldsync.HashSecret("s")); err != nil {
			t.Fatal(err)
		}
	}
	dock := docking.Folder(t.TempDir())
	// Three rounds of extracts, the last at the end.
	for step := 1; step <= steps; step++ {
		r.step()
		if step%max(steps/3, 1) == 0 || step == steps {
			server := serverRows(t, st)
			for _, e := range r.ids["employee"][:5] {
				checkExtract(t, st, dock, server, e, fmt.Sprintf("seed %d step %d", seed, step))
			}
		}
	}
}

// checkExtract takes the extract of the employee's node and compares it
// with the reference visible set and the server's rows (server, by table
// and id).
func checkExtract(t *testing.T, st *sqlstore.Store, dock docking.Folder, server map[string]map[string]fieldsync.Row, employee, when string) {
	t.Helper()
	ctx := context.Background()
	s := st.Schema()
	res, err := extract.Extract(ctx, st, dock, employee+"-laptop", nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := visibility.Reference(ctx, st, s, employee)
	if err != nil {
		t.Fatal(err)
	}
	h, err := localdb.ReadHeader(ctx, res.Path)
	if err != nil || h.ExtractSeq != res.Seq || h.EmployeeID != employee || h.Node != employee+"-laptop" {
		t.Fatalf("%s: header %+v (%v), extract at %d", when, h, err, res.Seq)
	}
	db, err := sql.Open("sqlite", "file:"+res.Path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tb := range s.Tables {
		got, err := fileRows(ctx, db, tb)
		if err != nil {
			t.Fatalf("%s: %s's extract: %v", when, employee, err)
		}
		ids := make([]string, 0, len(got))
		for id, row := range got {
			ids = append(ids, id)
			if want := fileValues(tb, server[tb.Name][id]); !reflect.DeepEqual(row, want) {
				t.Fatalf("%s: %s's extract has %s %s as %v, the server as %v", when, employee, tb.Name, id, row, want)
			}
		}
		sort.Strings(ids)
		if want := ref[tb.Name]; len(ids) != len(want) || !slices.Equal(ids, want) {
			t.Fatalf("%s: %s's extract of %s differs from the reference\n got: %v\nwant: %v", when, employee, tb.Name, ids, want)
		}
		if res.Rows[tb.Name] != len(ids) {
			t.Fatalf("%s: %s's extract says %d rows of %s, holds %d", when, employee, res.Rows[tb.Name], tb.Name, len(ids))
		}
	}
}

// serverRows reads every row of the server database, by table and id.
func serverRows(t *testing.T, st *sqlstore.Store) map[string]map[string]fieldsync.Row {
	t.Helper()
	out := map[string]map[string]fieldsync.Row{}
	err := st.Snapshot(context.Background(), func(snap fieldsync.Snapshot) error {
		for _, tb := range st.Schema().Tables {
			out[tb.Name] = map[string]fieldsync.Row{}
			err := snap.Scan(context.Background(), tb.Name, func(r fieldsync.Row) error {
				out[tb.Name][r.ID()] = r
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fileRows reads a table of an extract file as SQLite returns its values.
func fileRows(ctx context.Context, db *sql.DB, t *fieldsync.Table) (map[string][]any, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`SELECT * FROM "%s"`, t.Name))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if len(cols) != len(t.Columns) {
		return nil, fmt.Errorf("%s has columns %v", t.Name, cols)
	}
	out := map[string][]any{}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out[vals[0].(string)] = vals
	}
	return out, rows.Err()
}

// fileValues is a server row as an extract file stores it (booleans as
// integers).
func fileValues(t *fieldsync.Table, r fieldsync.Row) []any {
	if r == nil {
		return nil
	}
	out := make([]any, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = r[c.Name]
		if b, ok := out[i].(bool); ok {
			out[i] = int64(0)
			if b {
				out[i] = int64(1)
			}
		}
	}
	return out
}
