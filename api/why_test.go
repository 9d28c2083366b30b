package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// TestWhy: GET /api/v1/admin/nodes/{name}/why/{table}/{id} explains a
// row's visibility to a node's employee, visible or not, for an active or
// a deactivated node; unknown nodes, tables and rows are not found; only
// the administrator may ask.
func TestWhy(t *testing.T) { testutil.ForBackends(t, testWhy) }

func testWhy(t *testing.T, b testutil.Backend) {
	c, srv := start(t, b, 0, server.API)
	seed(t, c) // ann holds p-ann; account acme
	ctx := context.Background()
	for _, r := range []struct {
		table string
		vals  map[string]any
	}{
		{"employee", map[string]any{"id": "bob", "name": "Bob", "login": "bob"}},
		{"account_team", map[string]any{"id": "at1", "account_id": "acme", "position_id": "p-ann"}},
		{"contact", map[string]any{"id": "k1", "account_id": "acme"}},
	} {
		if _, err := c.Create(ctx, r.table, r.vals); err != nil {
			t.Fatal(err)
		}
	}
	added, err := c.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddNode(ctx, "bob-laptop", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeactivateNode(ctx, "bob-laptop"); err != nil {
		t.Fatal(err)
	}

	why, err := c.Why(ctx, "ann-laptop", "contact", "k1")
	if err != nil || !why.Visible || why.Node != "ann-laptop" || !why.Active || why.Employee != "ann" || len(why.Chain) != 3 ||
		why.Text != "contact k1 ← account acme ← account_team at1 (position p-ann held by employee ann)" {
		t.Fatalf("why ann-laptop sees contact k1: %+v, %v", why, err)
	}
	if s := why.Chain[1]; s.Table != "account" || s.ID != "acme" || s.Kind != "referenced_by" || s.Column != "account_id" {
		t.Errorf("the chain's second step: %+v", s)
	}
	// A deactivated node is answered, and the answer says it is deactivated.
	why, err = c.Why(ctx, "bob-laptop", "contact", "k1")
	if err != nil || why.Visible || why.Active || why.Deactivated.IsZero() || len(why.Tried) != 1 ||
		why.Tried[0].Lacked != "parent account_id: account acme is not visible" || len(why.Tried[0].Rows) != 1 {
		t.Fatalf("why bob-laptop does not see contact k1: %+v, %v", why, err)
	}
	// The answer's JSON.
	code, body := raw(t, "GET", c.BaseURL+"/api/v1/admin/nodes/ann-laptop/why/account/acme", "Bearer "+c.Token, "")
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); code != 200 || err != nil || m["node"] != "ann-laptop" || m["employee"] != "ann" ||
		m["visible"] != true || m["table"] != "account" || m["active"] != true || len(m["chain"].([]any)) != 2 {
		t.Fatalf("the answer: %d %s", code, body)
	}

	for _, c2 := range []struct {
		node, table, id string
		kind            error
		msg             string
	}{
		{"ghost", "contact", "k1", fieldsync.ErrNodeUnknown, `unknown node "ghost"`},
		{"../ann-laptop", "contact", "k1", fieldsync.ErrNodeUnknown, `unknown node "../ann-laptop"`},
		{"ann-laptop", "ghost", "k1", fieldsync.ErrNotFound, `unknown table "ghost"`},
		{"ann-laptop", "contact", "nope", fieldsync.ErrNotFound, `table contact has no row "nope"`},
		{"ann-laptop", "contact", strings.Repeat("x", 5000), fieldsync.ErrNotFound, "table contact has no row"},
		{"ann-laptop", "contact", "", fieldsync.ErrInvalid, "needs a node, a table and a row id"},
	} {
		_, err := c.Why(ctx, c2.node, c2.table, c2.id)
		var apiErr *api.Error
		if !errors.Is(err, c2.kind) || !strings.Contains(err.Error(), c2.msg) || strings.Contains(err.Error(), "\n") ||
			c2.id != "" && !errors.As(err, &apiErr) {
			t.Errorf("why %s %s %.20s: %v, want %v %q", c2.node, c2.table, c2.id, err, c2.kind, c2.msg)
		}
		if c2.kind == fieldsync.ErrNotFound && errors.Is(err, fieldsync.ErrNodeUnknown) {
			t.Errorf("why %s %s: an unknown node's error for a known node: %v", c2.table, c2.id, err)
		}
	}
	if code, body := raw(t, "GET", c.BaseURL+"/api/v1/admin/nodes/ann-laptop/why/contact/k1?depth=99", "Bearer "+c.Token, ""); code != 400 ||
		!strings.Contains(body, `unknown query parameter \"depth\"`) {
		t.Errorf("a query parameter: %d %s", code, body)
	}

	// Only the administrator: no token, a node's secret, a node's
	// credentials, a connected user.
	if _, err := c.AddUser(ctx, api.NewUser{Login: "tess", EmployeeID: "ann", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	url := c.BaseURL + "/api/v1/admin/nodes/ann-laptop/why/contact/k1"
	for _, auth := range []struct{ name, header string }{{"no token", ""}, {"a node's secret", "Bearer " + added.Secret}, {"a bad header", "Token x"}} {
		if code, body := raw(t, "GET", url, auth.header, ""); code != http.StatusUnauthorized || strings.Contains(body, "acme") {
			t.Errorf("why with %s: %d %s", auth.name, code, body)
		}
	}
	if code, body := basic(t, "GET", url, "ann-laptop", added.Secret, ""); code != http.StatusUnauthorized || strings.Contains(body, "acme") {
		t.Errorf("why with the node's credentials: %d %s", code, body)
	}
	tess := &api.Client{BaseURL: c.BaseURL, User: "tess", Password: "correct horse battery"}
	if _, err := tess.Why(ctx, "ann-laptop", "contact", "k1"); !errors.Is(err, fieldsync.ErrForbidden) || !strings.Contains(err.Error(), "user tess may not use") {
		t.Errorf("why as a connected user: %v", err)
	}
	// In process, server.Admin gives the same answer.
	inproc, err := srv.Admin().Why(ctx, "ann-laptop", "contact", "k1")
	if err != nil || inproc.Text != "contact k1 ← account acme ← account_team at1 (position p-ann held by employee ann)" {
		t.Errorf("server.Admin.Why: %+v, %v", inproc, err)
	}
}
