package schema

import (
	"fmt"
	"slices"

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
