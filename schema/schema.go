package schema

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/fieldsync/fieldsync"
)

//go:embed crm.yaml
var crmYAML []byte

// defaultSource is the Source of the schema Default returns.
const defaultSource = "builtin:crm.yaml"

// DefaultYAML returns the text of the built-in CRM schema (a copy), for
// printing it or starting a schema of one's own from it.
func DefaultYAML() []byte { return bytes.Clone(crmYAML) }

// Default returns the built-in CRM schema, parsed afresh on each call so
// that callers may hold and index their own value.
func Default() *fieldsync.Schema {
	s, err := Parse(defaultSource, crmYAML)
	if err != nil {
		// TestDefault keeps this from happening: the file is embedded.
		panic("schema: the built-in schema is invalid:\n" + err.Error())
	}
	return s
}

// Load reads the schema file at path and validates it like Parse, naming
// the file by path in its errors.
func Load(path string) (*fieldsync.Schema, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	return Parse(path, data)
}

// Parse reads and validates a schema file. filename names the file in error
// messages and becomes the schema's Source. A schema with any problem is
// refused with an Errors value that lists every problem found.
func Parse(filename string, data []byte) (*fieldsync.Schema, error) {
	p := &parser{file: filename}
	root := p.document(data)
	var binding fieldsync.NodeBinding
	var decls []*tableDecl
	if root != nil {
		binding, decls = p.schema(root)
	}
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *Error) int { return a.Line - b.Line })
		return nil, p.errs
	}
	tables := make([]*fieldsync.Table, len(decls))
	for i, d := range decls {
		tables[i] = d.t
	}
	s, err := fieldsync.NewSchema(filename, binding, tables)
	if err != nil {
		return nil, Errors{{File: filename, Reason: "the validated schema was refused: " + err.Error(), Err: err}}
	}
	s.YAML = bytes.Clone(data)
	return s, nil
}

// Error is one problem in a schema file: where it is and what is wrong. It
// wraps fieldsync.ErrInvalid.
type Error struct {
	File   string // the file name given to Parse
	Line   int    // 1-based; 0 when the problem has no line
	Reason string
	Err    error // an underlying error, if any
}

// Error returns "FILE:LINE: REASON".
func (e *Error) Error() string {
	if e.Line <= 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Reason)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
}

// Unwrap returns fieldsync.ErrInvalid, and the underlying error if any.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{fieldsync.ErrInvalid, e.Err}
	}
	return []error{fieldsync.ErrInvalid}
}

// Errors is every problem found in one schema file, in line order. Its text
// is one problem per line, so the first line alone names the first problem.
type Errors []*Error

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, err := range e {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the individual problems, so errors.Is(err,
// fieldsync.ErrInvalid) holds and errors.As finds an *Error.
func (e Errors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, err := range e {
		errs[i] = err
	}
	return errs
}

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
	tableKeys  = []string{"columns", "unique", "visibility", "remote_write", "conflict"}
	columnKeys = []string{"type", "required", "references", "on_delete"}
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

// table reads one table declaration: the first pass, which needs no other
// table.
func (p *parser) table(key, n *yaml.Node) *tableDecl {
	t := &fieldsync.Table{Name: key.Value, Line: key.Line, Conflict: fieldsync.ServerWins,
		Columns: []*fieldsync.Column{{Name: "id", Type: fieldsync.TypeText, Required: true, Line: key.Line}}}
	d := &tableDecl{t: t, cols: map[string]*colDecl{"id": {c: t.Columns[0], typed: true}}}
	ctx := fmt.Sprintf("table %q", t.Name)
	if n = deref(n); n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping of columns, unique, visibility, remote_write and conflict, not %s", ctx, kindName(n))
		d.partial = true
		return d
	}
	var vis *yaml.Node
	misspeltVis := false
	for _, kv := range p.mapping(n, ctx, ctx+": ", "key") {
		switch kv.k.Value {
		case "columns":
			d.partial = deref(kv.v).Kind != yaml.MappingNode
			for _, c := range p.mapping(kv.v, ctx+": columns", ctx+": ", "column") {
				if c.k.Value == "id" {
					p.errorf(c.k, "%s: do not declare id: every table has the text primary key id", ctx)
					continue
				}
				p.ident(c.k, ctx+": column")
				cd := p.column(ctx, c.k, c.v)
				t.Columns = append(t.Columns, cd.c)
				d.cols[cd.c.Name] = cd
			}
		case "unique":
			d.unique = p.uniqueKeys(ctx, kv.v)
		case "visibility":
			vis = kv.v
		case "remote_write":
			t.RemoteWrite = p.boolean(kv.v, ctx+": remote_write")
		case "conflict":
			if v, ok := p.scalar(kv.v, ctx+": conflict"); ok {
				if slices.Contains(conflicts, v) {
					t.Conflict = fieldsync.ConflictPolicy(v)
				} else {
					p.errorf(kv.v, "%s: unknown conflict policy %q%s", ctx, v, expected(v, conflicts))
				}
			}
		default:
			p.errorf(kv.k, "%s: unknown key %q%s", ctx, kv.k.Value, expected(kv.k.Value, tableKeys))
			// A misspelt key is one mistake: do not report its absence too.
			switch closest(kv.k.Value, tableKeys) {
			case "visibility":
				misspeltVis = true
			case "columns":
				d.partial = true
			}
		}
	}
	switch {
	case vis != nil:
		p.visibility(ctx, t, vis)
	case !misspeltVis:
		p.errorf(key, "%s: declare visibility rules or visibility: private", ctx)
	}
	return d
}

// column reads one column, "name: TYPE" or "name: {type, required,
// references, on_delete}".
func (p *parser) column(ctx string, k, v *yaml.Node) *colDecl {
	c := &fieldsync.Column{Name: k.Value, Line: k.Line}
	cd := &colDecl{c: c}
	what := ctx + ": column " + c.Name
	var typ, onDelete, refs *yaml.Node
	misspelt := "" // the key a misspelt key most likely meant
	switch v = deref(v); {
	case v.Kind == yaml.ScalarNode && !isNull(v):
		typ = v
	case v.Kind == yaml.MappingNode:
		for _, kv := range p.mapping(v, what, what+": ", "key") {
			switch kv.k.Value {
			case "type":
				typ = kv.v
			case "required":
				c.Required = p.boolean(kv.v, what+": required")
			case "references":
				refs = kv.v
				ref, ok := p.scalar(kv.v, what+": references")
				if !ok {
					continue
				}
				tbl, col, dotted := strings.Cut(ref, ".")
				switch {
				case tbl == "":
					p.errorf(kv.v, "%s: references %q names no table (write references: TABLE)", what, ref)
				case dotted && col != "id":
					p.errorf(kv.v, "%s: references %q: a foreign key holds the id of a row of another table; write references: %s", what, ref, tbl)
				default:
					c.References, cd.ref = tbl, deref(kv.v)
				}
			case "on_delete":
				onDelete = kv.v
				if od, ok := p.scalar(kv.v, what+": on_delete"); ok {
					if slices.Contains(onDeletes, od) {
						c.OnDelete = fieldsync.OnDelete(od)
					} else {
						p.errorf(kv.v, "%s: unknown on_delete %q%s", what, od, expected(od, onDeletes))
					}
				}
			default:
				p.errorf(kv.k, "%s: unknown key %q%s", what, kv.k.Value, expected(kv.k.Value, columnKeys))
				misspelt = closest(kv.k.Value, columnKeys)
			}
		}
	default:
		p.errorf(v, "%s must be a type, like text, or a mapping, like {type: text, required: true}, not %s", what, kindName(v))
		return cd
	}
	switch {
	case typ == nil && refs != nil:
		c.Type, cd.typed = fieldsync.TypeText, true // a foreign key is text
	case typ == nil && (misspelt == "type" || misspelt == "references"):
		// the misspelt key is reported, and is the mistake
	case typ == nil:
		p.errorf(k, "%s: missing type (%s)", what, strings.Join(typeNames, ", "))
	default:
		if name, ok := p.scalar(typ, what+": type"); ok {
			if slices.Contains(typeNames, name) {
				c.Type, cd.typed = fieldsync.ColumnType(name), true
			} else {
				p.errorf(typ, "%s: unknown type %q%s", what, name, expected(name, typeNames))
			}
		}
	}
	if cd.typed && c.References != "" && c.Type != fieldsync.TypeText {
		p.errorf(typ, "%s: a foreign key must be of type text, not %s", what, c.Type)
	}
	switch {
	case c.OnDelete != "" && refs == nil:
		p.errorf(onDelete, "%s: on_delete applies to a foreign key only (add references: TABLE)", what)
	case c.OnDelete == fieldsync.OnDeleteSetNull && c.Required:
		p.errorf(onDelete, "%s: on_delete: set_null cannot clear a required column", what)
	case c.References != "" && c.OnDelete == "":
		c.OnDelete = fieldsync.OnDeleteRestrict
	}
	return cd
}

// uniqueKeys reads the unique keys, a list of lists of columns; the columns
// are checked in the second pass, when all are known.
func (p *parser) uniqueKeys(ctx string, n *yaml.Node) []*yaml.Node {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s: unique must be a list of keys, each a list of columns, like [[login]], not %s", ctx, kindName(n))
		return nil
	}
	var flat []string
	for _, e := range n.Content {
		if e = deref(e); e.Kind == yaml.ScalarNode {
			flat = append(flat, e.Value)
		}
	}
	if len(flat) > 0 && len(flat) == len(n.Content) {
		p.errorf(n, "%s: unique is a list of keys, each a list of columns: write unique: [[%s]] for one key", ctx, strings.Join(flat, ", "))
		return nil
	}
	var keys []*yaml.Node
	for _, e := range n.Content {
		if e = deref(e); e.Kind != yaml.SequenceNode || len(e.Content) == 0 {
			p.errorf(e, "%s: a unique key is a list of one or more columns, like [login], not %s", ctx, kindName(e))
			continue
		}
		keys = append(keys, e)
	}
	return keys
}

// visibility reads a table's visibility: private, or a list of rules.
func (p *parser) visibility(ctx string, t *fieldsync.Table, n *yaml.Node) {
	n = deref(n)
	switch {
	case n.Kind == yaml.ScalarNode && n.Value == "private":
		t.Private = true
		return
	case n.Kind == yaml.ScalarNode && n.Value == "all":
		p.errorf(n, "%s: visibility is a list of rules: write visibility: [all]", ctx)
		return
	case n.Kind != yaml.SequenceNode:
		p.errorf(n, "%s: visibility must be a list of rules or private, not %s", ctx, kindName(n))
		return
	case len(n.Content) == 0:
		p.errorf(n, "%s: visibility lists no rules (write visibility: private for a table that is routed to no one)", ctx)
		return
	}
	for _, r := range n.Content {
		if rule, ok := p.rule(ctx, r); ok {
			t.Rules = append(t.Rules, rule)
		}
	}
}

// rule reads one visibility rule: all, or KIND: ARGUMENT.
func (p *parser) rule(ctx string, r *yaml.Node) (fieldsync.Rule, bool) {
	r = deref(r)
	switch r.Kind {
	case yaml.ScalarNode:
		switch r.Value {
		case "all":
			return fieldsync.Rule{Kind: fieldsync.RuleAll, Line: r.Line}, true
		case "private":
			p.errorf(r, "%s: private is not a rule: write visibility: private in place of the list", ctx)
		case "owner", "position", "parent":
			p.errorf(r, "%s: rule %s needs a column: write - %s: COLUMN", ctx, r.Value, r.Value)
		case "referenced_by":
			p.errorf(r, "%s: rule referenced_by needs a foreign key: write - referenced_by: TABLE.COLUMN", ctx)
		default:
			p.errorf(r, "%s: unknown visibility rule %q%s", ctx, r.Value, expected(r.Value, ruleKinds))
		}
	case yaml.MappingNode:
		if len(r.Content) != 2 {
			p.errorf(r, "%s: a rule is one kind and its argument, like - parent: account_id (one rule per list item)", ctx)
			return fieldsync.Rule{}, false
		}
		k, arg := deref(r.Content[0]), r.Content[1]
		kind := fieldsync.RuleKind(k.Value)
		switch kind {
		case fieldsync.RuleAll:
			p.errorf(k, "%s: the rule all takes no argument: write - all", ctx)
		case fieldsync.RuleOwner, fieldsync.RulePosition, fieldsync.RuleParent:
			if col, ok := p.scalar(arg, ctx+": rule "+k.Value); ok {
				return fieldsync.Rule{Kind: kind, Column: col, Line: k.Line}, true
			}
		case fieldsync.RuleReferencedBy:
			v, ok := p.scalar(arg, ctx+": rule referenced_by")
			if !ok {
				break
			}
			tbl, col, found := strings.Cut(v, ".")
			if !found || tbl == "" || col == "" {
				p.errorf(arg, "%s: rule referenced_by %q must be TABLE.COLUMN, like opportunity_team.opportunity_id", ctx, v)
				break
			}
			return fieldsync.Rule{Kind: kind, Table: tbl, Column: col, Line: k.Line}, true
		default:
			p.errorf(k, "%s: unknown visibility rule %q%s", ctx, k.Value, expected(k.Value, ruleKinds))
		}
	default:
		p.errorf(r, "%s: a visibility rule is all or KIND: ARGUMENT, not %s", ctx, kindName(r))
	}
	return fieldsync.Rule{}, false
}

// check is the second pass over a table: foreign keys, unique keys and rules,
// which may name other tables.
func (p *parser) check(d *tableDecl, tables map[string]*tableDecl, b fieldsync.NodeBinding, positions bool) {
	t := d.t
	ctx := fmt.Sprintf("table %q", t.Name)
	for _, c := range t.Columns {
		if c.References != "" && tables[c.References] == nil {
			p.errorf(d.cols[c.Name].ref, "%s: foreign key %s references unknown table %q%s",
				ctx, c.Name, c.References, didYouMean(c.References, tableNames(tables)))
		}
	}
	for _, u := range d.unique {
		var key []string
		for _, cn := range u.Content {
			name, ok := p.scalar(cn, ctx+": unique key column")
			switch {
			case !ok:
			case d.cols[name] == nil:
				if _, ok := d.col(name); !ok {
					p.errorf(cn, "%s: unique key names unknown column %q", ctx, name)
				}
			case slices.Contains(key, name):
				p.errorf(cn, "%s: unique key names column %s twice", ctx, name)
			default:
				key = append(key, name)
			}
		}
		t.Unique = append(t.Unique, key)
	}
	for _, r := range t.Rules {
		pos := fmt.Sprintf("%s: rule %s", ctx, r.Kind)
		if r.Kind == fieldsync.RuleReferencedBy {
			p.checkReferencedBy(ctx, t, r, tables)
			continue
		}
		if r.Kind == fieldsync.RuleAll {
			continue
		}
		cd, ok := d.col(r.Column)
		if !ok {
			p.errorAt(r.Line, "%s names unknown column %q", pos, r.Column)
			continue
		}
		if cd == nil || !cd.typed {
			continue // the column's own error is reported already
		}
		c := cd.c
		switch r.Kind {
		case fieldsync.RuleOwner:
			switch {
			case c.Type != fieldsync.TypeText:
				p.errorAt(r.Line, "%s: column %s must be text (it holds an employee id), not %s", pos, c.Name, c.Type)
			case c.References != "" && b.EmployeeTable != "" && c.References != b.EmployeeTable:
				p.errorAt(r.Line, "%s: column %s references %s, not the employee table %q", pos, c.Name, c.References, b.EmployeeTable)
			}
		case fieldsync.RulePosition:
			switch {
			case b.PositionTable == "" && !positions:
				p.errorAt(r.Line, "%s needs nodes: positions: TABLE.COLUMN (the table of positions employees hold)", pos)
			case b.PositionTable == "":
				// the positions binding is wrong, and reported
			case c.References != b.PositionTable:
				p.errorAt(r.Line, "%s: column %s must be a foreign key to the position table %q", pos, c.Name, b.PositionTable)
			}
		case fieldsync.RuleParent:
			if c.References == "" {
				p.errorAt(r.Line, "%s: column %s is not a foreign key (give it references: TABLE)", pos, c.Name)
			}
		}
	}
}

// checkReferencedBy checks a referenced_by rule of t: its TABLE.COLUMN must be
// a foreign key to t.
func (p *parser) checkReferencedBy(ctx string, t *fieldsync.Table, r fieldsync.Rule, tables map[string]*tableDecl) {
	other := tables[r.Table]
	if other == nil {
		p.errorAt(r.Line, "%s: rule referenced_by names unknown table %q%s", ctx, r.Table, didYouMean(r.Table, tableNames(tables)))
		return
	}
	cd, ok := other.col(r.Column)
	switch {
	case !ok:
		p.errorAt(r.Line, "%s: rule referenced_by names unknown column %s.%s", ctx, r.Table, r.Column)
	case cd == nil || !cd.typed || cd.c.References != "" && tables[cd.c.References] == nil:
		// the column's own error is reported already
	case cd.c.References != t.Name:
		p.errorAt(r.Line, "%s: rule referenced_by: column %s.%s is not a foreign key to %s", ctx, r.Table, r.Column, t.Name)
	}
}

// mapping returns the pairs of a mapping node in order, reporting any other
// kind of node (as what) and keys declared twice (as noun, after ctx).
func (p *parser) mapping(n *yaml.Node, what, ctx, noun string) []pair {
	if n = deref(n); n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping, not %s", what, kindName(n))
		return nil
	}
	first := map[string]int{}
	var out []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "%sa %s name must be a single word, not %s", ctx, noun, kindName(k))
			continue
		}
		if line, dup := first[k.Value]; dup {
			p.errorf(k, "%s%s %q is declared twice (first on line %d)", ctx, noun, k.Value, line)
			continue
		}
		first[k.Value] = k.Line
		out = append(out, pair{k, v})
	}
	return out
}

// scalar returns the value of a single-valued node, reporting others as what.
func (p *parser) scalar(n *yaml.Node, what string) (string, bool) {
	if n = deref(n); n.Kind != yaml.ScalarNode || isNull(n) {
		p.errorf(n, "%s must be a single value, not %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

// boolean reads true or false (yes and no are accepted too).
func (p *parser) boolean(n *yaml.Node, what string) bool {
	v, ok := p.scalar(n, what)
	if !ok {
		return false
	}
	switch strings.ToLower(v) {
	case "true", "yes":
		return true
	case "false", "no":
		return false
	}
	p.errorf(n, "%s must be true or false, not %q", what, v)
	return false
}

// ident reports a table or column name (what) that cannot be used.
func (p *parser) ident(n *yaml.Node, what string) {
	switch name := n.Value; {
	case !identPattern.MatchString(name):
		p.errorf(n, "%s %q is not a valid name: use lowercase letters, digits and _, starting with a letter, at most 63 characters", what, name)
	case strings.HasPrefix(name, "fs_"):
		p.errorf(n, "%s %q: names starting with fs_ are reserved for fieldsync's own tables", what, name)
	case slices.Contains(reservedWords, name):
		p.errorf(n, "%s %q is an SQL reserved word; choose another name", what, name)
	}
}

// deref follows YAML aliases (*name) to the node they stand for.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// kindName describes a node for messages.
func kindName(n *yaml.Node) string {
	switch n = deref(n); {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case isNull(n):
		return "an empty value"
	case n.Kind == yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

func tableNames(tables map[string]*tableDecl) []string {
	names := make([]string, 0, len(tables))
	for name := range tables {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// expected suggests the closest of options to a misspelt word, or lists them.
func expected(word string, options []string) string {
	if s := didYouMean(word, options); s != "" {
		return s
	}
	return " (expected " + strings.Join(options, ", ") + ")"
}

// didYouMean suggests the option closest to word, if one is close enough to
// be a typo, or returns "".
func didYouMean(word string, options []string) string {
	if best := closest(word, options); best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return ""
}

// closest returns the option a misspelt word most likely meant, or "" when
// none is close: at most two edits, and fewer than half the word.
func closest(word string, options []string) string {
	best, bestDist := "", 3
	for _, o := range options {
		if d := distance(word, o); d < bestDist {
			best, bestDist = o, d
		}
	}
	if 2*bestDist >= len(word) {
		return ""
	}
	return best
}

// distance is the edit distance between a and b, counting an insertion, a
// deletion, a substitution or a swap of two neighbouring letters as one edit
// (optimal string alignment).
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
