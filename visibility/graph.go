package visibility

import (
	"context"
	"fmt"

	"github.com/fieldsync/fieldsync"
)

// Graph is the visibility-relevant state of the server's rows: for every
// row, only the columns visibility rules read (foreign keys of parent and
// referenced_by rules, owner and position columns, and the position table's
// employee column), with reverse indexes to walk the rules both ways.
//
// Visibility is reachability: a row is seen by the employees whose seeds
// (all, owner, position rules) sit on some row from which it can be reached
// along its rules' edges (parent: from the parent row to the child;
// referenced_by: from the referencing row to the referenced one). The least
// fixed point of docs/schema.md "Visibility" is exactly this reachability, cycles included.
//
// A Graph is not safe for concurrent use.
type Graph struct {
	schema *fieldsync.Schema
	tabs   []*tab
	byName map[string]*tab
	// posTab/posEmp: the position table and its employee column index.
	posTab *tab
	posEmp int
	// scratch for traversals
	seen  map[rowKey]struct{}
	stack []rowKey
}

// rowKey names a row in the graph.
type rowKey struct {
	tab int
	id  string
}

// tab is one table's state.
type tab struct {
	idx   int
	table *fieldsync.Table
	cols  []string       // relevant columns, in a fixed order
	col   map[string]int // column -> index in cols
	rows  map[string][]string
	rev   []map[string]map[string]struct{} // per relevant column: value -> ids
	all   bool
	// broadcast is the relevant-column index of the mode column of a table
	// carrying files, or -1: a row in broadcast mode is seen by every node.
	broadcast int

	owners    []int // relevant-column indexes of owner rules
	positions []int // ... of position rules
	// parents: rules "parent: FK": the parent table and the FK column.
	parents []edge
	// refBy: rules "referenced_by: T.FK" of this table: the referencing table and its FK column.
	refBy []edge
	// children: tables with "parent: FK" pointing here (forward edges).
	children []edge
	// refTargets: tables with "referenced_by: THIS.FK" (forward edges from this table's rows).
	refTargets []edge
	// posDeps: tables whose position rules read rows of this table (only the position table).
	posDeps []edge
}

// edge links one table to another through a relevant column.
type edge struct {
	tab *tab // the other table
	col int  // relevant-column index, in whichever table holds the column
}

// NewGraph returns an empty graph for the schema.
func NewGraph(s *fieldsync.Schema) *Graph {
	g := &Graph{schema: s, byName: map[string]*tab{}, seen: map[rowKey]struct{}{}}
	for i, t := range s.Tables {
		tb := &tab{idx: i, table: t, col: map[string]int{}, rows: map[string][]string{}}
		g.tabs = append(g.tabs, tb)
		g.byName[t.Name] = tb
	}
	relevant := func(tb *tab, col string) int {
		if i, ok := tb.col[col]; ok {
			return i
		}
		tb.col[col] = len(tb.cols)
		tb.cols = append(tb.cols, col)
		tb.rev = append(tb.rev, map[string]map[string]struct{}{})
		return len(tb.cols) - 1
	}
	g.posEmp = -1
	if pt := g.byName[s.Nodes.PositionTable]; pt != nil && s.Nodes.PositionEmployee != "" {
		g.posTab = pt
		g.posEmp = relevant(pt, s.Nodes.PositionEmployee)
	}
	for _, tb := range g.tabs {
		tb.broadcast = -1
		if tb.table.Private {
			continue
		}
		if tb.table.Broadcasts() {
			tb.broadcast = relevant(tb, fieldsync.ModeColumn)
		}
		for _, r := range tb.table.Rules {
			switch r.Kind {
			case fieldsync.RuleAll:
				tb.all = true
			case fieldsync.RuleOwner:
				tb.owners = append(tb.owners, relevant(tb, r.Column))
			case fieldsync.RulePosition:
				c := relevant(tb, r.Column)
				tb.positions = append(tb.positions, c)
				if g.posTab != nil {
					g.posTab.posDeps = append(g.posTab.posDeps, edge{tab: tb, col: c})
				}
			case fieldsync.RuleParent:
				c := relevant(tb, r.Column)
				parent := g.byName[tb.table.Column(r.Column).References]
				tb.parents = append(tb.parents, edge{tab: parent, col: c})
				parent.children = append(parent.children, edge{tab: tb, col: c})
			case fieldsync.RuleReferencedBy:
				src := g.byName[r.Table]
				c := relevant(src, r.Column)
				tb.refBy = append(tb.refBy, edge{tab: src, col: c})
				src.refTargets = append(src.refTargets, edge{tab: tb, col: c})
			}
		}
	}
	return g
}

// Len returns the number of rows the graph holds.
func (g *Graph) Len() int {
	n := 0
	for _, tb := range g.tabs {
		n += len(tb.rows)
	}
	return n
}

// Put sets a row's relevant values from a (whole or partial) row: columns
// absent from r keep their values (null for a new row).
func (g *Graph) Put(table string, r fieldsync.Row) error {
	tb := g.byName[table]
	if tb == nil {
		return fmt.Errorf("visibility: unknown table %q", table)
	}
	id := r.ID()
	if id == "" {
		return fmt.Errorf("visibility: %s row without id", table)
	}
	g.put(tb, id, r)
	return nil
}

func (g *Graph) put(tb *tab, id string, r fieldsync.Row) {
	vals, ok := tb.rows[id]
	if !ok {
		vals = make([]string, len(tb.cols))
	}
	for i, c := range tb.cols {
		v, present := r[c]
		if !present {
			continue
		}
		s, _ := v.(string)
		if ok && vals[i] == s {
			continue
		}
		if ok && vals[i] != "" {
			unindex(tb.rev[i], vals[i], id)
		}
		vals[i] = s
		if s != "" {
			index(tb.rev[i], s, id)
		}
	}
	if !ok {
		for i, s := range vals {
			if s != "" {
				index(tb.rev[i], s, id)
			}
		}
		tb.rows[id] = vals
	}
}

func (g *Graph) remove(tb *tab, id string) {
	vals, ok := tb.rows[id]
	if !ok {
		return
	}
	for i, s := range vals {
		if s != "" {
			unindex(tb.rev[i], s, id)
		}
	}
	delete(tb.rows, id)
}

func index(m map[string]map[string]struct{}, v, id string) {
	s := m[v]
	if s == nil {
		s = map[string]struct{}{}
		m[v] = s
	}
	s[id] = struct{}{}
}

func unindex(m map[string]map[string]struct{}, v, id string) {
	if s := m[v]; s != nil {
		delete(s, id)
		if len(s) == 0 {
			delete(m, v)
		}
	}
}

// Scanner reads every row of a table: a fieldsync.Snapshot is one.
type Scanner interface {
	Scan(ctx context.Context, table string, fn func(fieldsync.Row) error) error
}

// Load builds the graph of every row src holds in the tables visibility
// depends on (a consistent snapshot, for the router and the extract).
func Load(ctx context.Context, src Scanner, s *fieldsync.Schema) (*Graph, error) {
	g := NewGraph(s)
	for _, tb := range g.tabs {
		err := src.Scan(ctx, tb.table.Name, func(r fieldsync.Row) error {
			g.put(tb, r.ID(), r)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("load visibility graph: %w", err)
		}
	}
	return g, nil
}
