package client_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/schema"
)

// schemaSteps are the changes of the built-in schema the randomized
// convergence test applies on the running server, in order, each at a
// random step: columns and a table added, a visibility rule added (every
// contact seen by every node) and removed again.
var schemaSteps = []struct{ what, from, to string }{
	{"contact.nickname added", "      phone: text\n", "      phone: text\n      nickname: text\n"},
	{"a rule added: every contact seen by all", "      - parent: account_id   # the contacts of the accounts I see\n",
		"      - parent: account_id   # the contacts of the accounts I see\n      - all\n"},
	{"opportunity.probability added", "      close_date: timestamp\n", "      close_date: timestamp\n      probability: {type: integer, default: 10}\n"},
	{"table visit added", "", "\n  visit:\n    columns:\n      opportunity_id: {type: text, references: opportunity, on_delete: cascade}\n" +
		"      place: text\n    visibility:\n      - parent: opportunity_id\n    remote_write: true\n"},
	{"the rule removed", "      - parent: account_id   # the contacts of the accounts I see\n      - all\n",
		"      - parent: account_id   # the contacts of the accounts I see\n"},
}

// schemaWalk applies schemaSteps one after the other.
type schemaWalk struct {
	yaml string
	next int
}

func newSchemaWalk() *schemaWalk { return &schemaWalk{yaml: string(schema.DefaultYAML())} }

// step applies the next schema change, if one is left, through the API as
// fieldsync admin schema apply does.
func (sw *schemaWalk) step(t *testing.T, w *world, step int) {
	t.Helper()
	if sw.next == len(schemaSteps) {
		return
	}
	s := schemaSteps[sw.next]
	y := sw.yaml + s.to
	if s.from != "" {
		if !strings.Contains(sw.yaml, s.from) {
			t.Fatalf("step %d: schema change %q: the schema lacks %q", step, s.what, s.from)
		}
		y = strings.Replace(sw.yaml, s.from, s.to, 1)
	}
	plan, err := w.api.ApplySchema(context.Background(), api.SchemaFile{Source: "crm.yaml", YAML: y})
	if err != nil || !plan.Applied {
		t.Fatalf("step %d: schema change %q: %+v %v", step, s.what, plan, err)
	}
	t.Logf("step %d: schema version %d: %s", step, plan.To, s.what)
	sw.yaml, sw.next = y, sw.next+1
}

// has says whether the schema in force has a table and column.
func (sw *schemaWalk) has(w *world, table, col string) bool {
	tb := w.srv.Store().Schema().Table(table)
	return tb != nil && (col == "" || tb.Column(col) != nil)
}

// serverChange is a connected user's change to what the schema steps
// added: a contact's nickname, an opportunity's probability, a visit.
func (sw *schemaWalk) serverChange(w *world, rng *rand.Rand, step int, pick func(string) string) fieldsync.Change {
	switch rng.IntN(3) {
	case 0:
		if id := pick("contact"); id != "" && sw.has(w, "contact", "nickname") {
			return fieldsync.Update("contact", id, map[string]any{"nickname": fmt.Sprintf("server-%d", step)})
		}
	case 1:
		if id := pick("opportunity"); id != "" && sw.has(w, "opportunity", "probability") {
			return fieldsync.Update("opportunity", id, map[string]any{"probability": rng.IntN(100)})
		}
	default:
		if opp := pick("opportunity"); opp != "" && sw.has(w, "visit", "") {
			return fieldsync.Insert("visit", map[string]any{"opportunity_id": opp, "place": fmt.Sprintf("server-%d", step)})
		}
	}
	return fieldsync.Change{}
}

// localChange is a field user's change to what the node's local schema
// version has of the schema steps' additions.
func localChange(local *fieldsync.Schema, node string, rng *rand.Rand, step int, pick func(string) string) fieldsync.Change {
	has := func(table, col string) bool {
		tb := local.Table(table)
		return tb != nil && (col == "" || tb.Column(col) != nil)
	}
	switch rng.IntN(2) {
	case 0:
		if id := pick("contact"); id != "" && has("contact", "nickname") {
			return fieldsync.Update("contact", id, map[string]any{"nickname": fmt.Sprintf("%s-%d", node, step)})
		}
	default:
		if opp := pick("opportunity"); opp != "" && has("visit", "") {
			return fieldsync.Insert("visit", map[string]any{"opportunity_id": opp, "place": fmt.Sprintf("%s-%d", node, step)})
		}
	}
	return fieldsync.Change{}
}

// allowedLocally says whether a local change's error is one a field user
// may meet (a row read-only to the node, a value refused).
func allowedLocally(err error) bool {
	return err == nil || errors.Is(err, fieldsync.ErrForbidden) || errors.Is(err, fieldsync.ErrInvalid)
}
