package fieldsync

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ColumnType is the type of a synchronized column. Values of every type are
// carried in rows, transactions and .dx files in one canonical Go form (see
// Column.Coerce).
type ColumnType string

// The column types a schema may declare.
const (
	TypeText      ColumnType = "text"      // string
	TypeInteger   ColumnType = "integer"   // int64
	TypeReal      ColumnType = "real"      // float64
	TypeBoolean   ColumnType = "boolean"   // bool
	TypeTimestamp ColumnType = "timestamp" // string, RFC 3339 in UTC
	TypeFile      ColumnType = "file"      // string, a FileRef ("sha256:HEX:SIZE")
)

// ColumnTypes lists every valid column type, in the order documentation shows them.
var ColumnTypes = []ColumnType{TypeText, TypeInteger, TypeReal, TypeBoolean, TypeTimestamp, TypeFile}

// OnDelete says what deleting a referenced row does to the rows that point to it.
type OnDelete string

// The delete actions a foreign key may declare. Every row changed by a cascade
// is a transaction of its own in the Transaction Log.
const (
	OnDeleteRestrict OnDelete = "restrict" // refuse the delete while references exist (default)
	OnDeleteCascade  OnDelete = "cascade"  // delete the referencing rows too
	OnDeleteSetNull  OnDelete = "set_null" // clear the referencing column
)

// RuleKind names a kind of visibility rule.
type RuleKind string

// The visibility rule kinds of docs/schema.md "Visibility".
const (
	RuleAll          RuleKind = "all"           // every node
	RuleOwner        RuleKind = "owner"         // Column equals the node's employee id
	RulePosition     RuleKind = "position"      // Column names a position the node's employee holds
	RuleParent       RuleKind = "parent"        // the row that foreign key Column points to is visible
	RuleReferencedBy RuleKind = "referenced_by" // a visible row of Table points here through Column
)

// Rule is one visibility rule of a table. A row is visible to a node when any
// rule of its table holds (least fixed point over all tables).
type Rule struct {
	Kind RuleKind
	// Column is the rule's column: in this table for owner, position and parent;
	// in Table for referenced_by.
	Column string
	// Table is the referencing table of a referenced_by rule.
	Table string
	// Line is the schema file line the rule was declared on.
	Line int
}

// String returns the rule as the schema file spells it.
func (r Rule) String() string {
	switch r.Kind {
	case RuleAll:
		return "all"
	case RuleReferencedBy:
		return fmt.Sprintf("referenced_by: %s.%s", r.Table, r.Column)
	default:
		return fmt.Sprintf("%s: %s", r.Kind, r.Column)
	}
}

// ConflictPolicy decides update conflicts on a table (docs/sync.md "Conflicts").
type ConflictPolicy string

// The conflict policies a table may declare.
const (
	ServerWins ConflictPolicy = "server_wins" // the server's value stays (default)
	ClientWins ConflictPolicy = "client_wins" // the merged change overwrites it
)

// Column is one column of a synchronized table.
type Column struct {
	Name string
	Type ColumnType
	// References is the table whose id this column holds, or "" when the
	// column is not a foreign key. Foreign keys are text columns.
	References string
	// OnDelete applies when References is set.
	OnDelete OnDelete
	// Required columns refuse null.
	Required bool
	// Default is the column's declared default (`default:` in the schema
	// file), a canonical value of its type, or nil for none: existing rows
	// get it when the column is added, and an insert that leaves the column
	// out (a node's, made under an earlier schema version that lacked the
	// column) gets it.
	Default any
	// Line is the schema file line the column was declared on.
	Line int
}

// Table is one synchronized table. Its first column is always the text
// primary key "id".
type Table struct {
	Name    string
	Columns []*Column
	// Unique lists the table's unique keys, each a list of column names.
	Unique [][]string
	// Rules are the visibility rules; empty when Private.
	Rules []Rule
	// Private tables go up from nodes to the server and are routed to no one.
	Private bool
	// RemoteWrite says whether remote nodes may write the table.
	RemoteWrite bool
	// ServerColumns are the columns only the server sets (server_columns):
	// remote nodes may not write them, though they may write the table.
	ServerColumns []string
	// NoRemoteDelete says remote nodes may not delete the table's rows
	// (remote_delete: false), though they may write the table.
	NoRemoteDelete bool
	// Conflict is the update conflict policy.
	Conflict ConflictPolicy
	// Line is the schema file line the table was declared on.
	Line int

	byName map[string]*Column
}

// Column returns the named column, or nil.
func (t *Table) Column(name string) *Column { return t.byName[name] }

// Trim leaves out of r, in place, the columns t does not have (a row read
// under another version of the schema), and returns r.
func (t *Table) Trim(r Row) Row {
	for col := range r {
		if t.Column(col) == nil {
			delete(r, col)
		}
	}
	return r
}

// ServerColumn reports whether only the server sets the column.
func (t *Table) ServerColumn(name string) bool { return slices.Contains(t.ServerColumns, name) }

// RemoteDelete reports whether remote nodes may delete the table's rows.
func (t *Table) RemoteDelete() bool { return t.RemoteWrite && !t.NoRemoteDelete }

// HasFile reports whether the table carries file attachments.
func (t *Table) HasFile() bool {
	for _, c := range t.Columns {
		if c.Type == TypeFile {
			return true
		}
	}
	return false
}

// ForeignKeys returns the table's foreign key columns in declaration order.
func (t *Table) ForeignKeys() []*Column {
	var fks []*Column
	for _, c := range t.Columns {
		if c.References != "" {
			fks = append(fks, c)
		}
	}
	return fks
}

// NodeBinding says how nodes relate to the data: a node is registered for a
// row of EmployeeTable, and holds the rows of PositionTable whose
// PositionEmployee column equals that id.
type NodeBinding struct {
	EmployeeTable    string
	PositionTable    string
	PositionEmployee string
}

// Schema is a validated synchronized schema. Build it with NewSchema (the
// schema package reads and validates YAML files into one).
type Schema struct {
	// Source names where the schema came from (a file name, or "builtin:crm").
	Source string
	// YAML is the schema file's text, when it came from one (remote clients
	// get the schema this way, inside their extract).
	YAML   []byte
	Nodes  NodeBinding
	Tables []*Table

	byName map[string]*Table
	refs   map[string][]Ref
}

// Ref is a foreign key that points at a table: Column of Table.
type Ref struct {
	Table  *Table
	Column *Column
}

// NewSchema indexes tables for lookup and checks the structure the rest of
// fieldsync relies on: unique table and column names, "id" first, foreign
// keys to existing tables. The schema package does the full validation with
// line numbers; this is the last line of defence for schemas built in code.
func NewSchema(source string, nodes NodeBinding, tables []*Table) (*Schema, error) {
	s := &Schema{Source: source, Nodes: nodes, Tables: tables,
		byName: make(map[string]*Table, len(tables)), refs: make(map[string][]Ref)}
	for _, t := range tables {
		if _, dup := s.byName[t.Name]; dup {
			return nil, fmt.Errorf("schema %s: table %q declared twice", source, t.Name)
		}
		if len(t.Columns) == 0 || t.Columns[0].Name != "id" || t.Columns[0].Type != TypeText {
			return nil, fmt.Errorf("schema %s: table %q must start with the text column id", source, t.Name)
		}
		s.byName[t.Name] = t
		t.byName = make(map[string]*Column, len(t.Columns))
		for _, c := range t.Columns {
			if _, dup := t.byName[c.Name]; dup {
				return nil, fmt.Errorf("schema %s: column %s.%s declared twice", source, t.Name, c.Name)
			}
			t.byName[c.Name] = c
		}
		if t.Conflict == "" {
			t.Conflict = ServerWins
		}
		for _, c := range t.ServerColumns {
			if t.byName[c] == nil || c == "id" {
				return nil, fmt.Errorf("schema %s: table %q: server column %q is not one of its columns", source, t.Name, c)
			}
		}
	}
	for _, t := range tables {
		for _, c := range t.Columns {
			if c.References == "" {
				continue
			}
			if s.byName[c.References] == nil {
				return nil, fmt.Errorf("schema %s: column %s.%s references unknown table %q", source, t.Name, c.Name, c.References)
			}
			if c.OnDelete == "" {
				c.OnDelete = OnDeleteRestrict
			}
			s.refs[c.References] = append(s.refs[c.References], Ref{Table: t, Column: c})
		}
	}
	for _, name := range []string{nodes.EmployeeTable, nodes.PositionTable} {
		if name != "" && s.byName[name] == nil {
			return nil, fmt.Errorf("schema %s: nodes refer to unknown table %q", source, name)
		}
	}
	return s, nil
}

// Table returns the named table, or nil.
func (s *Schema) Table(name string) *Table { return s.byName[name] }

// LookupTable returns the named table or an ErrNotFound error that says so.
func (s *Schema) LookupTable(name string) (*Table, error) {
	if t := s.byName[name]; t != nil {
		return t, nil
	}
	return nil, Errorf(ErrNotFound, "unknown table %q", name)
}

// ReferencesTo returns the foreign keys that point at the named table, in
// schema order.
func (s *Schema) ReferencesTo(table string) []Ref { return s.refs[table] }

// Fingerprint is a stable digest of the schema's structure, used to notice
// that a database was created with a different schema.
func (s *Schema) Fingerprint() string {
	var b strings.Builder
	fmt.Fprintf(&b, "nodes %s %s %s\n", s.Nodes.EmployeeTable, s.Nodes.PositionTable, s.Nodes.PositionEmployee)
	names := make([]string, 0, len(s.Tables))
	for _, t := range s.Tables {
		names = append(names, t.Name)
	}
	sort.Strings(names)
	for _, n := range names {
		t := s.byName[n]
		fmt.Fprintf(&b, "table %s private=%v write=%v conflict=%s\n", t.Name, t.Private, t.RemoteWrite, t.Conflict)
		if len(t.ServerColumns) > 0 || t.NoRemoteDelete {
			// Only schemas that narrow node writes print this, so that the
			// fingerprints of the others stay what they were.
			fmt.Fprintf(&b, " server_columns=%s remote_delete=%v\n", strings.Join(t.ServerColumns, ","), t.RemoteDelete())
		}
		for _, c := range t.Columns {
			fmt.Fprintf(&b, " col %s %s ref=%s del=%s req=%v\n", c.Name, c.Type, c.References, c.OnDelete, c.Required)
			if c.Default != nil {
				// Only columns with a default print this, so that the
				// fingerprints of schemas without any stay what they were.
				fmt.Fprintf(&b, "  default %T %q\n", c.Default, fmt.Sprint(c.Default))
			}
		}
		for _, u := range t.Unique {
			fmt.Fprintf(&b, " unique %s\n", strings.Join(u, ","))
		}
		for _, r := range t.Rules {
			fmt.Fprintf(&b, " rule %s\n", r)
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}
