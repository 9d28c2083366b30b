package visibility

import (
	"context"
	"sort"

	"github.com/fieldsync/fieldsync"
)

// Reference recomputes, straight from the database, every row a node
// registered for employee sees, by table. It is the definition of docs/schema.md
// "Visibility" written as plainly as possible (iterate the rules until
// nothing changes: the least fixed point), with no indexes and no
// incremental state, so that the Graph can be tested against it.
func Reference(ctx context.Context, db fieldsync.Reader, s *fieldsync.Schema, employee string) (map[string][]string, error) {
	return reference(ctx, db, s, employee, true)
}

// reference is Reference, or with shared false the rows SeesOwn is true of:
// the same fixed point with neither all rules nor broadcast mode as seeds.
func reference(ctx context.Context, db fieldsync.Reader, s *fieldsync.Schema, employee string, shared bool) (map[string][]string, error) {
	rows := map[string][]fieldsync.Row{}
	for _, t := range s.Tables {
		err := fieldsync.Each(ctx, db, t.Name, fieldsync.Query{}, func(r fieldsync.Row) error {
			rows[t.Name] = append(rows[t.Name], r)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	positions := map[string]bool{}
	if s.Nodes.PositionTable != "" {
		for _, r := range rows[s.Nodes.PositionTable] {
			if r[s.Nodes.PositionEmployee] == employee {
				positions[r.ID()] = true
			}
		}
	}
	visible := map[string]map[string]bool{}
	for _, t := range s.Tables {
		visible[t.Name] = map[string]bool{}
	}
	holds := func(t *fieldsync.Table, r fieldsync.Row, rule fieldsync.Rule) bool {
		switch rule.Kind {
		case fieldsync.RuleAll:
			return shared
		case fieldsync.RuleOwner:
			return r[rule.Column] == employee
		case fieldsync.RulePosition:
			p, _ := r[rule.Column].(string)
			return positions[p]
		case fieldsync.RuleParent:
			p, _ := r[rule.Column].(string)
			return visible[t.Column(rule.Column).References][p]
		case fieldsync.RuleReferencedBy:
			for _, other := range rows[rule.Table] {
				if other[rule.Column] == r.ID() && visible[rule.Table][other.ID()] {
					return true
				}
			}
		}
		return false
	}
	for changed := true; changed; {
		changed = false
		for _, t := range s.Tables {
			if t.Private {
				continue
			}
			for _, r := range rows[t.Name] {
				if visible[t.Name][r.ID()] {
					continue
				}
				if shared && t.Broadcast(r) {
					visible[t.Name][r.ID()] = true
					changed = true
					continue
				}
				for _, rule := range t.Rules {
					if holds(t, r, rule) {
						visible[t.Name][r.ID()] = true
						changed = true
						break
					}
				}
			}
		}
	}
	out := map[string][]string{}
	for name, ids := range visible {
		for id := range ids {
			out[name] = append(out[name], id)
		}
		sort.Strings(out[name])
	}
	return out, nil
}
