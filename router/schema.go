package router

import (
	"context"
	"errors"
	"slices"

	"github.com/fieldsync/fieldsync"
)

// switchSchema puts in force the schema version whose marker t is, at t's
// place in the flow: every active node (whose extract is older) gets the
// marker, then the rows it sees under the version's rules and did not see
// before, whole, and purges of the rows it no longer sees. Nodes whose
// visible rows do not change get the marker alone. Deliveries are flushed
// in bounded batches (MaxPending) like any others.
func (r *Router) switchSchema(ctx context.Context, t *fieldsync.Txn) error {
	sv, err := fieldsync.ParseSchemaMarker(*t)
	if err != nil {
		return err
	}
	sch, err := r.st.SchemaAt(ctx, sv.Version)
	if err != nil {
		return err
	}
	g, err := r.graphAt(ctx, t.Seq, sch)
	if err != nil {
		return err
	}
	byEmp := map[string][]*node{}
	var emps []string
	for _, n := range r.active {
		if !r.ready(n, t.Seq) {
			continue
		}
		r.add(n, t)
		if byEmp[n.EmployeeID] == nil {
			emps = append(emps, n.EmployeeID)
		}
		byEmp[n.EmployeeID] = append(byEmp[n.EmployeeID], n)
	}
	rows := map[[2]string]*fieldsync.Txn{} // rows sent whole, read once for every node
	for _, emp := range emps {
		gained, lost := visibleDiff(r.g.Visible(emp), g.Visible(emp), sch)
		for _, k := range gained {
			w, ok := rows[k]
			if !ok {
				if w, err = r.wholeIn(ctx, t, sch, k[0], k[1]); err != nil {
					return err
				}
				rows[k] = w
			}
			for _, n := range byEmp[emp] {
				if w != nil {
					r.add(n, w)
				}
			}
		}
		for _, k := range lost {
			p := &fieldsync.Txn{Seq: t.Seq, Op: fieldsync.OpPurge, Table: k[0], RowID: k[1], Time: t.Time}
			for _, n := range byEmp[emp] {
				r.add(n, p)
			}
		}
		if r.pending >= r.cfg.MaxPending {
			if err := r.flush(); err != nil {
				return err
			}
		}
	}
	r.g, r.schema = g, sch
	r.log.Info("schema version in force", "version", sv.Version, "seq", t.Seq, "nodes", len(byEmp), "rows_sent", len(rows))
	return nil
}

// visibleDiff returns the rows (table, id) in after and not in before
// (gained), and in before and not in after (lost), leaving out rows of
// tables sch no longer has: a node drops those tables whole.
func visibleDiff(before, after map[string][]string, sch *fieldsync.Schema) (gained, lost [][2]string) {
	diff := func(a, b map[string][]string) [][2]string {
		var out [][2]string
		for _, table := range sortedKeys(a) {
			if sch.Table(table) == nil {
				continue
			}
			have := b[table] // sorted
			for _, id := range a[table] {
				if _, found := slices.BinarySearch(have, id); !found {
					out = append(out, [2]string{table, id})
				}
			}
		}
		return out
	}
	return diff(after, before), diff(before, after)
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// whole reads a row to send whole, under the router's schema version.
func (r *Router) whole(ctx context.Context, t *fieldsync.Txn, table, id string) (*fieldsync.Txn, error) {
	return r.wholeIn(ctx, t, r.schema, table, id)
}

// wholeIn reads a row to send whole at t's place, with the columns schema
// sch has (the database may be at a later version); nil when the row was
// deleted since (its delete reaches those who see it).
func (r *Router) wholeIn(ctx context.Context, t *fieldsync.Txn, sch *fieldsync.Schema, table, id string) (*fieldsync.Txn, error) {
	row, err := r.st.Get(ctx, table, id)
	if errors.Is(err, fieldsync.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if tb := sch.Table(table); tb != nil && sch != r.st.Schema() {
		for col := range row {
			if tb.Column(col) == nil {
				delete(row, col)
			}
		}
	}
	return &fieldsync.Txn{Seq: t.Seq, Op: fieldsync.OpInsert, Table: table, RowID: id, Values: row, Time: t.Time}, nil
}
