package api_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncproto"
)

// login starts a sync session as a node's client does and returns the
// answer's status and body.
func login(t *testing.T, base, node, secret string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+syncproto.Prefix+"/sessions", nil)
	req.SetBasicAuth(node, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// saveSessions records ended sessions of a node, a second apart from
// start, with the given results.
func saveSessions(t *testing.T, srv *server.Server, node string, start time.Time, results ...string) {
	t.Helper()
	for i, res := range results {
		at := start.Add(time.Duration(i) * time.Second)
		s := fieldsync.Session{ID: node + "-" + string(rune('a'+i)), Node: node, Started: at, Ended: at.Add(time.Millisecond),
			UpFiles: int64(i), UpBytes: int64(100 * i), DownFiles: 1, DownBytes: 10, Result: res}
		if err := srv.Store().SaveSession(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSessionsAndNodeErrors(t *testing.T) { testutil.ForBackends(t, testSessionsAndNodeErrors) }

func testSessionsAndNodeErrors(t *testing.T, b testutil.Backend) {
	c, srv := start(t, b, 0, server.API)
	seed(t, c)
	ctx := context.Background()
	for _, n := range []string{"ann-laptop", "bob-laptop"} {
		if _, err := c.AddNode(ctx, n, "ann"); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	saveSessions(t, srv, "ann-laptop", t0, "extract", "upload refused: damaged file", "ok: nothing new", "abandoned", "ok")
	saveSessions(t, srv, "bob-laptop", t0.Add(time.Hour), "ok")
	ss, err := c.Sessions(ctx, "ann-laptop", 3)
	if err != nil || len(ss) != 3 || ss[0].Result != "ok" || ss[1].Result != "abandoned" || ss[0].Node != "ann-laptop" || ss[0].UpBytes != 400 {
		t.Fatalf("sessions of ann-laptop: %+v, %v", ss, err)
	}
	all, err := c.Sessions(ctx, "", 0)
	if err != nil || len(all) != 6 || all[0].Node != "bob-laptop" || !all[0].Started.After(all[1].Started) {
		t.Fatalf("sessions of every node: %+v, %v", all, err)
	}
	if _, err := c.Sessions(ctx, "ghost", 0); !errors.Is(err, fieldsync.ErrNodeUnknown) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("sessions of an unknown node: %v", err)
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?sort=started"} {
		if code, body := raw(t, "GET", c.BaseURL+"/api/v1/admin/sessions"+q, "Bearer "+c.Token, ""); code != 400 {
			t.Errorf("sessions%s: %d %s", q, code, body)
		}
	}
	// A node's view carries its latest failed sessions, newest first.
	n, err := c.Node(ctx, "ann-laptop")
	if err != nil || len(n.Errors) != 2 || n.Errors[0].Result != "abandoned" || n.Errors[1].Result != "upload refused: damaged file" {
		t.Fatalf("node errors: %+v, %v", n.Errors, err)
	}
	if n, err := c.Node(ctx, "bob-laptop"); err != nil || n.Errors != nil {
		t.Fatalf("node errors of a node whose sessions went well: %+v, %v", n.Errors, err)
	}
}

func TestRefusals(t *testing.T) { testutil.ForBackends(t, testRefusals) }

func testRefusals(t *testing.T, b testutil.Backend) {
	c, srv := start(t, b, 0, server.API)
	seed(t, c)
	ctx := context.Background()
	for _, n := range []string{"ann-laptop", "bob-laptop"} {
		if _, err := c.AddNode(ctx, n, "ann"); err != nil {
			t.Fatal(err)
		}
	}
	st := srv.Store()
	if err := st.RecordRefused(ctx, "ann-laptop", 1, "damaged file: bad checksum"); err != nil {
		t.Fatal(err)
	}
	for i, cf := range []fieldsync.Conflict{
		{Node: "ann-laptop", Upload: 2, Kind: fieldsync.ConflictRefused, Table: "account", RowID: "acme", Change: 1, Reason: "no such row"},
		{Node: "ann-laptop", Upload: 2, Kind: fieldsync.ConflictUpdate, Table: "account", RowID: "acme", Field: "name", Winner: `"A"`, Loser: `"B"`},
		{Node: "bob-laptop", Upload: 1, Kind: fieldsync.ConflictRefusedRest, Table: "account", RowID: "x", Change: 4, Reason: "cap"},
	} {
		err := st.MergeUpload(ctx, cf.Node, cf.Upload+int64(i)*10, func(tx fieldsync.MergeTx) error { return tx.RecordConflict(ctx, cf) })
		if err != nil {
			t.Fatal(err)
		}
	}
	r, err := c.Refusals(ctx, fieldsync.ConflictQuery{})
	if err != nil || len(r.Uploads) != 1 || r.Uploads[0].Node != "ann-laptop" || r.Uploads[0].Number != 1 || len(r.Changes) != 2 || r.Next != 0 {
		t.Fatalf("refusals: %+v, %v", r, err)
	}
	for _, x := range r.Changes {
		if !x.Kind.Refusal() {
			t.Fatalf("refusals list a conflict of kind %s", x.Kind)
		}
	}
	r, err = c.Refusals(ctx, fieldsync.ConflictQuery{Node: "bob-laptop"})
	if err != nil || len(r.Uploads) != 0 || len(r.Changes) != 1 || r.Changes[0].Kind != fieldsync.ConflictRefusedRest {
		t.Fatalf("refusals of bob-laptop: %+v, %v", r, err)
	}
	page, err := c.Refusals(ctx, fieldsync.ConflictQuery{Limit: 1})
	if err != nil || len(page.Changes) != 1 || page.Next != page.Changes[0].ID {
		t.Fatalf("first page: %+v, %v", page, err)
	}
	if page, err = c.Refusals(ctx, fieldsync.ConflictQuery{Limit: 1, After: page.Next}); err != nil || len(page.Changes) != 1 || page.Changes[0].Node != "bob-laptop" || page.Next != 0 {
		t.Fatalf("second page: %+v, %v", page, err)
	}
	if _, err := c.Refusals(ctx, fieldsync.ConflictQuery{Node: "ghost"}); !errors.Is(err, fieldsync.ErrNodeUnknown) {
		t.Fatalf("refusals of an unknown node: %v", err)
	}
}

func TestReactivateAndDelete(t *testing.T) { testutil.ForBackends(t, testReactivateAndDelete) }

func testReactivateAndDelete(t *testing.T, b testutil.Backend) {
	c, srv := start(t, b, 0)
	seed(t, c)
	ctx := context.Background()
	added, err := c.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeactivateNode(ctx, "ann-laptop"); err != nil {
		t.Fatal(err)
	}
	if code, body := login(t, c.BaseURL, "ann-laptop", added.Secret); code != http.StatusForbidden {
		t.Fatalf("login of a deactivated node: %d %s", code, body)
	}
	before, err := c.Node(ctx, "ann-laptop")
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.ReactivateNode(ctx, "ann-laptop")
	if err != nil || !n.Active || !n.Deactivated.IsZero() {
		t.Fatalf("reactivate: %+v, %v", n, err)
	}
	// The node missed what was routed while it was inactive: it gets a new
	// extract.
	for deadline := time.Now().Add(20 * time.Second); !n.Extracted.After(before.Extracted); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no new extract after the reactivation: %+v", n)
		}
		if n, err = c.Node(ctx, "ann-laptop"); err != nil {
			t.Fatal(err)
		}
	}
	if code, body := login(t, c.BaseURL, "ann-laptop", added.Secret); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("login of a reactivated node: %d %s", code, body)
	}
	if n, err := c.ReactivateNode(ctx, "ann-laptop"); err != nil || !n.Active {
		t.Fatalf("reactivating an active node: %+v, %v", n, err)
	}
	if _, err := c.ReactivateNode(ctx, "ghost"); !errors.Is(err, fieldsync.ErrNodeUnknown) {
		t.Fatalf("reactivate an unknown node: %v", err)
	}
	// An active node is deleted only by force.
	dir := srv.Docking().Node("ann-laptop")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("no docking folder before the delete: %v", err)
	}
	var ae *api.Error
	if _, err := c.DeleteNode(ctx, "ann-laptop", false); !errors.As(err, &ae) || ae.Status != http.StatusConflict || !strings.Contains(ae.Msg, "is active") {
		t.Fatalf("delete of an active node: %v", err)
	}
	del, err := c.DeleteNode(ctx, "ann-laptop", true)
	if err != nil || del.Node.Name != "ann-laptop" || !del.FolderRemoved {
		t.Fatalf("forced delete: %+v, %v", del, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("docking folder after the delete: %v", err)
	}
	if _, err := c.Node(ctx, "ann-laptop"); !errors.Is(err, fieldsync.ErrNodeUnknown) {
		t.Fatalf("node after the delete: %v", err)
	}
	// The deleted node's login fails as an unknown node's does.
	code, body := login(t, c.BaseURL, "ann-laptop", added.Secret)
	ghostCode, ghostBody := login(t, c.BaseURL, "never-there", added.Secret)
	if code != http.StatusUnauthorized || code != ghostCode || body != ghostBody {
		t.Fatalf("login of a deleted node: %d %s; of an unknown one: %d %s", code, body, ghostCode, ghostBody)
	}
	if _, err := c.DeleteNode(ctx, "ann-laptop", true); !errors.Is(err, fieldsync.ErrNodeUnknown) {
		t.Fatalf("second delete: %v", err)
	}
	// A name that climbs out of the docking folder is no node's.
	for _, name := range []string{"..", "%2E%2E", "..%2F..%2Fdocking", "x%00"} {
		if code, body := raw(t, "DELETE", c.BaseURL+"/api/v1/admin/nodes/"+name+"?force=true", "Bearer "+c.Token, ""); code != http.StatusNotFound {
			t.Errorf("delete of node %q: %d %s", name, code, body)
		}
	}
	if _, err := os.Stat(string(srv.Docking())); err != nil {
		t.Fatalf("the docking folder after hostile deletes: %v", err)
	}
	// The name may be registered again, from a clean start.
	if _, err := c.AddNode(ctx, "ann-laptop", "ann"); err != nil {
		t.Fatalf("register a deleted node's name again: %v", err)
	}
	if ss, err := c.Sessions(ctx, "ann-laptop", 0); err != nil || len(ss) != 0 {
		t.Fatalf("sessions of the new node: %+v, %v", ss, err)
	}
}

// TestOperatorEndpointsNeedAdmin: the operator's endpoints refuse a
// request without a token, with a node's credentials, or with a node's
// secret as the token, and change nothing.
func TestOperatorEndpointsNeedAdmin(t *testing.T) {
	testutil.ForBackends(t, testOperatorEndpointsNeedAdmin)
}

func testOperatorEndpointsNeedAdmin(t *testing.T, b testutil.Backend) {
	c, _ := start(t, b, 0, server.API)
	seed(t, c)
	ctx := context.Background()
	added, err := c.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeactivateNode(ctx, "ann-laptop"); err != nil {
		t.Fatal(err)
	}
	for _, ep := range []struct{ method, path string }{
		{"GET", "/api/v1/admin/sessions"},
		{"GET", "/api/v1/admin/sessions?node=ann-laptop"},
		{"GET", "/api/v1/admin/refusals"},
		{"POST", "/api/v1/admin/nodes/ann-laptop/reactivate"},
		{"DELETE", "/api/v1/admin/nodes/ann-laptop?force=true"},
	} {
		for _, auth := range []struct{ name, header string }{{"no token", ""}, {"a node's secret", "Bearer " + added.Secret}} {
			if code, body := raw(t, ep.method, c.BaseURL+ep.path, auth.header, ""); code != http.StatusUnauthorized {
				t.Errorf("%s %s with %s: %d %s", ep.method, ep.path, auth.name, code, body)
			}
		}
		req, _ := http.NewRequest(ep.method, c.BaseURL+ep.path, nil)
		req.SetBasicAuth("ann-laptop", added.Secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s with the node's credentials: %d", ep.method, ep.path, resp.StatusCode)
		}
	}
	if n, err := c.Node(ctx, "ann-laptop"); err != nil || n.Active {
		t.Fatalf("the refused requests changed the node: %+v, %v", n, err)
	}
}
