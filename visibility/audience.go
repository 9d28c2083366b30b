package visibility

import (
	"slices"
	"sort"

	"github.com/fieldsync/fieldsync"
)

// Audience is who sees a row: every node (All), or the nodes registered
// for the listed employees.
type Audience struct {
	All       bool
	Employees []string // sorted, unique; empty when All
}

// Empty reports whether no one sees the row.
func (a Audience) Empty() bool { return !a.All && len(a.Employees) == 0 }

// Sees reports whether a node of the employee sees the row.
func (a Audience) Sees(employee string) bool {
	if a.All {
		return true
	}
	_, found := slices.BinarySearch(a.Employees, employee)
	return found
}

// Equal reports whether two audiences are the same.
func (a Audience) Equal(b Audience) bool {
	return a.All == b.All && slices.Equal(a.Employees, b.Employees)
}

// Audience returns who sees a row now: the union of the seeds of every row
// it can be reached from. A row the graph does not hold is seen by no one.
func (g *Graph) Audience(table, id string) Audience {
	tb := g.byName[table]
	if tb == nil {
		return Audience{}
	}
	return g.audience(tb, id)
}

func (g *Graph) audience(start *tab, id string) Audience {
	if _, ok := start.rows[id]; !ok {
		return Audience{}
	}
	clear(g.seen)
	g.stack = append(g.stack[:0], rowKey{start.idx, id})
	g.seen[rowKey{start.idx, id}] = struct{}{}
	var emps []string
	push := func(tb *tab, id string) {
		if id == "" {
			return
		}
		if _, ok := tb.rows[id]; !ok {
			return
		}
		k := rowKey{tb.idx, id}
		if _, ok := g.seen[k]; ok {
			return
		}
		g.seen[k] = struct{}{}
		g.stack = append(g.stack, k)
	}
	for len(g.stack) > 0 {
		k := g.stack[len(g.stack)-1]
		g.stack = g.stack[:len(g.stack)-1]
		tb := g.tabs[k.tab]
		vals := tb.rows[k.id]
		if tb.all || tb.broadcast >= 0 && vals[tb.broadcast] == fieldsync.ModeBroadcast {
			return Audience{All: true}
		}
		for _, c := range tb.owners {
			if vals[c] != "" {
				emps = append(emps, vals[c])
			}
		}
		for _, c := range tb.positions {
			if e := g.positionHolder(vals[c]); e != "" {
				emps = append(emps, e)
			}
		}
		for _, p := range tb.parents {
			push(p.tab, vals[p.col])
		}
		for _, rb := range tb.refBy {
			for src := range rb.tab.rev[rb.col][k.id] {
				push(rb.tab, src)
			}
		}
	}
	sort.Strings(emps)
	return Audience{Employees: slices.Compact(emps)}
}

// positionHolder returns the employee holding a position, or "".
func (g *Graph) positionHolder(position string) string {
	if position == "" || g.posTab == nil {
		return ""
	}
	vals, ok := g.posTab.rows[position]
	if !ok {
		return ""
	}
	return vals[g.posEmp]
}

// dependents calls fn for every row whose audience reads row k directly:
// children through parent rules and rows referenced through referenced_by
// rules (the rows k makes visible), and, with seeds, rows whose position
// rules name k (when k is a position: its holder is their seed).
func (g *Graph) dependents(k rowKey, seeds bool, fn func(*tab, string)) {
	tb := g.tabs[k.tab]
	for _, ch := range tb.children {
		for id := range ch.tab.rev[ch.col][k.id] {
			fn(ch.tab, id)
		}
	}
	if vals, ok := tb.rows[k.id]; ok {
		for _, rt := range tb.refTargets {
			if v := vals[rt.col]; v != "" {
				fn(rt.tab, v)
			}
		}
	}
	if !seeds {
		return
	}
	for _, pd := range tb.posDeps {
		for id := range pd.tab.rev[pd.col][k.id] {
			fn(pd.tab, id)
		}
	}
}

// closure adds to set start and every row reachable from it along
// dependents, but for the rows of beyond (nil: none), where it stops.
func (g *Graph) closure(start rowKey, seeds bool, set, beyond map[rowKey]struct{}) {
	stack := []rowKey{start}
	set[start] = struct{}{}
	for len(stack) > 0 {
		k := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		g.dependents(k, seeds, func(tb *tab, id string) {
			if _, ok := tb.rows[id]; !ok {
				return
			}
			nk := rowKey{tb.idx, id}
			if _, ok := beyond[nk]; ok {
				return
			}
			if _, ok := set[nk]; ok {
				return
			}
			set[nk] = struct{}{}
			stack = append(stack, nk)
		})
	}
}

// Visible returns every row an employee's node sees, by table: the rows
// every node sees and those reachable from the employee's own seeds.
func (g *Graph) Visible(employee string) map[string][]string {
	common := g.common()
	out := map[string][]string{}
	for _, set := range []map[rowKey]struct{}{common, g.own(employee, common)} {
		for k := range set {
			name := g.tabs[k.tab].table.Name
			out[name] = append(out[name], k.id)
		}
	}
	for _, ids := range out {
		sort.Strings(ids)
	}
	return out
}
