package visibility

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync"
)

// The limits of the rules-tried part of an explanation (why a row is not
// visible): rows deeper than WhyDepth below the row asked about, referencing
// rows past the first WhyFanout of one rule, and rows past the first WhyRows
// in all are not explained (the answer says so). The verdict itself is
// never cut: it is the one Sees gives, at the cost of Sees.
const (
	WhyDepth  = 4
	WhyFanout = 5
	WhyRows   = 50
)

// KindBroadcast is the Kind of a step or a rule tried that is a table's
// broadcast attachment mode (docs/schema.md "Broadcast attachments")
// rather than one of its visibility rules.
const KindBroadcast = "broadcast"

// Explanation says why a node registered for Employee sees, or does not
// see, one row: Visible is always what Sees answers for it. A visible row
// has the Chain of rows and rules that grants it; a row that is not
// visible has the rules Tried and what each lacked, or a Note when its
// table is private.
type Explanation struct {
	Employee string `json:"employee"`
	Table    string `json:"table"`
	ID       string `json:"id"`
	Visible  bool   `json:"visible"`
	// Chain runs from the row to the seed that grants it: each step is
	// visible through its Rule because of the next step, and the last step
	// is visible by itself (an all, owner or position rule, or broadcast
	// mode).
	Chain []Step `json:"chain,omitempty"`
	// Tried lists, when the row is not visible, every rule of its table
	// (and its broadcast mode, when the table has one) with what it lacked.
	Tried []Tried `json:"tried,omitempty"`
	// Note says why no rules were tried: the table is private.
	Note string `json:"note,omitempty"`
	// Text is the explanation in one line.
	Text string `json:"text"`
}

// Step is one row of a visible row's chain and the rule it is visible
// through.
type Step struct {
	Table string `json:"table"`
	ID    string `json:"id"`
	// Kind is the rule's kind (all, owner, position, parent,
	// referenced_by) or "broadcast"; Rule the rule as the schema file
	// spells it.
	Kind string `json:"kind"`
	Rule string `json:"rule"`
	// Column is the column the rule follows: of this row's table for
	// owner, position and parent, of the next step's table for
	// referenced_by, "mode" for broadcast; "" for all.
	Column string `json:"column,omitempty"`
	// Detail, on the last step, says why its rule holds by itself
	// ("position P1 held by employee E1").
	Detail string `json:"detail,omitempty"`
}

// Tried is one rule of a row's table that does not make the row visible,
// and what it lacked.
type Tried struct {
	Kind   string `json:"kind"`
	Rule   string `json:"rule"`
	Column string `json:"column,omitempty"`
	// Lacked says in one line what the rule lacked ("position position_id:
	// position P2 is held by employee E2, not E1").
	Lacked string `json:"lacked"`
	// Rows are the rows the rule depends on (the parent row, the
	// referencing rows), none of them visible, each explained in turn.
	Rows []Unseen `json:"rows,omitempty"`
	// More counts the referencing rows left out of Rows (WhyFanout).
	More int `json:"more,omitempty"`
}

// Unseen is a row, not visible, that a rule tried depends on: the rules of
// its table it was tried with, or a Note saying why they are not listed
// (explained above, or past a limit of the explanation).
type Unseen struct {
	Table string  `json:"table"`
	ID    string  `json:"id"`
	Tried []Tried `json:"tried,omitempty"`
	Note  string  `json:"note,omitempty"`
}

// Explain says why a node registered for employee sees, or does not see,
// the row id of table, reading the database through r (a Snapshot gives a
// consistent answer). It applies exactly the rules Sees applies, searching
// from the row to the seeds nearest it, so its verdict is Sees's and its
// chain the shortest. An unknown table and a row that does not exist are
// errors of kind ErrNotFound.
func Explain(ctx context.Context, r fieldsync.Reader, s *fieldsync.Schema, employee, table, id string) (Explanation, error) {
	t, err := s.LookupTable(table)
	if err != nil {
		return Explanation{}, err
	}
	row, err := r.Get(ctx, table, id)
	if errors.Is(err, fieldsync.ErrNotFound) {
		return Explanation{}, fieldsync.Errorf(fieldsync.ErrNotFound, "table %s has no row %q", table, id)
	}
	if err != nil {
		return Explanation{}, fmt.Errorf("explain %s %s: %w", table, id, err)
	}
	ex := Explanation{Employee: employee, Table: table, ID: id}
	if t.Private {
		ex.Note = fmt.Sprintf("table %s is private: its rows are visible to no node", table)
		ex.Text = fmt.Sprintf("%s %s is not visible to employee %s: %s", table, id, employee, ex.Note)
		return ex, nil
	}
	w := &whyWalk{r: r, s: s, employee: employee, rows: map[rowRef]*visited{}, holders: map[string]holder{}}
	root := rowRef{table, id}
	w.rows[root] = &visited{row: keep(t, row), read: true, rule: -1}
	seed, err := w.search(ctx, root)
	if err != nil {
		return Explanation{}, fmt.Errorf("explain %s %s: %w", table, id, err)
	}
	if seed != nil {
		ex.Visible = true
		ex.Chain = w.chain(*seed)
		ex.Text = chainText(ex.Chain)
		return ex, nil
	}
	e := &explainer{w: w, done: map[rowRef]bool{root: true}, budget: WhyRows - 1}
	ex.Tried = e.tried(root, 0)
	lacked := make([]string, len(ex.Tried))
	for i, tr := range ex.Tried {
		lacked[i] = tr.Lacked
	}
	ex.Text = fmt.Sprintf("%s %s is not visible to employee %s: %s", table, id, employee, strings.Join(lacked, "; "))
	return ex, nil
}

// visited is a row the search reached.
type visited struct {
	// row holds the columns the rules read (nil: no such row); read says
	// the row was looked up; private says its table is private (not read,
	// as Sees does not).
	row     fieldsync.Row
	read    bool
	private bool
	// from is the row that depends on this one through rule number rule
	// of from's table (-1 for the row asked about).
	from rowRef
	rule int
	// refs holds, for each referenced_by rule by number, the ids of the
	// rows that refer to this one.
	refs map[int][]string
}

// holder is what the search found of a position: whether it exists, and
// the employee who holds it.
type holder struct {
	exists   bool
	employee string
}

// seedAt is where the search found a seed: the row, the rule number that
// holds by itself (-1: broadcast mode), and why it holds.
type seedAt struct {
	at     rowRef
	rule   int
	detail string
}

// whyWalk is Sees's walk, breadth first, remembering how it reached each
// row and what it read, to explain its answer.
type whyWalk struct {
	r        fieldsync.Reader
	s        *fieldsync.Schema
	employee string
	rows     map[rowRef]*visited
	holders  map[string]holder
	queue    []rowRef
}

// keep returns the columns of row the visibility rules (and broadcast
// mode) read, so that the search holds no more of each row than it needs.
func keep(t *fieldsync.Table, row fieldsync.Row) fieldsync.Row {
	out := fieldsync.Row{"id": row.ID()}
	for _, rule := range t.Rules {
		if rule.Kind != fieldsync.RuleReferencedBy && rule.Kind != fieldsync.RuleAll {
			out[rule.Column] = row[rule.Column]
		}
	}
	if t.Broadcasts() {
		out[fieldsync.ModeColumn] = row[fieldsync.ModeColumn]
	}
	return out
}

// search walks from root along the rules, nearest rows first, until a row
// is visible by itself, and returns where; nil when no row it reaches is
// (then it has read every row Sees reads).
func (w *whyWalk) search(ctx context.Context, root rowRef) (*seedAt, error) {
	w.queue = []rowRef{root}
	for len(w.queue) > 0 {
		k := w.queue[0]
		w.queue = w.queue[1:]
		v := w.rows[k]
		t := w.s.Table(k.table)
		if t == nil || t.Private {
			v.private = t != nil
			continue
		}
		if !v.read {
			row, err := w.r.Get(ctx, k.table, k.id)
			if err != nil && !errors.Is(err, fieldsync.ErrNotFound) {
				return nil, err
			}
			v.read = true
			if err == nil {
				v.row = keep(t, row)
			}
		}
		if v.row == nil {
			continue
		}
		seed, err := w.seed(ctx, k, t, v.row)
		if err != nil || seed != nil {
			return seed, err
		}
		if err := w.expand(ctx, k, t, v); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// seed reports whether a row is visible by itself: in broadcast mode, or
// through an all, owner or position rule for the employee.
func (w *whyWalk) seed(ctx context.Context, k rowRef, t *fieldsync.Table, row fieldsync.Row) (*seedAt, error) {
	if t.Broadcast(row) {
		return &seedAt{at: k, rule: -1, detail: "mode broadcast: every node sees it"}, nil
	}
	for i, rule := range t.Rules {
		v, _ := row[rule.Column].(string)
		switch rule.Kind {
		case fieldsync.RuleAll:
			return &seedAt{at: k, rule: i, detail: "rule all: every node sees it"}, nil
		case fieldsync.RuleOwner:
			if v != "" && v == w.employee {
				return &seedAt{at: k, rule: i, detail: fmt.Sprintf("%s is employee %s", rule.Column, v)}, nil
			}
		case fieldsync.RulePosition:
			h, err := w.holder(ctx, v)
			if err != nil {
				return nil, err
			}
			if h.employee != "" && h.employee == w.employee {
				return &seedAt{at: k, rule: i, detail: fmt.Sprintf("%s %s held by employee %s", w.s.Nodes.PositionTable, v, h.employee)}, nil
			}
		}
	}
	return nil, nil
}

// expand queues the rows a row's parent and referenced_by rules make it
// depend on.
func (w *whyWalk) expand(ctx context.Context, k rowRef, t *fieldsync.Table, v *visited) error {
	for i, rule := range t.Rules {
		switch rule.Kind {
		case fieldsync.RuleParent:
			p, _ := v.row[rule.Column].(string)
			w.push(rowRef{t.Column(rule.Column).References, p}, k, i)
		case fieldsync.RuleReferencedBy:
			if v.refs == nil {
				v.refs = map[int][]string{}
			}
			err := fieldsync.Each(ctx, w.r, rule.Table, fieldsync.Query{Where: map[string]any{rule.Column: k.id}}, func(src fieldsync.Row) error {
				v.refs[i] = append(v.refs[i], src.ID())
				w.push(rowRef{rule.Table, src.ID()}, k, i)
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// push queues a row the search has not reached yet, remembering how.
func (w *whyWalk) push(k, from rowRef, rule int) {
	if k.id == "" || w.rows[k] != nil {
		return
	}
	w.rows[k] = &visited{from: from, rule: rule}
	w.queue = append(w.queue, k)
}

// holder returns (and remembers) what the database holds of a position.
func (w *whyWalk) holder(ctx context.Context, pos string) (holder, error) {
	if pos == "" || w.s.Nodes.PositionTable == "" {
		return holder{}, nil
	}
	if h, ok := w.holders[pos]; ok {
		return h, nil
	}
	row, err := w.r.Get(ctx, w.s.Nodes.PositionTable, pos)
	if err != nil && !errors.Is(err, fieldsync.ErrNotFound) {
		return holder{}, err
	}
	var h holder
	if err == nil {
		h.exists = true
		h.employee, _ = row[w.s.Nodes.PositionEmployee].(string)
	}
	w.holders[pos] = h
	return h, nil
}
