package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// start runs a real server (SQLite file, all components) on a loopback
// port and returns a client with the administrator's token.
func start(t *testing.T, b testutil.Backend, maxBody int64, only ...string) (*api.Client, *server.Server) {
	t.Helper()
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t), MaxBodyBytes: maxBody, Only: only})
	return &api.Client{BaseURL: url, Token: srv.Token()}, srv
}

func seed(t *testing.T, c *api.Client) {
	t.Helper()
	ctx := context.Background()
	for _, r := range []struct {
		table string
		vals  map[string]any
	}{
		{"employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}},
		{"position", map[string]any{"id": "p-ann", "name": "East", "employee_id": "ann"}},
		{"account", map[string]any{"id": "acme", "name": "Acme"}},
	} {
		if _, err := c.Create(ctx, r.table, r.vals); err != nil {
			t.Fatalf("create %s: %v", r.table, err)
		}
	}
}

func TestRecordsCRUD(t *testing.T) { testutil.ForBackends(t, testRecordsCRUD) }

func testRecordsCRUD(t *testing.T, b testutil.Backend) {
	c, srv := start(t, b, 0, server.API) // no processor: the log keeps every entry
	seed(t, c)
	ctx := context.Background()
	row, err := c.Create(ctx, "opportunity", map[string]any{"name": "Deal", "account_id": "acme", "revenue": 1500.5, "close_date": "2026-12-01"})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := row["id"].(string)
	if !fieldsync.ValidID(id) || row["close_date"] != "2026-12-01T00:00:00Z" || fmt.Sprint(row["revenue"]) != "1500.5" {
		t.Fatalf("created row %v", row)
	}
	got, err := c.Get(ctx, "opportunity", id)
	if err != nil || got["name"] != "Deal" {
		t.Fatalf("get: %v, %v", got, err)
	}
	upd, err := c.Update(ctx, "opportunity", id, map[string]any{"stage": "won", "revenue": "2000"})
	if err != nil || upd["stage"] != "won" || fmt.Sprint(upd["revenue"]) != "2000" {
		t.Fatalf("update: %v, %v", upd, err)
	}
	page, err := c.List(ctx, "opportunity", map[string]any{"stage": "won"}, "", 0)
	if err != nil || len(page.Rows) != 1 {
		t.Fatalf("list stage=won: %v, %v", page, err)
	}
	page, err = c.List(ctx, "opportunity", map[string]any{"campaign_id": nil}, "", 0)
	if err != nil || len(page.Rows) != 1 {
		t.Fatalf("list campaign_id null: %v, %v", page, err)
	}
	if err := c.Delete(ctx, "opportunity", id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "opportunity", id); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	// Every change is in the Transaction Log, in order.
	log, err := srv.Store().ReadLog(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for i, tx := range log {
		if tx.Seq != int64(i+1) {
			t.Fatalf("log entry %d has seq %d", i, tx.Seq)
		}
		ops = append(ops, string(tx.Op)+" "+tx.Table)
	}
	want := "insert employee,insert position,insert account,insert opportunity,update opportunity,delete opportunity"
	if strings.Join(ops, ",") != want {
		t.Fatalf("log holds %v, want %s", ops, want)
	}
}

func TestPagingIsStable(t *testing.T) { testutil.ForBackends(t, testPagingIsStable) }

func testPagingIsStable(t *testing.T, b testutil.Backend) {
	c, _ := start(t, b, 0)
	ctx := context.Background()
	created := map[string]bool{}
	for i := 0; i < 25; i++ {
		row, err := c.Create(ctx, "product", map[string]any{"name": fmt.Sprintf("p%d", i), "price": i})
		if err != nil {
			t.Fatal(err)
		}
		created[row["id"].(string)] = true
	}
	seen := map[string]bool{}
	after := ""
	pages := 0
	for {
		page, err := c.List(ctx, "product", nil, after, 10)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range page.Rows {
			id := r["id"].(string)
			if seen[id] {
				t.Fatalf("row %s on two pages", id)
			}
			seen[id] = true
		}
		if page.Next == "" {
			break
		}
		after = page.Next
		if pages == 1 {
			// A row added while paging does not disturb the pages.
			if _, err := c.Create(ctx, "product", map[string]any{"id": "0000-first", "name": "early"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(seen) != 25 || pages != 3 {
		t.Fatalf("paged %d rows in %d pages, want 25 in 3", len(seen), pages)
	}
	for id := range created {
		if !seen[id] {
			t.Fatalf("row %s never listed", id)
		}
	}
}

func TestBadInput(t *testing.T) { testutil.ForBackends(t, testBadInput) }

func testBadInput(t *testing.T, b testutil.Backend) {
	c, _ := start(t, b, 0)
	seed(t, c)
	ctx := context.Background()
	cases := []struct {
		name   string
		call   func() error
		status int
		msg    string
	}{
		{"unknown table", func() error { _, err := c.Create(ctx, "opportunityy", map[string]any{"name": "x"}); return err },
			404, `unknown table "opportunityy"`},
		{"unknown column", func() error {
			_, err := c.Create(ctx, "account", map[string]any{"name": "x", "colour": "red"})
			return err
		}, 400, `table account has no column "colour"`},
		{"wrong type", func() error {
			_, err := c.Create(ctx, "opportunity", map[string]any{"name": "x", "revenue": "lots"})
			return err
		}, 400, `column revenue expects real, got "lots"`},
		{"dangling foreign key", func() error {
			_, err := c.Create(ctx, "opportunity", map[string]any{"name": "x", "account_id": "ghost"})
			return err
		}, 400, `opportunity.account_id: no account with id "ghost"`},
		{"unknown row", func() error { _, err := c.Get(ctx, "account", "ghost"); return err }, 404, `account: no row with id "ghost"`},
		{"duplicate id", func() error {
			_, err := c.Create(ctx, "account", map[string]any{"id": "acme", "name": "x"})
			return err
		},
			409, `already exists`},
		{"restricted delete", func() error {
			if _, err := c.Create(ctx, "opportunity", map[string]any{"name": "x", "account_id": "acme"}); err != nil {
				return err
			}
			return c.Delete(ctx, "account", "acme")
		}, 409, `still referenced`},
		{"update of an unknown row", func() error {
			_, err := c.Update(ctx, "account", "ghost", map[string]any{"name": "x"})
			return err
		}, 404, `no row with id "ghost"`},
		{"update of an unknown column", func() error {
			_, err := c.Update(ctx, "account", "acme", map[string]any{"colour": "red"})
			return err
		}, 400, `table account has no column "colour"`},
		{"update to a wrong type", func() error {
			_, err := c.Update(ctx, "product", "ghost", map[string]any{"price": true})
			return err
		}, 400, `column price expects real`},
		{"update to a dangling foreign key", func() error {
			_, err := c.Update(ctx, "position", "p-ann", map[string]any{"employee_id": "ghost"})
			return err
		}, 400, `position.employee_id: no employee with id "ghost"`},
		{"required column set to null", func() error {
			_, err := c.Update(ctx, "account", "acme", map[string]any{"name": nil})
			return err
		}, 400, `column name is required`},
		{"delete of an unknown row", func() error { return c.Delete(ctx, "account", "ghost") }, 404, `no row with id "ghost"`},
		{"get from an unknown table", func() error { _, err := c.Get(ctx, "nosuch", "x"); return err }, 404, `unknown table "nosuch"`},
		{"filter on unknown column", func() error { _, err := c.List(ctx, "account", map[string]any{"colour": "red"}, "", 0); return err },
			400, `no column "colour"`},
		{"bad limit", func() error { _, err := c.List(ctx, "account", nil, "", 5000); return err }, 400, `above the maximum`},
		{"node for unknown employee", func() error { _, err := c.AddNode(ctx, "x-laptop", "ghost"); return err }, 404, `no employee with id "ghost"`},
		{"bad node name", func() error { _, err := c.AddNode(ctx, "Bad Name", "ann"); return err }, 400, `node name "Bad Name" is not valid`},
		{"unknown node", func() error { _, err := c.DeactivateNode(ctx, "ghost"); return err }, 404, `unknown node "ghost"`},
		{"get unknown node", func() error { _, err := c.Node(ctx, "ghost"); return err }, 404, `unknown node "ghost"`},
		{"node without employee", func() error { _, err := c.AddNode(ctx, "x-laptop", ""); return err }, 400, `needs a name and an employee_id`},
		{"reextract unknown node", func() error { _, err := c.Reextract(ctx, "ghost"); return err }, 404, `unknown node "ghost"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var ae *api.Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an API error", err)
			}
			if ae.Status != tc.status || !strings.Contains(ae.Msg, tc.msg) || strings.Contains(ae.Msg, "\n") {
				t.Fatalf("got %d %q, want %d and a line saying %q", ae.Status, ae.Msg, tc.status, tc.msg)
			}
		})
	}
}

// raw sends a request with the given body and headers and returns the status and body.
func raw(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAuthAndLimits(t *testing.T) { testutil.ForBackends(t, testAuthAndLimits) }

func testAuthAndLimits(t *testing.T, b testutil.Backend) {
	c, _ := start(t, b, 4096)
	url := c.BaseURL + "/api/v1/records/account"
	bearer := "Bearer " + c.Token
	cases := []struct {
		name, method, url, auth, body string
		status                        int
		msg                           string
	}{
		{"health needs no token", "GET", c.BaseURL + "/health", "", "", 200, `"ok"`},
		{"missing token", "GET", url, "", "", 401, "missing bearer token"},
		{"wrong token", "GET", url, "Bearer nope", "", 401, "invalid token"},
		{"malformed header", "GET", url, "Basic abc", "", 401, "malformed Authorization header"},
		{"oversized body", "POST", url, bearer, `{"name":"` + strings.Repeat("x", 5000) + `"}`, 413, "request body larger than 4096 bytes"},
		{"malformed JSON", "POST", url, bearer, `{"name":`, 400, "not a valid JSON object"},
		{"empty body", "POST", url, bearer, ``, 400, "request body is empty"},
		{"JSON array", "POST", url, bearer, `[1,2]`, 400, "not a valid JSON object"},
		{"unknown endpoint", "GET", c.BaseURL + "/api/v1/nope", bearer, "", 404, "no endpoint GET /api/v1/nope"},
		{"unknown query parameter", "GET", url + "?_sort=name", bearer, "", 400, "unknown query parameter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := raw(t, tc.method, tc.url, tc.auth, tc.body)
			if code != tc.status || !strings.Contains(body, tc.msg) {
				t.Fatalf("got %d %s, want %d with %q", code, body, tc.status, tc.msg)
			}
		})
	}
	// Nothing of the oversized or malformed requests was written.
	page, err := c.List(context.Background(), "account", nil, "", 0)
	if err != nil || len(page.Rows) != 0 {
		t.Fatalf("refused requests left rows: %v, %v", page.Rows, err)
	}
}

func TestNodes(t *testing.T) { testutil.ForBackends(t, testNodes) }

func testNodes(t *testing.T, b testutil.Backend) {
	c, srv := start(t, b, 0)
	seed(t, c)
	ctx := context.Background()
	added, err := c.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		t.Fatal(err)
	}
	if len(added.Secret) < 40 || !added.Node.Active || added.Node.EmployeeID != "ann" {
		t.Fatalf("added node %+v", added)
	}
	// Only the secret's hash is stored.
	_, hash, err := srv.Store().Node(ctx, "ann-laptop")
	if err != nil || !fieldsync.SecretMatches(added.Secret, hash) || strings.Contains(fmt.Sprintf("%x", hash), added.Secret) {
		t.Fatalf("stored secret hash does not match the secret: %v", err)
	}
	// Registration takes the node's extract.
	if _, err := os.Stat(srv.Docking().Extract("ann-laptop")); err != nil {
		t.Fatalf("no extract after registration: %v", err)
	}
	if _, err := c.AddNode(ctx, "ann-laptop", "ann"); !errors.Is(err, fieldsync.ErrExists) {
		t.Fatalf("duplicate node name: %v", err)
	}
	nodes, err := c.ListNodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].Name != "ann-laptop" || nodes[0].Extracted.IsZero() {
		t.Fatalf("list nodes: %+v, %v", nodes, err)
	}
	res, err := c.Reextract(ctx, "ann-laptop")
	if err != nil || res["node"] != "ann-laptop" {
		t.Fatalf("reextract: %v, %v", res, err)
	}
	n, err := c.DeactivateNode(ctx, "ann-laptop")
	if err != nil || n.Active || n.Deactivated.IsZero() {
		t.Fatalf("deactivate: %+v, %v", n, err)
	}
	if _, err := c.Reextract(ctx, "ann-laptop"); !errors.Is(err, fieldsync.ErrForbidden) {
		t.Fatalf("reextract of a deactivated node: %v", err)
	}
}

func TestStatus(t *testing.T) { testutil.ForBackends(t, testStatus) }

func testStatus(t *testing.T, b testutil.Backend) {
	c, _ := start(t, b, 0)
	seed(t, c)
	ctx := context.Background()
	if _, err := c.AddNode(ctx, "ann-laptop", "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "account_team", map[string]any{"account_id": "acme", "position_id": "p-ann"}); err != nil {
		t.Fatal(err)
	}
	// The server's processor and router move the change into ann's outbox.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Nodes) == 1 && s.Nodes[0].OutboxFiles > 0 && len(s.Routers) == 1 && s.Routers[0].Position == 4 {
			n := s.Nodes[0]
			if n.Name != "ann-laptop" || !n.Active || n.OutboxBytes == 0 || n.LastExtract.IsZero() || s.Log.LastSeq != 4 {
				t.Fatalf("status %+v", s)
			}
			if len(s.Routers) != 1 || s.Routers[0].Position != 4 || s.Processor.Position != 4 {
				t.Fatalf("positions in status %+v", s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the change never reached the outbox: %+v", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestErrorKinds checks that the client gets the kind of every error back
// exactly, with errors.Is, as the server's store returned it.
func TestErrorKinds(t *testing.T) { testutil.ForBackends(t, testErrorKinds) }

func testErrorKinds(t *testing.T, b testutil.Backend) {
	c, _ := start(t, b, 0, server.API)
	seed(t, c)
	ctx := context.Background()
	if _, err := c.Create(ctx, "opportunity", map[string]any{"id": "deal", "name": "Deal", "account_id": "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddNode(ctx, "ann-laptop", "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeactivateNode(ctx, "ann-laptop"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		call  func() error
		code  string
		kinds []error
	}{
		{"bad value", func() error {
			_, err := c.Create(ctx, "product", map[string]any{"name": "x", "price": "cheap"})
			return err
		},
			"invalid", []error{fieldsync.ErrInvalid}},
		{"unknown row", func() error { _, err := c.Get(ctx, "account", "ghost"); return err },
			"not_found", []error{fieldsync.ErrNotFound}},
		{"unknown node", func() error { _, err := c.Node(ctx, "ghost"); return err },
			"node_unknown", []error{fieldsync.ErrNodeUnknown, fieldsync.ErrNotFound}},
		{"duplicate node", func() error { _, err := c.AddNode(ctx, "ann-laptop", "ann"); return err },
			"exists", []error{fieldsync.ErrExists}},
		{"row still referenced", func() error { return c.Delete(ctx, "account", "acme") },
			"in_use", []error{fieldsync.ErrInUse}},
		{"deactivated node", func() error { _, err := c.Reextract(ctx, "ann-laptop"); return err },
			"node_deactivated", []error{fieldsync.ErrNodeDeactivated, fieldsync.ErrForbidden}},
		{"wrong token", func() error {
			bad := &api.Client{BaseURL: c.BaseURL, Token: "nope"}
			_, err := bad.ListNodes(ctx)
			return err
		}, "unauthorized", []error{fieldsync.ErrUnauthorized}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != tc.code {
				t.Fatalf("error %#v, want an API error with code %q", err, tc.code)
			}
			for _, k := range tc.kinds {
				if !errors.Is(err, k) {
					t.Errorf("errors.Is(%v, %v) is false", err, k)
				}
			}
			if tc.code != "exists" && errors.Is(err, fieldsync.ErrExists) || tc.code != "invalid" && errors.Is(err, fieldsync.ErrInvalid) {
				t.Errorf("error %v is of a kind it is not", err)
			}
		})
	}
}

// TestRawRequests checks answers as curl sees them: the JSON of errors,
// the delete answer, null filters, node registration bodies.
func TestRawRequests(t *testing.T) { testutil.ForBackends(t, testRawRequests) }

func testRawRequests(t *testing.T, b testutil.Backend) {
	c, _ := start(t, b, 2048, server.API)
	seed(t, c)
	ctx := context.Background()
	bearer := "Bearer " + c.Token
	for _, vals := range []map[string]any{
		{"id": "o1", "name": "one", "account_id": "acme"},
		{"id": "o2", "name": "two", "account_id": "acme", "stage": "won"},
		{"id": "o3", "name": "three", "stage": "won"},
	} {
		if _, err := c.Create(ctx, "opportunity", vals); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Create(ctx, "activity", map[string]any{"id": "a1", "opportunity_id": "o1", "type": "call"}); err != nil {
		t.Fatal(err)
	}
	rec := c.BaseURL + "/api/v1/records/"
	cases := []struct {
		name, method, url, auth, body string
		status                        int
		want                          []string
	}{
		{"create answers 201 with the row", "POST", rec + "opportunity", bearer, `{"id":"o4","name":"four","revenue":12.5,"close_date":"2026-12-01"}`,
			201, []string{`"id": "o4"`, `"revenue": 12.5`, `"close_date": "2026-12-01T00:00:00Z"`, `"stage": null`}},
		{"null filter", "GET", rec + "opportunity?_null=account_id,stage", bearer, "",
			200, []string{`"id": "o4"`, `"rows": [`}},
		{"equality and null filter", "GET", rec + "opportunity?stage=won&_null=account_id", bearer, "",
			200, []string{`"id": "o3"`}},
		{"filter value parsed by type", "GET", rec + "opportunity?revenue=12.50", bearer, "",
			200, []string{`"id": "o4"`}},
		{"bad filter value", "GET", rec + "opportunity?revenue=lots", bearer, "",
			400, []string{`"code": "invalid"`, `revenue expects real`}},
		{"bad _limit", "GET", rec + "opportunity?_limit=zero", bearer, "",
			400, []string{`_limit \"zero\" is not a positive number`}},
		{"patch answers the whole row", "PATCH", rec + "opportunity/o1", bearer, `{"stage":"lost","revenue":"7"}`,
			200, []string{`"stage": "lost"`, `"revenue": 7`, `"name": "one"`}},
		{"patch with malformed JSON", "PATCH", rec + "opportunity/o1", bearer, `{"stage":`,
			400, []string{`"code": "invalid"`, `not a valid JSON object`}},
		{"two JSON values", "POST", rec + "account", bearer, `{"name":"a"}{"name":"b"}`,
			400, []string{`more than one JSON value`}},
		{"delete counts cascaded rows", "DELETE", rec + "opportunity/o1", bearer, "",
			200, []string{`"deleted": "o1"`, `"rows": 2`}},
		{"error JSON carries a code", "GET", rec + "opportunity/o1", bearer, "",
			404, []string{`"error": "opportunity: no row with id \"o1\""`, `"code": "not_found"`}},
		{"empty bearer token", "GET", rec + "account", "Bearer ", "",
			401, []string{`"code": "unauthorized"`, "malformed Authorization header"}},
		{"admin endpoint needs a token", "GET", c.BaseURL + "/api/v1/admin/nodes", "", "",
			401, []string{"missing bearer token"}},
		{"node body with an unknown field", "POST", c.BaseURL + "/api/v1/admin/nodes", bearer, `{"name":"n1","employee":"ann"}`,
			400, []string{`unknown field \"employee\"`}},
		{"node body of the wrong type", "POST", c.BaseURL + "/api/v1/admin/nodes", bearer, `{"name":5,"employee_id":"ann"}`,
			400, []string{`not a valid JSON object`}},
		{"oversized node body", "POST", c.BaseURL + "/api/v1/admin/nodes", bearer, `{"name":"` + strings.Repeat("n", 3000) + `"}`,
			413, []string{`"code": "too_large"`, "request body larger than 2048 bytes"}},
		{"node registration", "POST", c.BaseURL + "/api/v1/admin/nodes", bearer, `{"name":"ann-laptop","employee_id":"ann"}`,
			201, []string{`"node": {`, `"name": "ann-laptop"`, `"active": true`, `"secret": "`}},
		{"one node", "GET", c.BaseURL + "/api/v1/admin/nodes/ann-laptop", bearer, "",
			200, []string{`"name": "ann-laptop"`, `"employee_id": "ann"`}},
		{"deactivate", "POST", c.BaseURL + "/api/v1/admin/nodes/ann-laptop/deactivate", bearer, "",
			200, []string{`"active": false`, `"deactivated": "`}},
		{"deactivate again changes nothing", "POST", c.BaseURL + "/api/v1/admin/nodes/ann-laptop/deactivate", bearer, "",
			200, []string{`"active": false`}},
		{"wrong method", "PUT", rec + "account/acme", bearer, `{}`,
			404, []string{"no endpoint PUT /api/v1/records/account/acme"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := raw(t, tc.method, tc.url, tc.auth, tc.body)
			if code != tc.status {
				t.Fatalf("got %d %s, want %d", code, body, tc.status)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Fatalf("answer %s lacks %s", body, w)
				}
			}
		})
	}
	// The activity went with its opportunity (on_delete: cascade).
	if _, err := c.Get(ctx, "activity", "a1"); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("cascaded activity: %v", err)
	}
}

// TestNodeLifecycle walks a node through the client: register, read,
// list, deactivate.
func TestNodeLifecycle(t *testing.T) { testutil.ForBackends(t, testNodeLifecycle) }

func testNodeLifecycle(t *testing.T, b testutil.Backend) {
	c, _ := start(t, b, 0, server.API)
	seed(t, c)
	ctx := context.Background()
	added, err := c.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.Node(ctx, "ann-laptop")
	if err != nil || n.Name != "ann-laptop" || n.EmployeeID != "ann" || !n.Active || !n.Created.Equal(added.Node.Created) {
		t.Fatalf("node: %+v, %v", n, err)
	}
	if _, err := c.AddNode(ctx, "bob-laptop", "ann"); err != nil {
		t.Fatal(err)
	}
	nodes, err := c.ListNodes(ctx)
	if err != nil || len(nodes) != 2 || nodes[0].Name != "ann-laptop" || nodes[1].Name != "bob-laptop" {
		t.Fatalf("nodes: %+v, %v", nodes, err)
	}
	d, err := c.DeactivateNode(ctx, "bob-laptop")
	if err != nil || d.Active || d.Deactivated.IsZero() {
		t.Fatalf("deactivate: %+v, %v", d, err)
	}
	if n, err := c.Node(ctx, "bob-laptop"); err != nil || n.Active {
		t.Fatalf("node after deactivate: %+v, %v", n, err)
	}
	if n, err := c.Node(ctx, "ann-laptop"); err != nil || !n.Active {
		t.Fatalf("other node after deactivate: %+v, %v", n, err)
	}
}

// TestConcurrentWriters: many connected users writing at once through the
// API keep the Transaction Log complete, gap-free and in order.
func TestConcurrentWriters(t *testing.T) { testutil.ForBackends(t, testConcurrentWriters) }

func testConcurrentWriters(t *testing.T, b testutil.Backend) {
	c, srv := start(t, b, 0, server.API) // no processor: the log keeps every entry
	ctx := context.Background()
	const users, each = 16, 10
	var wg sync.WaitGroup
	errs := make(chan error, users)
	for u := 0; u < users; u++ {
		wg.Add(1)
		go func(u int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := c.Create(ctx, "account", map[string]any{"name": fmt.Sprintf("u%d-%d", u, i)}); err != nil {
					errs <- err
					return
				}
			}
		}(u)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	log, err := srv.Store().ReadLog(ctx, 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != users*each {
		t.Fatalf("log holds %d entries, want %d", len(log), users*each)
	}
	seen := map[string]bool{}
	for i, tx := range log {
		if tx.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d: the log has a gap", i, tx.Seq)
		}
		seen[tx.RowID] = true
	}
	p, _ := c.List(ctx, "account", nil, "", 1000)
	if len(p.Rows) != users*each || len(seen) != users*each {
		t.Fatalf("%d rows, %d logged rows, want %d", len(p.Rows), len(seen), users*each)
	}
}

// TestAttachments: a file attached to a row is stored content-addressed,
// once for identical content, fetched whole or from an offset, and refused
// past the size limit.
func TestAttachments(t *testing.T) { testutil.ForBackends(t, testAttachments) }

func testAttachments(t *testing.T, b testutil.Backend) {
	dir := t.TempDir()
	srv, url := testutil.StartServer(t, server.Config{DataDir: dir, DB: b.DB(t), MaxFileBytes: 1 << 20})
	c := &api.Client{BaseURL: url, Token: srv.Token()}
	ctx := context.Background()
	if _, err := c.Create(ctx, "account", map[string]any{"id": "acme", "name": "Acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "opportunity", map[string]any{"id": "deal", "name": "Deal", "account_id": "acme"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a1", "a2"} {
		if _, err := c.Create(ctx, "attachment", map[string]any{"id": id, "opportunity_id": "deal"}); err != nil {
			t.Fatal(err)
		}
	}
	content := bytes.Repeat([]byte("proposal "), 10_000)
	row, err := c.Attach(ctx, "attachment", "a1", bytes.NewReader(content), "proposal.pdf", "published")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	want := fmt.Sprintf("sha256:%x:%d", sum, len(content))
	if row["file"] != want || row["file_name"] != "proposal.pdf" || row["mode"] != "published" {
		t.Fatalf("row after attach: %v", row)
	}
	if _, err := c.Attach(ctx, "attachment", "a2", bytes.NewReader(content), "copy.pdf", ""); err != nil {
		t.Fatal(err)
	}
	stored, _ := filepath.Glob(filepath.Join(dir, "files", "??", "*"))
	if len(stored) != 1 {
		t.Fatalf("identical content stored %d times", len(stored))
	}
	var got bytes.Buffer
	ref, err := c.Fetch(ctx, "attachment", "a2", &got, 0)
	if err != nil || !bytes.Equal(got.Bytes(), content) || ref.String() != want {
		t.Fatalf("fetch: %v, %d bytes", err, got.Len())
	}
	got.Reset()
	if _, err := c.Fetch(ctx, "attachment", "a1", &got, 1000); err != nil || !bytes.Equal(got.Bytes(), content[1000:]) {
		t.Fatalf("fetch from an offset: %v, %d bytes", err, got.Len())
	}
	if _, err := c.Attach(ctx, "attachment", "a1", bytes.NewReader(make([]byte, 2<<20)), "big.bin", ""); !errors.Is(err, fieldsync.ErrTooLarge) {
		t.Fatalf("oversized file: %v", err)
	}
	if _, err := c.Attach(ctx, "attachment", "a1", bytes.NewReader(content), "x", "sometimes"); !errors.Is(err, fieldsync.ErrInvalid) {
		t.Fatalf("bad mode: %v", err)
	}
	if _, err := c.Attach(ctx, "account", "acme", bytes.NewReader(content), "x", ""); err == nil || !strings.Contains(err.Error(), "carries no files") {
		t.Fatalf("attach to a table without files: %v", err)
	}
	if _, err := c.Fetch(ctx, "attachment", "nope", io.Discard, 0); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("fetch of an unknown row: %v", err)
	}
}

// TestReextractAll: every active node gets a new extract, taken in the
// background; a deactivated one does not.
func TestReextractAll(t *testing.T) { testutil.ForBackends(t, testReextractAll) }

func testReextractAll(t *testing.T, b testutil.Backend) {
	c, srv := start(t, b, 0)
	ctx := context.Background()
	before := map[string]int64{}
	for _, e := range []string{"ann", "bob", "cy"} {
		if _, err := c.Create(ctx, "employee", map[string]any{"id": e, "name": e, "login": e}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.AddNode(ctx, e+"-laptop", e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeactivateNode(ctx, "cy-laptop"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "account", map[string]any{"id": "acme", "name": "Acme"}); err != nil {
		t.Fatal(err) // the log moves on: new extracts are taken at a later sequence number
	}
	for _, n := range []string{"ann-laptop", "bob-laptop", "cy-laptop"} {
		nr, err := srv.Store().NodeRouting(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		before[n] = nr.ExtractSeq
	}
	names, err := c.ReextractAll(ctx)
	if err != nil || fmt.Sprint(names) != "[ann-laptop bob-laptop]" {
		t.Fatalf("reextract all: %v %v", names, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range []string{"ann-laptop", "bob-laptop"} {
		for {
			nr, err := srv.Store().NodeRouting(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			if nr.ExtractSeq > before[n] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not re-extracted: extract at %d", n, nr.ExtractSeq)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if nr, _ := srv.Store().NodeRouting(ctx, "cy-laptop"); nr.ExtractSeq != before["cy-laptop"] {
		t.Fatal("a deactivated node was re-extracted")
	}
}

// TestHealthVersion: GET /health says the server's version.
func TestHealthVersion(t *testing.T) {
	_, url := testutil.StartServer(t, server.Config{Version: "v1.2.3-test"})
	resp, err := http.Get(url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"status": "ok"`)) || !bytes.Contains(body, []byte(`"version": "v1.2.3-test"`)) {
		t.Fatalf("GET /health: %d %s", resp.StatusCode, body)
	}
}
