package schema

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fieldsync/fieldsync"
)

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

// checkWrites checks what a table lets remote nodes write: server_columns
// and remote_delete narrow remote_write, and a table nodes see only
// through all rules is read-only to them (docs/sync.md "Who may write what").
func (p *parser) checkWrites(d *tableDecl) {
	t := d.t
	ctx := fmt.Sprintf("table %q", t.Name)
	if d.serverCols.k != nil {
		t.ServerColumns = p.serverColumns(ctx, d)
	}
	for _, k := range []*yaml.Node{d.serverCols.k, d.remoteDelete} {
		if k != nil && !t.RemoteWrite {
			p.errorf(k, "%s: %s narrows what nodes write, but nodes may not write the table (add remote_write: true, or drop %s)", ctx, k.Value, k.Value)
		}
	}
	if t.RemoteWrite && !t.Private && len(t.Rules) > 0 && !slices.ContainsFunc(t.Rules, func(r fieldsync.Rule) bool { return r.Kind != fieldsync.RuleAll }) {
		p.errorf(d.remoteWrite, "%s: nodes see its rows only through the rule all, which leaves them read-only to nodes: drop remote_write, or add a rule that gives a node rows of its own (owner, position, parent, referenced_by)", ctx)
	}
}

// serverColumns reads server_columns: a list of the table's columns.
func (p *parser) serverColumns(ctx string, d *tableDecl) []string {
	n := deref(d.serverCols.v)
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s: server_columns must be a list of columns, like [stage], not %s", ctx, kindName(n))
		return nil
	}
	var cols []string
	for _, cn := range n.Content {
		name, ok := p.scalar(cn, ctx+": server_columns item")
		switch {
		case !ok:
		case name == "id":
			p.errorf(cn, "%s: server_columns: id is set when a row is created and never changes; it cannot be server-owned", ctx)
		case d.cols[name] == nil:
			if _, ok := d.col(name); !ok {
				p.errorf(cn, "%s: server_columns names unknown column %q%s", ctx, name, didYouMean(name, colNames(d)))
			}
		case slices.Contains(cols, name):
			p.errorf(cn, "%s: server_columns names column %s twice", ctx, name)
		default:
			cols = append(cols, name)
		}
	}
	return cols
}

func colNames(d *tableDecl) []string {
	names := make([]string, 0, len(d.cols))
	for _, c := range d.t.Columns {
		names = append(names, c.Name)
	}
	return names
}

// columnDefault reads a column's default: a single value of the column's
// type, stored in its canonical form (a timestamp as RFC 3339 in UTC). A
// file column or a foreign key takes none: a default file or row would be
// one no node chose.
func (p *parser) columnDefault(what string, c *fieldsync.Column, n *yaml.Node) {
	switch {
	case c.References != "":
		p.errorf(n, "%s: a foreign key takes no default (a default row would be one no node chose)", what)
		return
	case c.Type == fieldsync.TypeFile:
		p.errorf(n, "%s: a file column takes no default", what)
		return
	}
	v, ok := p.scalar(n, what+": default")
	if !ok {
		return
	}
	var in any = v
	switch c.Type {
	case fieldsync.TypeText:
		if err := fieldsync.CheckText(v); err != nil {
			p.errorf(n, "%s: default: %v", what, err)
			return
		}
	case fieldsync.TypeBoolean:
		// As every boolean of the file: true or false, yes or no.
		switch strings.ToLower(v) {
		case "true", "yes":
			in = true
		case "false", "no":
			in = false
		default:
			p.errorf(n, "%s: default %q is not a boolean (write true or false)", what, v)
			return
		}
	}
	cv, err := c.Coerce(in)
	if err != nil {
		p.errorf(n, "%s: default %q is not a%s %s%s", what, v, article(c.Type), c.Type, defaultHint[c.Type])
		return
	}
	c.Default = cv
}

// defaultHint says how to write a default of a type, for its errors.
var defaultHint = map[fieldsync.ColumnType]string{
	fieldsync.TypeInteger:   " (write a whole number, like 0)",
	fieldsync.TypeReal:      " (write a number, like 0.5)",
	fieldsync.TypeTimestamp: " (write RFC 3339 in UTC, like 2026-12-01T09:30:00Z, or a date, like 2026-12-01)",
}

func article(t fieldsync.ColumnType) string {
	if t == fieldsync.TypeInteger {
		return "n"
	}
	return ""
}
