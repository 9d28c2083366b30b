package visibility

import (
	"cmp"
	"slices"

	"github.com/fieldsync/fieldsync"
)

// Moves is what a change of the visibility rules moves in and out of each
// employee's view: the same rows loaded into a graph under the rules
// before and one under the rules after. The rows every node sees (those of
// all tables and in broadcast mode, with what depends on them) are found
// once for each graph; each employee's own rows beyond them are found per
// employee, so a change costs what it moves and what each employee sees
// alone, not every employee's whole view twice.
type Moves struct {
	before, after *Graph
	// cb, ca: the rows every node sees, before and after.
	cb, ca map[rowKey]struct{}
	// gained, lost: rows every node sees after and not before, and the
	// other way round.
	gained, lost []Row
}

// Row names a row by table and id.
type Row struct{ Table, ID string }

// NewMoves compares the views of graphs before and after (the same rows,
// under two schemas). Neither graph may change while the Moves is used.
func NewMoves(before, after *Graph) *Moves {
	m := &Moves{before: before, after: after, cb: before.common(), ca: after.common()}
	m.gained = crossMinus(after, m.ca, before, m.cb, nil)
	m.lost = crossMinus(before, m.cb, after, m.ca, nil)
	return m
}

// Of returns the rows the employee's node sees after and not before
// (gained) and before and not after (lost), each sorted by table and id:
// Visible's views of the two graphs, compared.
func (m *Moves) Of(employee string) (gained, lost []Row) {
	pb := m.before.own(employee, m.cb)
	pa := m.after.own(employee, m.ca)
	for _, r := range m.gained {
		if !m.before.holds(pb, r) {
			gained = append(gained, r)
		}
	}
	gained = append(gained, crossMinus(m.after, pa, m.before, m.cb, pb)...)
	for _, r := range m.lost {
		if !m.after.holds(pa, r) {
			lost = append(lost, r)
		}
	}
	lost = append(lost, crossMinus(m.before, pb, m.after, m.ca, pa)...)
	sortRows(gained)
	sortRows(lost)
	return gained, lost
}

// common returns the rows every node sees: those of all tables and in
// broadcast mode, and every row reachable from them.
func (g *Graph) common() map[rowKey]struct{} {
	set := map[rowKey]struct{}{}
	for _, tb := range g.tabs {
		if tb.table.Private {
			continue
		}
		if tb.all {
			for id := range tb.rows {
				g.closure(rowKey{tb.idx, id}, false, set, nil)
			}
			continue
		}
		if tb.broadcast >= 0 {
			for id := range tb.rev[tb.broadcast][fieldsync.ModeBroadcast] {
				g.closure(rowKey{tb.idx, id}, false, set, nil)
			}
		}
	}
	return set
}

// own returns the rows the employee's node sees beyond common (which is
// closed under reachability, so the walk stops at its rows): those
// reachable from its owner and position seeds.
func (g *Graph) own(employee string, common map[rowKey]struct{}) map[rowKey]struct{} {
	set := map[rowKey]struct{}{}
	add := func(k rowKey) {
		if _, ok := common[k]; ok {
			return
		}
		if _, ok := set[k]; ok {
			return
		}
		g.closure(k, false, set, common)
	}
	for _, tb := range g.tabs {
		if tb.table.Private || tb.all {
			continue
		}
		for _, c := range tb.owners {
			for id := range tb.rev[c][employee] {
				add(rowKey{tb.idx, id})
			}
		}
		if len(tb.positions) > 0 && g.posTab != nil {
			for pos := range g.posTab.rev[g.posEmp][employee] {
				for _, c := range tb.positions {
					for id := range tb.rev[c][pos] {
						add(rowKey{tb.idx, id})
					}
				}
			}
		}
	}
	return set
}

// holds reports whether set (of rows of g) holds r.
func (g *Graph) holds(set map[rowKey]struct{}, r Row) bool {
	tb := g.byName[r.Table]
	if tb == nil {
		return false
	}
	_, ok := set[rowKey{tb.idx, r.ID}]
	return ok
}

// crossMinus returns the rows of set a (of graph ga) that are in neither b1
// nor b2 (sets of graph gb; b2 may be nil).
func crossMinus(ga *Graph, a map[rowKey]struct{}, gb *Graph, b1, b2 map[rowKey]struct{}) []Row {
	var out []Row
	for k := range a {
		r := Row{ga.tabs[k.tab].table.Name, k.id}
		if gb.holds(b1, r) || (b2 != nil && gb.holds(b2, r)) {
			continue
		}
		out = append(out, r)
	}
	return out
}

func sortRows(rs []Row) {
	slices.SortFunc(rs, func(a, b Row) int {
		return cmp.Or(cmp.Compare(a.Table, b.Table), cmp.Compare(a.ID, b.ID))
	})
}
