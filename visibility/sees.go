package visibility

import (
	"context"
	"errors"

	"github.com/fieldsync/fieldsync"
)

// Sees reports whether a node registered for employee sees a row, reading
// the database through r as it is now: the row's rules are walked
// backwards (to parent rows and to referencing rows) until a seed for the
// employee is found. The Transaction Merger asks it, inside its own
// transaction, whether a node may write a row. A row that does not exist is
// seen by no one; rows of private tables are seen by no node.
func Sees(ctx context.Context, r fieldsync.Reader, s *fieldsync.Schema, employee, table, id string) (bool, error) {
	type key struct{ table, id string }
	seen := map[key]bool{}
	stack := []key{{table, id}}
	seen[stack[0]] = true
	positionHolder := func(pos string) (string, error) {
		if pos == "" || s.Nodes.PositionTable == "" {
			return "", nil
		}
		row, err := r.Get(ctx, s.Nodes.PositionTable, pos)
		if err != nil {
			return "", ignoreNotFound(err)
		}
		e, _ := row[s.Nodes.PositionEmployee].(string)
		return e, nil
	}
	for len(stack) > 0 {
		k := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		t := s.Table(k.table)
		if t == nil || t.Private {
			continue
		}
		row, err := r.Get(ctx, k.table, k.id)
		if err != nil {
			if err = ignoreNotFound(err); err != nil {
				return false, err
			}
			continue
		}
		if t.Broadcast(row) {
			return true, nil
		}
		push := func(table, id string) {
			nk := key{table, id}
			if id != "" && !seen[nk] {
				seen[nk] = true
				stack = append(stack, nk)
			}
		}
		for _, rule := range t.Rules {
			v, _ := row[rule.Column].(string)
			switch rule.Kind {
			case fieldsync.RuleAll:
				return true, nil
			case fieldsync.RuleOwner:
				if v != "" && v == employee {
					return true, nil
				}
			case fieldsync.RulePosition:
				e, err := positionHolder(v)
				if err != nil {
					return false, err
				}
				if e != "" && e == employee {
					return true, nil
				}
			case fieldsync.RuleParent:
				push(t.Column(rule.Column).References, v)
			case fieldsync.RuleReferencedBy:
				err := fieldsync.Each(ctx, r, rule.Table, fieldsync.Query{Where: map[string]any{rule.Column: k.id}}, func(src fieldsync.Row) error {
					push(rule.Table, src.ID())
					return nil
				})
				if err != nil {
					return false, err
				}
			}
		}
	}
	return false, nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, fieldsync.ErrNotFound) {
		return nil
	}
	return err
}
