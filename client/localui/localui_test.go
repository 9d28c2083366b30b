package localui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/client/localui"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// field is a real server with ann's node folder served by the view on loopback.
type field struct {
	t   *testing.T
	srv *server.Server
	api *api.Client
	ui  *localui.Server
	c   *client.Client
	url string
	opp string
}

func newField(t *testing.T, b testutil.Backend) *field {
	t.Helper()
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t)})
	f := &field{t: t, srv: srv, api: &api.Client{BaseURL: url, Token: srv.Token()}}
	f.create("employee", map[string]any{"id": "ann", "name": "Ann Field", "login": "ann"})
	f.create("position", map[string]any{"id": "p-ann", "name": "Sales East", "employee_id": "ann"})
	f.create("account", map[string]any{"id": "acme", "name": "Acme"})
	added, err := f.api.AddNode(context.Background(), "ann-laptop", "ann")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Init(context.Background(), client.Config{Dir: filepath.Join(t.TempDir(), "ann"), Server: url, Node: "ann-laptop", Secret: added.Secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f.c = c
	// After the extract: an opportunity the server routes to ann's node.
	f.opp = f.create("opportunity", map[string]any{"name": "Acme renewal", "account_id": "acme", "stage": "prospect", "revenue": 50000})
	f.create("opportunity_team", map[string]any{"opportunity_id": f.opp, "position_id": "p-ann"})
	f.settle()
	f.ui, err = localui.New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(f.ui.Handler())
	t.Cleanup(func() { f.ui.Close(); hs.Close() })
	f.url = hs.URL
	return f
}

func (f *field) create(table string, vals map[string]any) string {
	f.t.Helper()
	row, err := f.api.Create(context.Background(), table, vals)
	if err != nil {
		f.t.Fatalf("create %s: %v", table, err)
	}
	return row["id"].(string)
}

func (f *field) settle() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := f.srv.WaitIdle(ctx); err != nil {
		f.t.Fatal(err)
	}
}

// call sends one request with the bearer token and decodes the JSON answer
// into out (when not nil); it returns the status.
func (f *field) call(method, path string, body any, out any) int {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+f.ui.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			f.t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// syncNow starts a sync through the API and watches it to its end,
// checking that progress was reported on the way.
func (f *field) syncNow() localui.SyncState {
	f.t.Helper()
	var st localui.SyncState
	if code := f.call("POST", "/api/v1/sync", nil, &st); code != http.StatusAccepted {
		f.t.Fatalf("start sync: %d", code)
	}
	for st.Running {
		f.call("GET", fmt.Sprintf("/api/v1/sync?after=%d", st.Version), nil, &st)
	}
	if st.Error != "" || st.Last == nil {
		f.t.Fatalf("sync through the view: %+v", st)
	}
	return st
}

func TestLocalAPIRecordsAndSync(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) { localAPIRecordsAndSync(t, newField(t, b)) })
}

func localAPIRecordsAndSync(t *testing.T, f *field) {
	var row map[string]any
	if code := f.call("GET", "/api/v1/records/opportunity/"+f.opp, nil, nil); code != http.StatusNotFound {
		t.Fatalf("opportunity before the sync: %d, want 404", code)
	}
	st := f.syncNow()
	if st.Last.DownFiles == 0 || st.Version < 3 {
		t.Fatalf("first sync downloaded nothing or reported no progress: %+v", st)
	}
	if code := f.call("GET", "/api/v1/records/opportunity/"+f.opp, nil, &row); code != 200 || row["stage"] != "prospect" {
		t.Fatalf("opportunity after the sync: %d %v", code, row)
	}
	if code := f.call("PATCH", "/api/v1/records/opportunity/"+f.opp, map[string]any{"stage": "negotiation"}, &row); code != 200 || row["stage"] != "negotiation" {
		t.Fatalf("update: %d %v", code, row)
	}
	var page struct{ Rows []map[string]any }
	if f.call("GET", "/api/v1/records/opportunity?stage=negotiation", nil, &page); len(page.Rows) != 1 || page.Rows[0]["id"] != f.opp {
		t.Fatalf("filtered list: %v", page.Rows)
	}
	var status client.Status
	if f.call("GET", "/api/v1/status", nil, &status); status.PendingChanges != 1 || status.Node != "ann-laptop" {
		t.Fatalf("status before the upload: %+v", status)
	}
	if st = f.syncNow(); st.Last.Uploaded != 1 {
		t.Fatalf("second sync uploaded %d, want 1", st.Last.Uploaded)
	}
	f.settle()
	server, err := f.api.Get(context.Background(), "opportunity", f.opp)
	if err != nil || server["stage"] != "negotiation" {
		t.Fatalf("server's opportunity after the upload: %v %v", server, err)
	}
	if f.call("GET", "/api/v1/status", nil, &status); status.PendingChanges != 0 || status.LastSync == "" {
		t.Fatalf("status after the upload: %+v", status)
	}
	var cf struct{ Conflicts, Refusals []any }
	if code := f.call("GET", "/api/v1/conflicts", nil, &cf); code != 200 || cf.Conflicts == nil || cf.Refusals == nil {
		t.Fatalf("conflicts: %d %+v", code, cf)
	}
}

func TestLocalAPIWrites(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		f := newField(t, b)
		f.syncNow()
		var row map[string]any
		if code := f.call("POST", "/api/v1/records/activity", map[string]any{"opportunity_id": f.opp, "owner_id": "ann", "type": "call", "description": "Call Acme"}, &row); code != http.StatusCreated || row["description"] != "Call Acme" {
			t.Fatalf("create: %d %v", code, row)
		}
		id := row["id"].(string)
		var errBody struct{ Error, Code string }
		if code := f.call("POST", "/api/v1/records/nosuch", map[string]any{"name": "x"}, &errBody); code != http.StatusNotFound || errBody.Error == "" {
			t.Fatalf("create in an unknown table: %d %+v", code, errBody)
		}
		if code := f.call("PATCH", "/api/v1/records/activity/"+id, map[string]any{"nosuch": 1}, &errBody); code != http.StatusBadRequest || errBody.Code != "invalid" {
			t.Fatalf("update of an unknown column: %d %+v", code, errBody)
		}
		if code := f.call("DELETE", "/api/v1/records/activity/"+id, nil, nil); code != 200 {
			t.Fatalf("delete: %d", code)
		}
		if code := f.call("GET", "/api/v1/records/activity/"+id, nil, nil); code != http.StatusNotFound {
			t.Fatalf("deleted row still there: %d", code)
		}
	})
}

func TestLocalAPISecurity(t *testing.T) {
	f := newField(t, testutil.Backends[0])
	big := `{"name":"` + strings.Repeat("x", localui.MaxBody) + `"}`
	cookie := "fieldsync_ui=" + f.ui.Token()
	cases := []struct {
		name, method, path, body string
		header                   map[string]string
		want                     int
	}{
		{"no token", "GET", "/api/v1/status", "", nil, 401},
		{"no token on a page", "GET", "/", "", nil, 401},
		{"wrong token", "GET", "/api/v1/status", "", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"wrong cookie", "GET", "/api/v1/status", "", map[string]string{"Cookie": "fieldsync_ui=nope"}, 401},
		{"wrong token in the URL", "GET", "/?token=nope", "", nil, 401},
		{"wrong host", "GET", "/api/v1/status", "", map[string]string{"Authorization": "Bearer " + f.ui.Token(), "Host": "evil.example:7171"}, 403},
		{"oversized body", "POST", "/api/v1/records/account", big, map[string]string{"Authorization": "Bearer " + f.ui.Token()}, 413},
		{"cookie write without CSRF", "POST", "/api/v1/sync", "", map[string]string{"Cookie": cookie}, 403},
		{"cookie write with a wrong CSRF", "POST", "/api/v1/sync", "", map[string]string{"Cookie": cookie, localui.CSRFHeader: "nope"}, 403},
		{"cookie read", "GET", "/api/v1/status", "", map[string]string{"Cookie": cookie}, 200},
		{"cookie write with CSRF", "POST", "/api/v1/sync", "", map[string]string{"Cookie": cookie, localui.CSRFHeader: f.ui.CSRF()}, 202},
		{"first visit sets the cookie", "GET", "/?token=" + f.ui.Token(), "", nil, 303},
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, f.url+c.path, strings.NewReader(c.body))
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			if h := c.header["Host"]; h != "" {
				req.Host = h
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != c.want {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.want, b)
			}
			if c.want == 303 && !strings.Contains(resp.Header.Get("Set-Cookie"), "fieldsync_ui="+f.ui.Token()) {
				t.Fatalf("first visit set no cookie: %q", resp.Header.Get("Set-Cookie"))
			}
		})
	}
	f.ui.Close() // the sync the cookie write started ends here
}

func TestCheckListen(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:7171": true, "localhost:0": true, "[::1]:7171": true,
		"0.0.0.0:7171": false, "192.168.1.5:7171": false, ":7171": false, "example.com:80": false, "7171": false,
	} {
		if err := localui.CheckListen(addr); (err == nil) != ok {
			t.Errorf("CheckListen(%q) = %v, want ok %v", addr, err, ok)
		} else if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("CheckListen(%q): error of more than one line", addr)
		}
	}
}
