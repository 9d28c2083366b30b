package merger

import (
	"context"
	"errors"
	"fmt"

	"github.com/fieldsync/fieldsync"
)

// madeUnder is the schema version an upload's changes were made under, as
// the schema marker the file may begin with says (version 0 and no schema
// when it has none: it was made under the version in force). The marker is
// not one of the upload's changes: they are numbered after it.
type madeUnder struct {
	version int64
	schema  *fieldsync.Schema
	// tableGone caches, by table, the version that dropped a table of
	// schema from the schema (found when a change to one is met).
	tableGone map[string]int64
}

// markerAt checks the schema marker found at transaction num of upload n's
// file: only the first may be one, and it must be well formed. It returns the
// version the marker names.
func markerAt(n, num int64, t fieldsync.Txn) (int64, error) {
	if num != 1 {
		return 0, refuse("upload %d: transaction %d of the file is a schema marker, and only the first may be one", n, num)
	}
	sv, err := fieldsync.ParseSchemaMarker(t)
	if err != nil {
		return 0, refuse("upload %d: %v", n, err)
	}
	return sv.Version, nil
}

// schemaOf returns what upload n was made under, from the version its
// marker named (0: none). A version newer than the one in force, or one
// the database never had, refuses the upload whole.
func (m *Merger) schemaOf(ctx context.Context, n, version int64) (*madeUnder, error) {
	if version == 0 {
		return &madeUnder{}, nil
	}
	if _, inForce := m.inForce(); version > inForce {
		return nil, refuse("upload %d was made under schema version %d, newer than the version in force (%d)", n, version, inForce)
	}
	s, err := m.st.SchemaAt(ctx, version)
	if errors.Is(err, fieldsync.ErrNotFound) {
		return nil, refuse("upload %d was made under schema version %d, which this server database never had", n, version)
	} else if err != nil {
		return nil, fmt.Errorf("read schema version %d: %w", version, err)
	}
	return &madeUnder{version: version, schema: s, tableGone: map[string]int64{}}, nil
}

// inForce returns the schema in force and its version, read together.
func (m *Merger) inForce() (*fieldsync.Schema, int64) {
	for {
		v := m.st.SchemaVersion()
		s := m.st.Schema()
		if m.st.SchemaVersion() == v {
			return s, v
		}
	}
}

// translated is one batch of an upload's changes as the schema in force
// takes them.
type translated struct {
	txns    []fieldsync.Txn
	refused map[int]string // by index in txns: why the change cannot be merged
	dropped int64          // values of columns dropped since, left out
}

// translate turns a batch of changes made under an earlier schema version
// into changes under the schema in force: values of columns dropped since
// are left out, and an insert's null in a column that is required now but
// was not then is left out too, so that the column's default applies (the
// write path refuses the insert, naming the column, when it has none).
// Changes to a table dropped since, and changes naming a table or column
// the earlier version never had, are refused; nothing else is relaxed:
// the translated changes are checked like any other. from is the number of
// changes before the batch.
func (u *uploadMerge) translate(ctx context.Context, txns []fieldsync.Txn, from int64) (translated, error) {
	out := translated{txns: txns, refused: map[int]string{}}
	cur, inForce := u.m.inForce()
	mu := u.madeUnder
	if mu.version == 0 || mu.version == inForce {
		return out, nil
	}
	out.txns = make([]fieldsync.Txn, len(txns))
	for i, t := range txns {
		num := from + int64(i) + 1
		out.txns[i] = t
		why, err := u.translateOne(ctx, &out.txns[i], cur, inForce, &out.dropped)
		if err != nil {
			return out, err
		}
		if why != "" {
			out.refused[i] = changeName(num, u.total, t) + ": " + why
		}
	}
	return out, nil
}

// translateOne rewrites one change in place, or says why it is refused.
func (u *uploadMerge) translateOne(ctx context.Context, t *fieldsync.Txn, cur *fieldsync.Schema, inForce int64, dropped *int64) (string, error) {
	mu := u.madeUnder
	then := mu.schema.Table(t.Table)
	if then == nil {
		return fmt.Sprintf("unknown table %q (schema version %d, which the upload was made under, has no such table)", t.Table, mu.version), nil
	}
	now := cur.Table(t.Table)
	if now == nil {
		v, err := u.droppedIn(ctx, t.Table, inForce)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("table %s was dropped from the schema (version %d): its changes are no longer merged", t.Table, v), nil
	}
	vals, gone := fieldsync.Row{}, int64(0)
	for k, v := range t.Values {
		switch {
		case then.Column(k) == nil:
			return fmt.Sprintf("table %s has no column %q in schema version %d, which the upload was made under", t.Table, k, mu.version), nil
		case now.Column(k) == nil:
			gone++ // dropped since: the node's value has nowhere to go
		case t.Op == fieldsync.OpInsert && v == nil && now.Column(k).Required && !then.Column(k).Required:
			// Required since: the column's default, if it has one.
		default:
			vals[k] = v
		}
	}
	if t.Values != nil {
		t.Values = vals
	}
	*dropped += gone
	if t.Prev != nil {
		prev := fieldsync.Row{}
		for k, v := range t.Prev {
			if now.Column(k) != nil {
				prev[k] = v
			}
		}
		t.Prev = prev
	}
	return "", nil
}

// droppedIn returns the first version after the upload's that no longer
// has the table (the version in force, when the versions between cannot
// be read).
func (u *uploadMerge) droppedIn(ctx context.Context, table string, inForce int64) (int64, error) {
	mu := u.madeUnder
	if v, ok := mu.tableGone[table]; ok {
		return v, nil
	}
	v := inForce
	for k := mu.version + 1; k < inForce; k++ {
		s, err := u.m.st.SchemaAt(ctx, k)
		if errors.Is(err, fieldsync.ErrNotFound) {
			continue
		} else if err != nil {
			return 0, fmt.Errorf("read schema version %d: %w", k, err)
		}
		if s.Table(table) == nil {
			v = k
			break
		}
	}
	mu.tableGone[table] = v
	return v, nil
}
