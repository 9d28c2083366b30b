package visibility

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fieldsync/fieldsync"
)

// chain is the path the search took from the row asked about to the seed,
// the row asked about first.
func (w *whyWalk) chain(seed seedAt) []Step {
	t := w.s.Table(seed.at.table)
	last := Step{Table: seed.at.table, ID: seed.at.id, Kind: KindBroadcast, Rule: KindBroadcast, Column: fieldsync.ModeColumn, Detail: seed.detail}
	if seed.rule >= 0 {
		last.Kind, last.Rule, last.Column = ruleStep(t.Rules[seed.rule])
	}
	steps := []Step{last}
	for k := seed.at; w.rows[k].rule >= 0; {
		v := w.rows[k]
		step := Step{Table: v.from.table, ID: v.from.id}
		step.Kind, step.Rule, step.Column = ruleStep(w.s.Table(v.from.table).Rules[v.rule])
		steps = append(steps, step)
		k = v.from
	}
	slices.Reverse(steps)
	return steps
}

// ruleStep returns a rule's kind, its spelling and the column it follows.
func ruleStep(r fieldsync.Rule) (kind, rule, column string) {
	return string(r.Kind), r.String(), r.Column
}

// chainText is a chain in one line: "opportunity O1 ← opportunity_team T1
// (position P1 held by employee E1)".
func chainText(steps []Step) string {
	parts := make([]string, len(steps))
	for i, s := range steps {
		parts[i] = s.Table + " " + s.ID
	}
	return strings.Join(parts, " ← ") + " (" + steps[len(steps)-1].Detail + ")"
}

// explainer builds the rules-tried part of an explanation from what the
// search read, each row once, within the limits WhyDepth, WhyFanout and
// WhyRows.
type explainer struct {
	w      *whyWalk
	done   map[rowRef]bool // rows explained (or being explained) already
	budget int             // rows that may still be explained
}

// unseen explains a row a rule depends on, depth rows below the row asked
// about.
func (e *explainer) unseen(k rowRef, depth int) Unseen {
	u := Unseen{Table: k.table, ID: k.id}
	v := e.w.rows[k]
	switch {
	case e.done[k]:
		u.Note = "explained above"
	case v == nil || !v.read && !v.private:
		u.Note = "not read" // the search never gets here when the row is not visible
	case v.private:
		u.Note = fmt.Sprintf("table %s is private: its rows are visible to no node", k.table)
	case v.row == nil:
		u.Note = "no such row (any more)"
	case depth > WhyDepth:
		u.Note = fmt.Sprintf("not explained further: the explanation goes %d rows deep at most", WhyDepth)
	case e.budget <= 0:
		u.Note = fmt.Sprintf("not explained: the explanation explains %d rows at most", WhyRows)
	default:
		e.done[k] = true
		e.budget--
		u.Tried = e.tried(k, depth)
	}
	return u
}

// tried lists the rules of a row's table (and its broadcast mode) with
// what each lacked, the row being depth rows below the row asked about.
func (e *explainer) tried(k rowRef, depth int) []Tried {
	t := e.w.s.Table(k.table)
	v := e.w.rows[k]
	var out []Tried
	if t.Broadcasts() {
		mode, _ := v.row[fieldsync.ModeColumn].(string)
		out = append(out, Tried{Kind: KindBroadcast, Rule: KindBroadcast, Column: fieldsync.ModeColumn,
			Lacked: fmt.Sprintf("broadcast mode: %s is %s, not broadcast", fieldsync.ModeColumn, orNone(mode))})
	}
	for i, rule := range t.Rules {
		tr := Tried{}
		tr.Kind, tr.Rule, tr.Column = ruleStep(rule)
		switch rule.Kind {
		case fieldsync.RuleAll:
			tr.Lacked = "all: holds" // never: an all rule makes the row visible
		case fieldsync.RuleOwner:
			tr.Lacked = e.owner(rule, v.row)
		case fieldsync.RulePosition:
			tr.Lacked = e.position(rule, v.row)
		case fieldsync.RuleParent:
			e.parent(&tr, t, rule, v.row, depth)
		case fieldsync.RuleReferencedBy:
			e.referencedBy(&tr, rule, v.refs[i], depth)
		}
		out = append(out, tr)
	}
	return out
}

// owner says what an owner rule lacked.
func (e *explainer) owner(rule fieldsync.Rule, row fieldsync.Row) string {
	v, _ := row[rule.Column].(string)
	if v == "" {
		return fmt.Sprintf("owner %s: the row has no %s", rule.Column, rule.Column)
	}
	return fmt.Sprintf("owner %s: %s is employee %s, not %s", rule.Column, rule.Column, v, e.w.employee)
}

// position says what a position rule lacked.
func (e *explainer) position(rule fieldsync.Rule, row fieldsync.Row) string {
	v, _ := row[rule.Column].(string)
	pt := e.w.s.Nodes.PositionTable
	h := e.w.holders[v]
	switch {
	case v == "":
		return fmt.Sprintf("position %s: the row has no %s", rule.Column, rule.Column)
	case pt == "":
		return fmt.Sprintf("position %s: the schema declares no positions", rule.Column)
	case !h.exists:
		return fmt.Sprintf("position %s: %s %s does not exist", rule.Column, pt, v)
	case h.employee == "":
		return fmt.Sprintf("position %s: %s %s is held by no employee", rule.Column, pt, v)
	}
	return fmt.Sprintf("position %s: %s %s is held by employee %s, not %s", rule.Column, pt, v, h.employee, e.w.employee)
}

// parent says what a parent rule lacked, and explains the parent row.
func (e *explainer) parent(tr *Tried, t *fieldsync.Table, rule fieldsync.Rule, row fieldsync.Row, depth int) {
	v, _ := row[rule.Column].(string)
	if v == "" {
		tr.Lacked = fmt.Sprintf("parent %s: the row has no %s", rule.Column, rule.Column)
		return
	}
	pk := rowRef{t.Column(rule.Column).References, v}
	pv := e.w.rows[pk]
	switch {
	case pv != nil && pv.private:
		tr.Lacked = fmt.Sprintf("parent %s: %s %s is in the private table %s, visible to no node", rule.Column, pk.table, v, pk.table)
	case pv != nil && pv.read && pv.row == nil:
		tr.Lacked = fmt.Sprintf("parent %s: %s %s does not exist", rule.Column, pk.table, v)
	default:
		u := e.unseen(pk, depth+1)
		tr.Lacked = fmt.Sprintf("parent %s: %s %s is not visible%s", rule.Column, pk.table, v, aboveOrCut(u))
		tr.Rows = []Unseen{u}
	}
}

// referencedBy says what a referenced_by rule lacked, and explains the
// first WhyFanout referencing rows.
func (e *explainer) referencedBy(tr *Tried, rule fieldsync.Rule, ids []string, depth int) {
	name := "referenced_by " + rule.Table + "." + rule.Column
	rt := e.w.s.Table(rule.Table)
	switch {
	case len(ids) == 0:
		tr.Lacked = fmt.Sprintf("%s: no %s row refers to it", name, rule.Table)
		return
	case rt != nil && rt.Private:
		tr.Lacked = fmt.Sprintf("%s: %s, but %s is private: its rows are visible to no node", name, count(len(ids), rule.Table), rule.Table)
		return
	}
	tr.Lacked = fmt.Sprintf("%s: %s, none visible", name, count(len(ids), rule.Table))
	shown := ids[:min(len(ids), WhyFanout)]
	for _, id := range shown {
		tr.Rows = append(tr.Rows, e.unseen(rowRef{rule.Table, id}, depth+1))
	}
	tr.More = len(ids) - len(shown)
	if tr.More > 0 {
		tr.Lacked += fmt.Sprintf(" (the first %d explained, and %d more)", len(shown), tr.More)
	}
}

// count says how many rows of a table refer to a row.
func count(n int, table string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s row refers to it", table)
	}
	return fmt.Sprintf("%d %s rows refer to it", n, table)
}

// aboveOrCut is, for a row not explained where it is named, the reason in
// parentheses; "" when it is explained there.
func aboveOrCut(u Unseen) string {
	if u.Note == "" {
		return ""
	}
	return " (" + u.Note + ")"
}

func orNone(s string) string {
	if s == "" {
		return "empty"
	}
	return s
}
