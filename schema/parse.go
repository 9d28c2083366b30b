package schema

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/fieldsync/fieldsync"
)

// identPattern is what table and column names may look like: they become
// SQL identifiers and file names, unquoted in every dialect.
var identPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// reservedWords are SQL keywords of both SQLite and PostgreSQL that at least
// one of them reserves (it needs them quoted). fieldsync quotes identifiers,
// but refusing these keeps a schema easy to query by hand on either database.
var reservedWords = strings.Fields(`
	all alter and any array as asc between both case cast check collate column commit
	constraint create cross current_date current_time current_timestamp current_user
	default deferrable delete desc distinct do drop else end escape except exists false
	fetch filter for foreign from full grant group having in index initially inner insert
	intersect into is isnull join lateral leading left like limit natural not nothing
	notnull null offset on only or order outer over primary references returning right
	select session_user set some table then to trailing transaction true union unique
	update user using values when where window with`)

// The keys and keywords of the format, for messages and suggestions.
var (
	topKeys    = []string{"fieldsync_schema", "nodes", "tables"}
	nodeKeys   = []string{"employee", "positions"}
	tableKeys  = []string{"columns", "unique", "visibility", "remote_write", "server_columns", "remote_delete", "conflict"}
	columnKeys = []string{"type", "required", "references", "on_delete", "default"}
	ruleKinds  = []string{"all", "owner", "position", "parent", "referenced_by"}
	onDeletes  = []string{string(fieldsync.OnDeleteRestrict), string(fieldsync.OnDeleteCascade), string(fieldsync.OnDeleteSetNull)}
	conflicts  = []string{string(fieldsync.ServerWins), string(fieldsync.ClientWins)}
	typeNames  = func() []string {
		names := make([]string, len(fieldsync.ColumnTypes))
		for i, t := range fieldsync.ColumnTypes {
			names[i] = string(t)
		}
		return names
	}()
)

// parser walks the YAML tree of one file and collects every problem.
type parser struct {
	file string
	errs Errors
}

// tableDecl is a table as read in the first pass, with what the second pass
// (references between tables) needs.
type tableDecl struct {
	t      *fieldsync.Table
	cols   map[string]*colDecl
	unique []*yaml.Node // each a list of column names
	// remoteWrite, remoteDelete: the keys, when given; serverCols: the
	// server_columns pair, when given.
	remoteWrite, remoteDelete *yaml.Node
	serverCols                pair
	// partial says the columns could not all be read (columns is misspelt
	// or not a mapping), so an unknown column is not worth a message.
	partial bool
}

// col returns the named column; ok is false only when the column is unknown
// and the table's columns were all read, so that saying so is worthwhile.
func (d *tableDecl) col(name string) (cd *colDecl, ok bool) {
	cd = d.cols[name]
	return cd, cd != nil || d.partial
}

// colDecl is a column as read in the first pass.
type colDecl struct {
	c     *fieldsync.Column
	ref   *yaml.Node // the references value; nil unless a foreign key
	typed bool       // the type was read without error
}

// pair is one key and value of a YAML mapping.
type pair struct{ k, v *yaml.Node }

func (p *parser) errorAt(line int, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Reason: fmt.Sprintf(format, args...)})
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errorAt(n.Line, format, args...)
}

// document decodes the single YAML document of the file and returns its
// root, or nil after reporting why there is none.
func (p *parser) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorAt(1, "the schema is empty (a schema starts with fieldsync_schema: 1)")
		} else {
			p.yamlError(data, err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errorf(&extra, "a schema file holds one YAML document, and a second one starts here")
	} else if !errors.Is(err, io.EOF) {
		p.yamlError(data, err)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		p.errorAt(max(doc.Line, 1), "the schema is empty (a schema starts with fieldsync_schema: 1)")
		return nil
	}
	return deref(doc.Content[0])
}

// yamlError reports a syntax error of the YAML decoder at the line it names.
// The decoder leaves the line out for the first line and for bad characters;
// those are found here.
func (p *parser) yamlError(data []byte, err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, reason, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(num); err == nil {
				p.errorAt(line, "%s", reason)
				return
			}
		}
	}
	p.errorAt(badCharLine(data), "%s", msg)
}

// badCharLine returns the line of the first byte YAML does not allow (invalid
// UTF-8 or a control character), or 1.
func badCharLine(data []byte) int {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == '\n':
			line++
		case r == utf8.RuneError && size == 1, r < 0x20 && r != '\t' && r != '\r', r == 0x7f:
			return line
		}
		i += size
	}
	return 1
}

// schema reads the top level and then every table, and checks what refers
// across tables.
func (p *parser) schema(root *yaml.Node) (fieldsync.NodeBinding, []*tableDecl) {
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "the schema must be a mapping of fieldsync_schema, nodes and tables, not %s", kindName(root))
		return fieldsync.NodeBinding{}, nil
	}
	var version, nodesKey, nodes, tables *yaml.Node
	misspelt := map[string]bool{} // a misspelt key is one mistake: its absence is not another
	for _, kv := range p.mapping(root, "the schema", "", "key") {
		switch kv.k.Value {
		case "fieldsync_schema":
			version = kv.v
		case "nodes":
			nodesKey, nodes = kv.k, kv.v
		case "tables":
			tables = kv.v
		default:
			p.errorf(kv.k, "unknown key %q%s", kv.k.Value, expected(kv.k.Value, topKeys))
			misspelt[closest(kv.k.Value, topKeys)] = true
		}
	}
	switch {
	case version == nil && misspelt["fieldsync_schema"]:
	case version == nil:
		p.errorf(root, "missing fieldsync_schema: 1 (the format version) at the top of the file")
	default:
		if v, ok := p.scalar(version, "fieldsync_schema"); ok && v != "1" {
			p.errorf(version, "unsupported fieldsync_schema %q (this fieldsync reads version 1)", v)
		}
	}
	var decls []*tableDecl
	byName := map[string]*tableDecl{}
	switch {
	case tables == nil && misspelt["tables"]:
	case tables == nil:
		p.errorf(root, "missing tables (the synchronized tables, each with its columns and visibility)")
	default:
		for _, kv := range p.mapping(tables, "tables", "", "table") {
			p.ident(kv.k, "table")
			d := p.table(kv.k, kv.v)
			decls = append(decls, d)
			byName[d.t.Name] = d
		}
		if deref(tables).Kind == yaml.MappingNode && len(decls) == 0 {
			p.errorf(tables, "tables: the schema declares no tables")
		}
	}
	var b fieldsync.NodeBinding
	positions := true
	if nodes != nil || !misspelt["nodes"] {
		b, positions = p.nodes(nodesKey, nodes, root, byName)
	}
	for _, d := range decls {
		p.check(d, byName, b, positions)
		p.checkWrites(d)
	}
	return b, decls
}

// nodes reads how nodes relate to the data. positions reports whether the
// file declares nodes.positions, right or wrong (so that position rules do
// not repeat its error). With no tables at all, the names are not checked.
func (p *parser) nodes(key, n, root *yaml.Node, tables map[string]*tableDecl) (b fieldsync.NodeBinding, positions bool) {
	if n == nil {
		p.errorf(root, "missing nodes: the table nodes are registered for (nodes: {employee: TABLE, positions: TABLE.COLUMN})")
		return b, false
	}
	var emp, pos *yaml.Node
	for _, kv := range p.mapping(n, "nodes", "nodes: ", "key") {
		switch kv.k.Value {
		case "employee":
			emp = kv.v
		case "positions":
			pos = kv.v
		default:
			p.errorf(kv.k, "nodes: unknown key %q%s", kv.k.Value, expected(kv.k.Value, nodeKeys))
		}
	}
	if deref(n).Kind != yaml.MappingNode {
		return b, true
	}
	if emp == nil {
		p.errorf(key, "nodes: missing employee: TABLE (the table whose rows nodes are registered for)")
	} else if v, ok := p.scalar(emp, "nodes: employee"); ok {
		if tables[v] == nil && len(tables) > 0 {
			p.errorf(emp, "nodes: employee names unknown table %q%s", v, didYouMean(v, tableNames(tables)))
		} else {
			b.EmployeeTable = v
		}
	}
	if pos == nil {
		return b, false
	}
	v, ok := p.scalar(pos, "nodes: positions")
	if !ok {
		return b, true
	}
	tbl, col, found := strings.Cut(v, ".")
	if !found || tbl == "" || col == "" {
		p.errorf(pos, "nodes: positions %q must be TABLE.COLUMN, like position.employee_id", v)
		return b, true
	}
	d := tables[tbl]
	if d == nil && len(tables) == 0 {
		return b, true // no tables: that is reported, and says enough
	}
	if d == nil {
		p.errorf(pos, "nodes: positions names unknown table %q%s", tbl, didYouMean(tbl, tableNames(tables)))
		return b, true
	}
	cd, ok := d.col(col)
	switch {
	case !ok:
		p.errorf(pos, "nodes: positions names unknown column %s.%s", tbl, col)
	case cd == nil || !cd.typed:
	case b.EmployeeTable != "" && cd.c.References != b.EmployeeTable:
		p.errorf(pos, "nodes: positions column %s.%s must be a foreign key to the employee table %q", tbl, col, b.EmployeeTable)
	default:
		b.PositionTable, b.PositionEmployee = tbl, col
	}
	return b, true
}
