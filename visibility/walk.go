package visibility

import (
	"context"
	"fmt"

	"github.com/fieldsync/fieldsync"
)

// Source is what a walk reads: a consistent view of the server database
// (a fieldsync.Snapshot is one).
type Source interface {
	Scan(ctx context.Context, table string, fn func(fieldsync.Row) error) error
	Lookup(ctx context.Context, table, column string, values []string, fn func(fieldsync.Row) error) error
}

// Walk calls fn once for every row a node registered for employee sees,
// reading from src only those rows (and the employee's positions): it
// starts from the node's seeds and follows the rules' edges through the
// foreign keys' indexes, so its cost grows with what the node sees, not
// with the database. The rows every node sees come first (WalkShared),
// then the node's own (WalkOwn). It finds exactly the rows Reference
// does, and Graph.Visible.
func Walk(ctx context.Context, src Source, s *fieldsync.Schema, employee string, fn func(table string, r fieldsync.Row) error) error {
	shared, err := WalkShared(ctx, src, s, fn)
	if err != nil {
		return err
	}
	return WalkOwn(ctx, src, s, employee, shared, fn)
}

// Shared is the set of rows every node sees, as WalkShared found them in
// one snapshot.
type Shared struct {
	w    *walker
	rows int
}

// Len returns the number of rows every node sees.
func (sh *Shared) Len() int { return sh.rows }

// WalkShared calls fn once for every row every node sees: the rows of
// tables with the rule all, the rows in broadcast mode, and every row
// reachable from them. It returns their set for WalkOwn.
func WalkShared(ctx context.Context, src Source, s *fieldsync.Schema, fn func(table string, r fieldsync.Row) error) (*Shared, error) {
	w := newWalker(s, src, nil, fn)
	n := 0
	w.fn = func(table string, r fieldsync.Row) error {
		n++
		return fn(table, r)
	}
	for _, tb := range w.tabs {
		switch {
		case tb.t.Private:
		case tb.all:
			err := src.Scan(ctx, tb.t.Name, func(r fieldsync.Row) error { return w.reach(tb, r) })
			if err != nil {
				return nil, fmt.Errorf("walk %s: %w", tb.t.Name, err)
			}
		case tb.t.Broadcasts():
			if err := w.lookup(ctx, tb, fieldsync.ModeColumn, []string{fieldsync.ModeBroadcast}); err != nil {
				return nil, err
			}
		}
	}
	if err := w.run(ctx); err != nil {
		return nil, err
	}
	w.fn, w.src = nil, nil
	return &Shared{w: w, rows: n}, nil
}

// WalkOwn calls fn once for every row a node registered for employee sees
// that shared does not hold: the rows its owner and position rules give it
// and every row reachable from them (shared, from WalkShared on the same
// snapshot, is closed under the rules, so the walk stops at its rows).
func WalkOwn(ctx context.Context, src Source, s *fieldsync.Schema, employee string, shared *Shared, fn func(table string, r fieldsync.Row) error) error {
	if employee == "" {
		return nil
	}
	var skip *walker
	if shared != nil {
		skip = shared.w
	}
	w := newWalker(s, src, skip, fn)
	var positions []string
	if pt := w.byName[s.Nodes.PositionTable]; pt != nil && s.Nodes.PositionEmployee != "" && w.positionRules {
		err := src.Lookup(ctx, pt.t.Name, s.Nodes.PositionEmployee, []string{employee}, func(r fieldsync.Row) error {
			positions = append(positions, r.ID())
			return nil
		})
		if err != nil {
			return fmt.Errorf("walk %s: %w", pt.t.Name, err)
		}
	}
	for _, tb := range w.tabs {
		if tb.t.Private {
			continue
		}
		for _, c := range tb.owners {
			if err := w.lookup(ctx, tb, c, []string{employee}); err != nil {
				return err
			}
		}
		if len(positions) == 0 {
			continue
		}
		for _, c := range tb.positions {
			if err := w.lookup(ctx, tb, c, positions); err != nil {
				return err
			}
		}
	}
	return w.run(ctx)
}

// walker is one walk: the rules as edges between tables, the rows reached
// so far, and the lookups still to make.
type walker struct {
	src    Source
	fn     func(table string, r fieldsync.Row) error
	skip   *walker // rows reached by an earlier walk (the shared rows), or nil
	tabs   []*walkTab
	byName map[string]*walkTab
	// positionRules: some table has a position rule.
	positionRules bool
}

type walkTab struct {
	idx int
	t   *fieldsync.Table
	all bool
	// owners, positions: the columns of the table's owner and position rules.
	owners, positions []string
	// children: the tables whose rule "parent: FK" points here, with FK.
	children []walkEdge
	// refs: the tables whose rule "referenced_by: THIS.COL" reads a column
	// of this table, with COL.
	refs []walkEdge
	// seen: the rows of the table reached (true) or asked for by id
	// (false, until the row is read).
	seen map[string]bool
	// expand: rows reached whose children are still to look up.
	expand []string
	// want: ids to read, found in the refs columns of rows reached.
	want []string
}

type walkEdge struct {
	tab *walkTab
	col string
}

func newWalker(s *fieldsync.Schema, src Source, skip *walker, fn func(string, fieldsync.Row) error) *walker {
	w := &walker{src: src, fn: fn, skip: skip, byName: map[string]*walkTab{}}
	for i, t := range s.Tables {
		tb := &walkTab{idx: i, t: t, seen: map[string]bool{}}
		w.tabs = append(w.tabs, tb)
		w.byName[t.Name] = tb
	}
	for _, tb := range w.tabs {
		if tb.t.Private {
			continue
		}
		for _, r := range tb.t.Rules {
			switch r.Kind {
			case fieldsync.RuleAll:
				tb.all = true
			case fieldsync.RuleOwner:
				tb.owners = append(tb.owners, r.Column)
			case fieldsync.RulePosition:
				tb.positions = append(tb.positions, r.Column)
				w.positionRules = true
			case fieldsync.RuleParent:
				parent := w.byName[tb.t.Column(r.Column).References]
				parent.children = append(parent.children, walkEdge{tab: tb, col: r.Column})
			case fieldsync.RuleReferencedBy:
				src := w.byName[r.Table]
				src.refs = append(src.refs, walkEdge{tab: tb, col: r.Column})
			}
		}
	}
	return w
}

// reached reports whether the walk, or the one it continues, has reached
// a row.
func (w *walker) reached(tb *walkTab, id string) bool {
	if w.skip != nil && w.skip.tabs[tb.idx].seen[id] {
		return true
	}
	return tb.seen[id]
}

// reach takes a row read from the source: a row not reached before is
// handed to fn, and the rows its rules lead to are noted for lookup.
func (w *walker) reach(tb *walkTab, r fieldsync.Row) error {
	id := r.ID()
	if id == "" || w.reached(tb, id) {
		return nil
	}
	tb.seen[id] = true
	if err := w.fn(tb.t.Name, r); err != nil {
		return err
	}
	if len(tb.children) > 0 {
		tb.expand = append(tb.expand, id)
	}
	for _, e := range tb.refs {
		v, _ := r[e.col].(string)
		if v == "" || w.reached(e.tab, v) {
			continue
		}
		if _, asked := e.tab.seen[v]; asked {
			continue
		}
		e.tab.seen[v] = false
		e.tab.want = append(e.tab.want, v)
	}
	return nil
}

// lookup reaches the rows of tb whose column holds one of values.
func (w *walker) lookup(ctx context.Context, tb *walkTab, column string, values []string) error {
	err := w.src.Lookup(ctx, tb.t.Name, column, values, func(r fieldsync.Row) error { return w.reach(tb, r) })
	if err != nil {
		return fmt.Errorf("walk %s: %w", tb.t.Name, err)
	}
	return nil
}

// run makes the lookups the rows reached call for until none is left: the
// rows their referenced_by edges name, and the children of their parent
// edges.
func (w *walker) run(ctx context.Context) error {
	for more := true; more; {
		more = false
		for _, tb := range w.tabs {
			if ids := tb.want; len(ids) > 0 {
				tb.want, more = nil, true
				if err := w.lookup(ctx, tb, "id", ids); err != nil {
					return err
				}
			}
			if ids := tb.expand; len(ids) > 0 {
				tb.expand, more = nil, true
				for _, e := range tb.children {
					if err := w.lookup(ctx, e.tab, e.col, ids); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}
