package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/schema"
)

// Schema versions: fs_schema holds every version of the schema a server
// database has had in force, with the log position of its marker (see
// fieldsync.SchemaTable). Versions are read back parsed and kept, since
// they never change once recorded.

// SchemaVersions returns every version the database recorded, oldest
// first.
func (st *Store) SchemaVersions(ctx context.Context) ([]fieldsync.SchemaVersion, error) {
	return st.schemaVersions(ctx, st.read, 0)
}

func (st *Store) schemaVersions(ctx context.Context, q Querier, from int64) ([]fieldsync.SchemaVersion, error) {
	rows, err := q.QueryContext(ctx, "SELECT version, source, yaml, seq, at, by_user FROM fs_schema WHERE version >= "+
		st.d.Placeholder(1)+" ORDER BY version", from)
	if err != nil {
		return nil, fmt.Errorf("read schema versions: %w", err)
	}
	defer rows.Close()
	var out []fieldsync.SchemaVersion
	for rows.Next() {
		var v fieldsync.SchemaVersion
		var yaml string
		var at int64
		if err := rows.Scan(&v.Version, &v.Source, &yaml, &v.Seq, &at, &v.By); err != nil {
			return nil, fmt.Errorf("read schema versions: %w", err)
		}
		v.YAML, v.Applied = []byte(yaml), time.Unix(0, at).UTC()
		out = append(out, v)
	}
	return out, rows.Err()
}

// SchemaAt returns version v of the schema (fieldsync.ErrNotFound when
// the database never had it).
func (st *Store) SchemaAt(ctx context.Context, v int64) (*fieldsync.Schema, error) {
	if c := st.cur.Load(); c != nil && c.version == v {
		return c.schema, nil
	}
	st.mu.Lock()
	s := st.versions[v]
	st.mu.Unlock()
	if s != nil {
		return s, nil
	}
	vs, err := st.schemaVersions(ctx, st.read, v)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 || vs[0].Version != v {
		return nil, fieldsync.Errorf(fieldsync.ErrNotFound, "schema version %d: the database never had it", v)
	}
	return st.keepVersion(vs[0])
}

// keepVersion parses a recorded version and keeps it for SchemaAt.
func (st *Store) keepVersion(v fieldsync.SchemaVersion) (*fieldsync.Schema, error) {
	s, err := schema.Parse(v.Source, v.YAML)
	if err != nil {
		return nil, fmt.Errorf("schema version %d (from %s) no longer reads: %w", v.Version, v.Source, err)
	}
	st.mu.Lock()
	if st.versions == nil {
		st.versions = map[int64]*fieldsync.Schema{}
	}
	st.versions[v.Version] = s
	st.mu.Unlock()
	return s, nil
}

// SchemaAtSeq returns the schema version in force for the log entry after
// seq: the newest version whose marker is at or before seq.
func (st *Store) SchemaAtSeq(ctx context.Context, seq int64) (*fieldsync.Schema, int64, error) {
	var v int64
	err := st.read.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM fs_schema WHERE seq <= "+st.d.Placeholder(1), seq).Scan(&v)
	if err != nil {
		return nil, 0, fmt.Errorf("read schema versions: %w", err)
	}
	if v == 0 {
		return st.Schema(), st.SchemaVersion(), nil // a database of an earlier build
	}
	s, err := st.SchemaAt(ctx, v)
	return s, v, err
}

// RefreshSchema puts in force a newer version another process of the
// installation applied, and reports whether it did.
func (st *Store) RefreshSchema(ctx context.Context) (bool, error) {
	cur := st.SchemaVersion()
	vs, err := st.schemaVersions(ctx, st.read, cur+1)
	if err != nil || len(vs) == 0 {
		return false, err
	}
	last := vs[len(vs)-1]
	s, err := st.keepVersion(last)
	if err != nil {
		return false, err
	}
	st.SetSchema(s, last.Version)
	return true, nil
}

// latestVersion returns the newest recorded version's number and hash, 0
// and "" when none is recorded.
func (st *Store) latestVersion(ctx context.Context, q Querier) (int64, string, error) {
	var v int64
	var hash string
	err := q.QueryRowContext(ctx, "SELECT version, sha256 FROM fs_schema ORDER BY version DESC LIMIT 1").Scan(&v, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("read schema versions: %w", err)
	}
	return v, hash, nil
}

// recordVersion records s as the database's schema in the transaction
// that made the tables s's: as version 1 on a database that recorded no
// version (in force from the start), as a new version with its marker in
// the log when s differs from the newest one (or changed says it does). It
// returns the version in force.
func (st *Store) recordVersion(ctx context.Context, tx *sql.Tx, s *fieldsync.Schema, by string, changed bool) (int64, error) {
	last, hash, err := st.latestVersion(ctx, tx)
	if err != nil {
		return 0, err
	}
	if last > 0 && !changed && hash == SchemaHash(s) && (st.prevSchema == nil || sameSchema(st.prevSchema, s)) {
		return last, nil
	}
	v := fieldsync.SchemaVersion{Version: last + 1, Source: s.Source, YAML: s.YAML, Applied: st.now().UTC(), By: by}
	if last > 0 {
		if v.Seq, err = st.logMarker(ctx, tx, v); err != nil {
			return 0, err
		}
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO fs_schema (version, source, yaml, sha256, seq, at, by_user) VALUES ("+st.placeholders(7)+")",
		v.Version, v.Source, string(v.YAML), SchemaHash(s), v.Seq, v.Applied.UnixNano(), v.By)
	if err != nil {
		return 0, fmt.Errorf("record schema version %d: %w", v.Version, err)
	}
	return v.Version, nil
}

// logMarker appends version v's marker to the Transaction Log and returns
// its sequence number.
func (st *Store) logMarker(ctx context.Context, tx *sql.Tx, v fieldsync.SchemaVersion) (int64, error) {
	last, err := st.lockLogSeq(ctx, tx)
	if err != nil {
		return 0, err
	}
	m := fieldsync.SchemaMarker(v)
	vals, err := encodeRow(m.Values)
	if err != nil {
		return 0, err
	}
	seq := last + 1
	logSQL := fmt.Sprintf("INSERT INTO fs_log (seq, op, tbl, row_id, vals, prev, origin, at, usr) VALUES (%s)", st.placeholders(9))
	if _, err := tx.ExecContext(ctx, logSQL, seq, string(m.Op), m.Table, m.RowID, vals, nil, "", v.Applied.UnixNano(), v.By); err != nil {
		return 0, fmt.Errorf("append the schema marker to the transaction log: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE fs_seq SET value = "+st.d.Placeholder(1)+" WHERE name = 'log'", seq); err != nil {
		return 0, fmt.Errorf("advance log sequence: %w", err)
	}
	return seq, nil
}

// decodeMarker reads a logged schema marker's values back.
func decodeMarker(raw map[string]any) (fieldsync.Row, error) {
	row := fieldsync.Row{}
	for k, v := range raw {
		switch k {
		case "id", "source", "yaml":
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("schema marker: %s is not text", k)
			}
			row[k] = s
		case "version":
			c := &fieldsync.Column{Name: k, Type: fieldsync.TypeInteger}
			n, err := c.Coerce(v)
			if err != nil {
				return nil, fmt.Errorf("schema marker: %w", err)
			}
			row[k] = n
		default:
			return nil, fmt.Errorf("schema marker: unknown value %s", k)
		}
	}
	return row, nil
}
