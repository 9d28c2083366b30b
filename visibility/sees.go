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
	return walk(ctx, r, s, employee, table, id, true)
}

// SeesOwn reports whether a node registered for employee sees a row through
// something of its own: an owner or position rule for the employee, or a
// chain of parent and referenced_by rules from such a row. What every node
// sees (all rules, rows in broadcast mode, and what hangs off them) does
// not count. The Transaction Merger lets nodes write only the rows they see
// this way; the rest is read-only to them (docs/sync.md "Who may write what").
func SeesOwn(ctx context.Context, r fieldsync.Reader, s *fieldsync.Schema, employee, table, id string) (bool, error) {
	return walk(ctx, r, s, employee, table, id, false)
}

// rowRef names a row in a walk.
type rowRef struct{ table, id string }

// walk is Sees, or with shared false SeesOwn.
func walk(ctx context.Context, r fieldsync.Reader, s *fieldsync.Schema, employee, table, id string, shared bool) (bool, error) {
	seen := map[rowRef]bool{}
	stack := []rowRef{{table, id}}
	seen[stack[0]] = true
	push := func(table, id string) {
		nk := rowRef{table, id}
		if id != "" && !seen[nk] {
			seen[nk] = true
			stack = append(stack, nk)
		}
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
		if shared && t.Broadcast(row) {
			return true, nil
		}
		for _, rule := range t.Rules {
			ok, err := seeds(ctx, r, s, employee, t, k.id, row, rule, shared, push)
			if err != nil || ok {
				return ok, err
			}
		}
	}
	return false, nil
}

// seeds reports whether a rule of row's table makes the row visible by
// itself (all with shared, owner, position), and pushes the rows the rule
// makes it depend on (parent, referenced_by).
func seeds(ctx context.Context, r fieldsync.Reader, s *fieldsync.Schema, employee string, t *fieldsync.Table, id string,
	row fieldsync.Row, rule fieldsync.Rule, shared bool, push func(table, id string)) (bool, error) {
	v, _ := row[rule.Column].(string)
	switch rule.Kind {
	case fieldsync.RuleAll:
		return shared, nil
	case fieldsync.RuleOwner:
		return v != "" && v == employee, nil
	case fieldsync.RulePosition:
		e, err := positionHolder(ctx, r, s, v)
		return e != "" && e == employee, err
	case fieldsync.RuleParent:
		push(t.Column(rule.Column).References, v)
	case fieldsync.RuleReferencedBy:
		return false, fieldsync.Each(ctx, r, rule.Table, fieldsync.Query{Where: map[string]any{rule.Column: id}}, func(src fieldsync.Row) error {
			push(rule.Table, src.ID())
			return nil
		})
	}
	return false, nil
}

// positionHolder returns the employee who holds a position, or "".
func positionHolder(ctx context.Context, r fieldsync.Reader, s *fieldsync.Schema, pos string) (string, error) {
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

func ignoreNotFound(err error) error {
	if errors.Is(err, fieldsync.ErrNotFound) {
		return nil
	}
	return err
}
