package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/schema"
)

// The schema a server database was last opened with, kept in fs_meta next
// to schema_columns and schema_fingerprint (which syncSchema keeps): its
// YAML text, where it came from, and the SHA-256 of the text.
const (
	metaSchemaYAML   = "schema_yaml"
	metaSchemaSource = "schema_source"
	metaSchemaHash   = "schema_sha256"
)

// storedSchema is what fs_meta recorded of the schema before this open.
type storedSchema struct {
	yaml, source, hash, fingerprint string
}

func (st *Store) readStoredSchema(ctx context.Context) (storedSchema, error) {
	var s storedSchema
	for key, v := range map[string]*string{metaSchemaYAML: &s.yaml, metaSchemaSource: &s.source,
		metaSchemaHash: &s.hash, "schema_fingerprint": &s.fingerprint} {
		val, _, err := st.meta(ctx, st.write, key)
		if err != nil {
			return s, fmt.Errorf("read the stored schema: %w", err)
		}
		*v = val
	}
	return s, nil
}

// SchemaHash is the SHA-256 (hex) of a schema's YAML text, as fs_meta
// records it; "" for a schema built in Go without one.
func SchemaHash(s *fieldsync.Schema) string {
	if s.YAML == nil {
		return ""
	}
	sum := sha256.Sum256(s.YAML)
	return hex.EncodeToString(sum[:])
}

// resolveSchema settles the schema of a server store before syncSchema:
// opened with none, it is the one the database recorded (the built-in CRM
// schema on a new database); opened with one that differs from the
// recorded one, what changed is kept for SchemaChange.
func (st *Store) resolveSchema(ctx context.Context) error {
	if st.local {
		if st.schema == nil {
			return fmt.Errorf("a local database needs its schema")
		}
		return nil
	}
	prev, err := st.readStoredSchema(ctx)
	if err != nil {
		return err
	}
	if prev.yaml != "" {
		st.prevSchema, _ = schema.Parse(prev.source, []byte(prev.yaml)) // nil when it no longer reads
	}
	if st.schema != nil {
		st.schemaChange = describeSchemaChange(prev, st.schema)
		return nil
	}
	builtin := schema.Default()
	switch {
	case prev.yaml != "" && prev.source == builtin.Source:
		// Started with the built-in schema before: this build's built-in
		// one (logged as a change if it differs).
		st.schema = builtin
		st.schemaChange = describeSchemaChange(prev, builtin)
	case prev.yaml != "":
		s, err := schema.Parse(prev.source, []byte(prev.yaml))
		if err != nil {
			return fmt.Errorf("the schema stored in the database (from %s) no longer reads: %w", prev.source, err)
		}
		st.schema, st.schemaStored = s, true
	case prev.fingerprint == "":
		st.schema = builtin // a new database
	default:
		// A database of an earlier build, which recorded only the
		// schema's fingerprint and columns.
		if err := st.legacyBuiltin(ctx, prev, builtin); err != nil {
			return err
		}
		st.schema = builtin
		st.schemaChange = describeSchemaChange(prev, builtin)
	}
	return nil
}

// legacyBuiltin checks that a database an earlier build set up without
// recording its schema's text holds only tables and columns of the
// built-in schema: an earlier version of it. Anything else was a schema of
// the administrator's, which only they can name.
func (st *Store) legacyBuiltin(ctx context.Context, prev storedSchema, builtin *fieldsync.Schema) error {
	if prev.fingerprint == builtin.Fingerprint() {
		return nil
	}
	raw, _, err := st.meta(ctx, st.write, "schema_columns")
	if err != nil {
		return fmt.Errorf("read the recorded columns: %w", err)
	}
	var cols map[string]map[string]fieldsync.ColumnType
	if err := json.Unmarshal([]byte(raw), &cols); err != nil {
		return fmt.Errorf("read the recorded columns: %w", err)
	}
	for _, table := range slices.Sorted(maps.Keys(cols)) {
		t := builtin.Table(table)
		for _, col := range slices.Sorted(maps.Keys(cols[table])) {
			if typ := cols[table][col]; t == nil || t.Column(col) == nil || t.Column(col).Type != typ {
				return fieldsync.Errorf(fieldsync.ErrSchemaMismatch,
					"the database holds %s.%s, which the built-in schema lacks, and not the text of the schema it was set up with: start once with that schema (--schema FILE) to record it", table, col)
			}
		}
	}
	return nil
}

// recordSchema records the store's schema as the database's, in the
// transaction of syncSchema.
func (st *Store) recordSchema(ctx context.Context, q Querier, s *fieldsync.Schema) error {
	if st.local {
		return nil
	}
	for _, kv := range [][2]string{{metaSchemaYAML, string(s.YAML)}, {metaSchemaSource, s.Source},
		{metaSchemaHash, SchemaHash(s)}} {
		if err := st.setMeta(ctx, q, kv[0], kv[1]); err != nil {
			return fmt.Errorf("record the schema: %w", err)
		}
	}
	return nil
}

// SchemaChange says in one line how the schema the store was opened with
// differs from the one the database recorded before ("" when it is the
// same, when the database is new, or when the store took its schema from
// the database).
func (st *Store) SchemaChange() string { return st.schemaChange }

// SchemaFromDatabase reports whether the store was opened without a schema
// and took the one the database recorded.
func (st *Store) SchemaFromDatabase() bool { return st.schemaStored }

// describeSchemaChange compares the recorded schema with s.
func describeSchemaChange(prev storedSchema, s *fieldsync.Schema) string {
	switch {
	case prev.fingerprint == "" && prev.hash == "":
		return "" // a new database
	case prev.hash != "" && prev.hash == SchemaHash(s):
		return ""
	case prev.yaml == "":
		if prev.fingerprint == s.Fingerprint() {
			return ""
		}
		return fmt.Sprintf("the database recorded only the earlier schema's fingerprint (%.12s), now %.12s", prev.fingerprint, s.Fingerprint())
	}
	old, err := schema.Parse(prev.source, []byte(prev.yaml))
	if err != nil {
		return fmt.Sprintf("the earlier schema (from %s) no longer reads, replaced by %s", prev.source, s.Source)
	}
	if d := diffSchemas(old, s); d != "" {
		return d
	}
	return "the text differs (comments or layout), the tables, columns and rules are the same"
}

// diffSchemas lists, in one line, the tables and columns added and dropped
// and the tables whose columns, keys, rules or options changed.
func diffSchemas(old, s *fieldsync.Schema) string {
	var parts []string
	if old.Nodes != s.Nodes {
		parts = append(parts, fmt.Sprintf("nodes bound to %s and %s.%s, were %s and %s.%s", s.Nodes.EmployeeTable,
			s.Nodes.PositionTable, s.Nodes.PositionEmployee, old.Nodes.EmployeeTable, old.Nodes.PositionTable, old.Nodes.PositionEmployee))
	}
	for _, t := range s.Tables {
		if ot := old.Table(t.Name); ot == nil {
			parts = append(parts, "added table "+t.Name)
		} else if d := diffTable(ot, t); d != "" {
			parts = append(parts, "table "+t.Name+": "+d)
		}
	}
	for _, ot := range old.Tables {
		if s.Table(ot.Name) == nil {
			parts = append(parts, "dropped table "+ot.Name+" (its rows stay in the database)")
		}
	}
	return strings.Join(parts, "; ")
}

func diffTable(old, t *fieldsync.Table) string {
	var parts []string
	for _, c := range t.Columns {
		if oc := old.Column(c.Name); oc == nil {
			parts = append(parts, "added column "+c.Name)
		} else if describeColumn(oc) != describeColumn(c) {
			parts = append(parts, fmt.Sprintf("column %s is %s, was %s", c.Name, describeColumn(c), describeColumn(oc)))
		}
	}
	for _, oc := range old.Columns {
		if t.Column(oc.Name) == nil {
			parts = append(parts, "dropped column "+oc.Name)
		}
	}
	if !slices.EqualFunc(old.Unique, t.Unique, slices.Equal) {
		parts = append(parts, "unique keys changed")
	}
	if !sameRules(old.Rules, t.Rules) {
		parts = append(parts, "visibility rules changed")
	}
	if describeOptions(old) != describeOptions(t) {
		parts = append(parts, fmt.Sprintf("options %s, were %s", describeOptions(t), describeOptions(old)))
	}
	return strings.Join(parts, ", ")
}

// sameRules compares rules without their line numbers.
func sameRules(a, b []fieldsync.Rule) bool {
	return slices.EqualFunc(a, b, func(x, y fieldsync.Rule) bool { return x.String() == y.String() })
}

func describeColumn(c *fieldsync.Column) string {
	d := string(c.Type)
	if c.References != "" {
		d += " references " + c.References + " on delete " + string(c.OnDelete)
	}
	if c.Required {
		d += " required"
	}
	if c.Default != nil {
		d += fmt.Sprintf(" default %v", c.Default)
	}
	return d
}

func describeOptions(t *fieldsync.Table) string {
	return fmt.Sprintf("private=%v remote_write=%v remote_delete=%v conflict=%s server_columns=[%s]",
		t.Private, t.RemoteWrite, t.RemoteDelete(), t.Conflict, strings.Join(t.ServerColumns, ","))
}
