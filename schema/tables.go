package schema

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fieldsync/fieldsync"
)

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
			t.RemoteWrite, d.remoteWrite = p.boolean(kv.v, ctx+": remote_write"), kv.k
		case "server_columns":
			d.serverCols = kv
		case "remote_delete":
			t.NoRemoteDelete, d.remoteDelete = !p.boolean(kv.v, ctx+": remote_delete"), kv.k
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
// references, on_delete, default}".
func (p *parser) column(ctx string, k, v *yaml.Node) *colDecl {
	c := &fieldsync.Column{Name: k.Value, Line: k.Line}
	cd := &colDecl{c: c}
	what := ctx + ": column " + c.Name
	var typ, onDelete, refs, def *yaml.Node
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
				p.references(what, cd, kv.v)
			case "default":
				def = kv.v
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
	if def != nil && cd.typed {
		p.columnDefault(what, c, def)
	}
	return cd
}

// references reads a column's references: TABLE (or TABLE.id).
func (p *parser) references(what string, cd *colDecl, n *yaml.Node) {
	ref, ok := p.scalar(n, what+": references")
	if !ok {
		return
	}
	tbl, col, dotted := strings.Cut(ref, ".")
	switch {
	case tbl == "":
		p.errorf(n, "%s: references %q names no table (write references: TABLE)", what, ref)
	case dotted && col != "id":
		p.errorf(n, "%s: references %q: a foreign key holds the id of a row of another table; write references: %s", what, ref, tbl)
	default:
		cd.c.References, cd.ref = tbl, deref(n)
	}
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
