package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/schema"
)

// PlanSchema says what ApplySchema would do with s, changing nothing.
func (st *Store) PlanSchema(ctx context.Context, s *fieldsync.Schema) (*fieldsync.SchemaPlan, error) {
	var plan *fieldsync.SchemaPlan
	err := st.snapshotTx(ctx, func(q Querier) error {
		var err error
		plan, err = st.plan(ctx, q, st.Schema(), s)
		return err
	})
	return plan, err
}

// snapshotTx runs fn in a read transaction.
func (st *Store) snapshotTx(ctx context.Context, fn func(q Querier) error) error {
	tx, err := st.read.BeginTx(ctx, st.d.SnapshotOptions())
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// ApplySchema puts schema s in force on the running server, in one
// transaction: it checks the change (refusing it whole, with every reason,
// before anything changes), migrates the tables, records s as a new
// version and appends its marker to the Transaction Log, from which the
// Transaction Router sends each node the change and the rows it now sees
// or no longer sees. by names who applied it. Processes of the
// installation that share the database pick the version up by
// RefreshSchema.
func (st *Store) ApplySchema(ctx context.Context, s *fieldsync.Schema, by string) (*fieldsync.SchemaPlan, error) {
	if st.local {
		return nil, fmt.Errorf("a node's local database takes schema versions from its inbox")
	}
	release, err := st.d.Lock(ctx, st.write, "schema-upgrade")
	if err != nil {
		return nil, err
	}
	defer release()
	if _, err := st.RefreshSchema(ctx); err != nil {
		return nil, err
	}
	var plan *fieldsync.SchemaPlan
	err = st.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if plan, err = st.plan(ctx, tx, st.Schema(), s); err != nil {
			return err
		}
		if plan.Refused != nil {
			return plan.Refused
		}
		if plan.Same {
			return nil
		}
		if err := st.migrateTables(ctx, tx, st.Schema(), s); err != nil {
			return err
		}
		v, err := st.recordVersion(ctx, tx, s, by, true)
		plan.To = v
		return err
	})
	if err != nil {
		return plan, err
	}
	if !plan.Same {
		st.SetSchema(s, plan.To)
		st.NotifyChanged()
	}
	return plan, nil
}

// plan compares schema s with old, the one in force, and the database.
func (st *Store) plan(ctx context.Context, q Querier, old, s *fieldsync.Schema) (*fieldsync.SchemaPlan, error) {
	from := st.SchemaVersion()
	p := &fieldsync.SchemaPlan{From: from, To: from + 1, Source: s.Source}
	if sameSchema(old, s) {
		p.Same, p.To = true, from
		return p, nil
	}
	var refused schema.Errors
	defer func() {
		if len(refused) > 0 {
			slices.SortStableFunc(refused, func(a, b *schema.Error) int { return a.Line - b.Line })
			p.Refused = refused
		}
	}()
	refuse := func(line int, format string, args ...any) {
		refused = append(refused, &schema.Error{File: s.Source, Line: line, Reason: fmt.Sprintf(format, args...), Err: fieldsync.ErrSchemaMismatch})
	}
	if old.Nodes != s.Nodes {
		refuse(0, "nodes: the employee and position tables nodes are registered for cannot change on a deployed database (they are %s and %s.%s)",
			old.Nodes.EmployeeTable, old.Nodes.PositionTable, old.Nodes.PositionEmployee)
	}
	stored, err := st.storedTypes(ctx, q)
	if err != nil {
		return nil, err
	}
	for _, t := range s.Tables {
		if err := st.planTable(ctx, q, p, old.Table(t.Name), t, stored[t.Name], refuse); err != nil {
			return nil, err
		}
	}
	for _, ot := range old.Tables {
		if s.Table(ot.Name) != nil {
			continue
		}
		if err := st.planDrop(ctx, q, old, s, ot, refuse); err != nil {
			return nil, err
		}
		p.Steps = append(p.Steps, "drop table "+ot.Name+" (its rows stay in the database, unused)")
	}
	return p, nil
}

// storedTypes returns the type of every column the database has stored,
// dropped ones included.
func (st *Store) storedTypes(ctx context.Context, q Querier) (map[string]map[string]fieldsync.ColumnType, error) {
	types := map[string]map[string]fieldsync.ColumnType{}
	raw, ok, err := st.meta(ctx, q, "schema_columns")
	if err != nil || !ok {
		return types, err
	}
	if err := json.Unmarshal([]byte(raw), &types); err != nil {
		return nil, fmt.Errorf("read recorded schema: %w", err)
	}
	return types, nil
}

// planTable adds the steps and refusals of table t, ot before (nil: new).
func (st *Store) planTable(ctx context.Context, q Querier, p *fieldsync.SchemaPlan, ot, t *fieldsync.Table,
	stored map[string]fieldsync.ColumnType, refuse func(int, string, ...any)) error {
	for _, c := range t.Columns {
		if typ, ok := stored[c.Name]; ok && typ != c.Type {
			refuse(c.Line, "column %s.%s is %s but the database stores it as %s; changing a column's type is not supported (add a new column, copy the values, then drop the old one)",
				t.Name, c.Name, c.Type, typ)
		}
	}
	if ot == nil {
		p.Steps = append(p.Steps, "create table "+t.Name)
		return st.planUnique(ctx, q, p, nil, t, refuse)
	}
	for _, c := range t.Columns {
		oc := ot.Column(c.Name)
		switch {
		case oc == nil && c.Default != nil:
			p.Steps = append(p.Steps, fmt.Sprintf("add column %s.%s %s, existing rows get its default %v", t.Name, c.Name, c.Type, c.Default))
		case oc == nil:
			p.Steps = append(p.Steps, fmt.Sprintf("add column %s.%s %s, null in existing rows", t.Name, c.Name, c.Type))
		case describeColumn(oc) != describeColumn(c):
			p.Steps = append(p.Steps, fmt.Sprintf("change column %s.%s to %s, was %s (existing rows are not checked)", t.Name, c.Name, describeColumn(c), describeColumn(oc)))
		}
	}
	for _, oc := range ot.Columns {
		if t.Column(oc.Name) == nil {
			p.Steps = append(p.Steps, fmt.Sprintf("drop column %s.%s (its values stay in the database, unused)", t.Name, oc.Name))
		}
	}
	if !sameRules(ot.Rules, t.Rules) {
		p.Steps = append(p.Steps, "change the visibility rules of "+t.Name)
	}
	if describeOptions(ot) != describeOptions(t) {
		p.Steps = append(p.Steps, fmt.Sprintf("change the options of %s to %s", t.Name, describeOptions(t)))
	}
	return st.planUnique(ctx, q, p, ot, t, refuse)
}

// planUnique adds the unique keys t gains (checked against existing rows)
// and loses.
func (st *Store) planUnique(ctx context.Context, q Querier, p *fieldsync.SchemaPlan, ot, t *fieldsync.Table, refuse func(int, string, ...any)) error {
	had := func(u []string) bool {
		return ot != nil && slices.ContainsFunc(ot.Unique, func(o []string) bool { return slices.Equal(o, u) })
	}
	for _, u := range t.Unique {
		if had(u) {
			continue
		}
		p.Steps = append(p.Steps, fmt.Sprintf("add unique key %s(%s)", t.Name, strings.Join(u, ", ")))
		if ot == nil {
			continue
		}
		dup, n, err := st.duplicate(ctx, q, t.Name, u)
		if err != nil {
			return err
		}
		if n > 0 {
			refuse(t.Line, "unique key %s(%s): existing rows are not unique: %s is held by %d rows", t.Name, strings.Join(u, ", "), dup, n)
		}
	}
	if ot != nil {
		for _, u := range ot.Unique {
			if !slices.ContainsFunc(t.Unique, func(o []string) bool { return slices.Equal(o, u) }) {
				p.Steps = append(p.Steps, fmt.Sprintf("drop unique key %s(%s)", t.Name, strings.Join(u, ", ")))
			}
		}
	}
	return nil
}

// duplicate finds a value of columns cols of table held by more than one
// row: its text and how many hold it (0: none).
func (st *Store) duplicate(ctx context.Context, q Querier, table string, cols []string) (string, int64, error) {
	quoted := make([]string, len(cols))
	var notNull []string
	for i, c := range cols {
		quoted[i] = quote(c)
		notNull = append(notNull, quote(c)+" IS NOT NULL")
	}
	list := strings.Join(quoted, ", ")
	query := fmt.Sprintf("SELECT %s, COUNT(*) FROM %s WHERE %s GROUP BY %s HAVING COUNT(*) > 1 LIMIT 1",
		list, quote(table), strings.Join(notNull, " AND "), list)
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return "", 0, fmt.Errorf("check unique key %s(%s): %w", table, strings.Join(cols, ", "), err)
	}
	defer rows.Close()
	if !rows.Next() {
		return "", 0, rows.Err()
	}
	vals := make([]any, len(cols)+1)
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", 0, err
	}
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = fmt.Sprintf("%s = %v", c, vals[i])
	}
	n, _ := vals[len(cols)].(int64)
	return strings.Join(parts, ", "), n, rows.Err()
}

// planDrop refuses dropping table ot while rows of a table the new schema
// keeps refer to its rows through a column the old schema declared a
// reference to it.
func (st *Store) planDrop(ctx context.Context, q Querier, old, s *fieldsync.Schema, ot *fieldsync.Table, refuse func(int, string, ...any)) error {
	for _, ref := range old.ReferencesTo(ot.Name) {
		kept := s.Table(ref.Table.Name)
		if kept == nil {
			continue
		}
		tb, col := ref.Table.Name, ref.Column.Name
		var n int64
		err := q.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s IS NOT NULL", quote(tb), quote(col))).Scan(&n)
		if err != nil {
			return fmt.Errorf("check references to %s: %w", ot.Name, err)
		}
		if n > 0 {
			refuse(kept.Line, "table %s is dropped but %d rows of %s refer to its rows through %s.%s: clear %s.%s first, or keep %s",
				ot.Name, n, tb, tb, col, tb, col, ot.Name)
		}
	}
	return nil
}

// sameSchema reports whether two schemas are the same text and structure
// (a schema built or changed in Go keeps the text it was read from).
func sameSchema(a, b *fieldsync.Schema) bool {
	return SchemaHash(a) == SchemaHash(b) && a.Fingerprint() == b.Fingerprint()
}
