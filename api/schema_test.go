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
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/server"
)

// TestSchemaEndpoints: the schema in force and its versions; a plan that
// changes nothing; an apply that makes a new version; a refused change
// (every reason, one a line, nothing changed) and a schema file that does
// not read; only the administrator may use them.
func TestSchemaEndpoints(t *testing.T) { testutil.ForBackends(t, testSchemaEndpoints) }

func testSchemaEndpoints(t *testing.T, b testutil.Backend) {
	c, _ := start(t, b, 0, server.API)
	seed(t, c)
	ctx := context.Background()
	crm := string(schema.DefaultYAML())
	grown := strings.Replace(crm, "      industry: text\n", "      industry: text\n      rating: {type: integer, default: 3}\n", 1)
	plan, err := c.PlanSchema(ctx, api.SchemaFile{Source: "crm2.yaml", YAML: grown})
	if err != nil || plan.Applied || plan.From != 1 || plan.To != 2 || len(plan.Refused) != 0 ||
		!strings.Contains(strings.Join(plan.Steps, "\n"), "add column account.rating") {
		t.Fatalf("plan: %+v, %v", plan, err)
	}
	if in, err := c.SchemaInForce(ctx); err != nil || in.Version != 1 {
		t.Fatalf("a plan changed the version in force: %+v, %v", in, err)
	}
	if p, err := c.ApplySchema(ctx, api.SchemaFile{Source: "crm2.yaml", YAML: grown}); err != nil || !p.Applied || p.To != 2 {
		t.Fatalf("apply: %+v, %v", p, err)
	}
	if acme, err := c.Get(ctx, "account", "acme"); err != nil || acme["rating"] != int64(3) {
		t.Fatalf("an existing row after a column with a default was added: %v %v", acme, err)
	}
	code, body := raw(t, "GET", c.BaseURL+"/api/v1/admin/schema", "Bearer "+c.Token, "")
	var shown struct {
		Version  int64            `json:"version"`
		Source   string           `json:"source"`
		YAML     string           `json:"yaml"`
		Versions []map[string]any `json:"versions"`
	}
	if err := json.Unmarshal([]byte(body), &shown); code != 200 || err != nil || shown.Version != 2 || shown.YAML != grown || len(shown.Versions) != 2 ||
		shown.Versions[1]["version"] != 2.0 || shown.Versions[1]["source"] != "crm2.yaml" || shown.Versions[1]["by"] == nil || shown.Versions[1]["yaml"] != nil {
		t.Fatalf("the schema in force: %d %s", code, body)
	}

	// Refused whole: a type change and a unique key existing rows break.
	bad := strings.Replace(grown, "      rating: {type: integer, default: 3}\n", "      rating: text\n", 1)
	bad = strings.Replace(bad, "      name: {type: text, required: true}\n      industry: text\n", "      name: {type: text, required: true}\n      industry: text\n", 1)
	if _, err := c.Create(ctx, "account", map[string]any{"id": "acme2", "name": "Acme"}); err != nil {
		t.Fatal(err)
	}
	bad = strings.Replace(bad, "    remote_delete: false   # deleting an account", "    unique: [[name]]\n    remote_delete: false   # deleting an account", 1)
	_, err = c.ApplySchema(ctx, api.SchemaFile{Source: "bad.yaml", YAML: bad})
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.Code != "schema_refused" || !errors.Is(err, fieldsync.ErrSchemaMismatch) ||
		!strings.Contains(err.Error(), "bad.yaml:") || !strings.Contains(err.Error(), "rating") || !strings.Contains(err.Error(), "name = Acme") {
		t.Fatalf("a refused change: %v", err)
	}
	if in, err := c.SchemaInForce(ctx); err != nil || in.Version != 2 {
		t.Fatalf("a refused change changed the version in force: %+v, %v", in, err)
	}
	for _, f := range []struct {
		file api.SchemaFile
		msg  string
	}{
		{api.SchemaFile{Source: "broken.yaml", YAML: "fieldsync_schema: 1\ntables: [\n"}, "broken.yaml"},
		{api.SchemaFile{Source: "empty.yaml"}, "the request holds no schema"},
	} {
		if _, err := c.PlanSchema(ctx, f.file); !errors.Is(err, fieldsync.ErrInvalid) || !strings.Contains(err.Error(), f.msg) {
			t.Errorf("plan of %s: %v, want %q", f.file.Source, err, f.msg)
		}
	}
	if code, body := raw(t, "POST", c.BaseURL+"/api/v1/admin/schema/plan", "Bearer "+c.Token, `{"source": "x.yaml", "yaml": 5}`); code != 400 {
		t.Errorf("a yaml that is not text: %d %s", code, body)
	}
	if code, body := raw(t, "POST", c.BaseURL+"/api/v1/admin/schema?dry=1", "Bearer "+c.Token, `{}`); code != 400 {
		t.Errorf("a query parameter: %d %s", code, body)
	}

	// Only the administrator.
	if _, err := c.AddUser(ctx, api.NewUser{Login: "tess", EmployeeID: "ann", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	tess := &api.Client{BaseURL: c.BaseURL, User: "tess", Password: "correct horse battery"}
	if _, err := tess.ApplySchema(ctx, api.SchemaFile{Source: "crm.yaml", YAML: crm}); !errors.Is(err, fieldsync.ErrForbidden) {
		t.Errorf("apply as a connected user: %v", err)
	}
	for _, m := range []struct{ method, path string }{{"GET", "/api/v1/admin/schema"}, {"POST", "/api/v1/admin/schema"}, {"POST", "/api/v1/admin/schema/plan"}} {
		if code, _ := raw(t, m.method, c.BaseURL+m.path, "", `{}`); code != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d", m.method, m.path, code)
		}
	}
	if in, err := c.SchemaInForce(ctx); err != nil || in.Version != 2 {
		t.Fatalf("the version in force after the refused requests: %+v, %v", in, err)
	}
}
