package router

import (
	"context"
	"errors"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/visibility"
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
	rows := map[visibility.Row]*fieldsync.Txn{} // rows sent whole, read once for every node
	moves := visibility.NewMoves(r.g, g)
	for _, emp := range emps {
		gained, lost := moves.Of(emp)
		for _, k := range gained {
			w, ok := rows[k]
			if !ok {
				if w, err = r.wholeIn(ctx, t, sch, k.Table, k.ID); err != nil {
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
			if sch.Table(k.Table) == nil {
				continue // a table the version drops: the node drops it whole
			}
			p := &fieldsync.Txn{Seq: t.Seq, Op: fieldsync.OpPurge, Table: k.Table, RowID: k.ID, Time: t.Time}
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
		tb.Trim(row)
	}
	return &fieldsync.Txn{Seq: t.Seq, Op: fieldsync.OpInsert, Table: table, RowID: id, Values: row, Time: t.Time}, nil
}
