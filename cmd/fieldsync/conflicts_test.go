package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

func TestConflictPaging(t *testing.T) { testutil.ForBackends(t, testConflictPaging) }

// testConflictPaging: the administrator lists conflicts a page at a time
// (100 by default), over the API, in-process and with admin conflicts.
func testConflictPaging(t *testing.T, b testutil.Backend) {
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t)})
	ctx := context.Background()
	adm := srv.Admin()
	if _, err := adm.Create(ctx, "employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}); err != nil {
		t.Fatal(err)
	}
	for _, node := range []string{"ann-laptop", "ann-desktop"} {
		if _, err := adm.AddNode(ctx, node, "ann"); err != nil {
			t.Fatal(err)
		}
		err := srv.Store().MergeUpload(ctx, node, 1, func(tx fieldsync.MergeTx) error {
			for i := range 130 {
				c := fieldsync.Conflict{Node: node, Upload: 1, Kind: fieldsync.ConflictUpdate, Table: "account", RowID: "acme",
					Field: "name", Winner: `"Acme"`, Loser: fmt.Sprintf(`"Acme %d"`, i)}
				if err := tx.RecordConflict(ctx, c); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The API: a page of 100 with next, then the rest.
	resp, err := http.DefaultClient.Do(authed(t, url+"/api/v1/admin/conflicts", srv.Token()))
	if err != nil {
		t.Fatal(err)
	}
	var page fieldsync.ConflictPage
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if len(page.Conflicts) != 100 || page.Next != page.Conflicts[99].ID {
		t.Fatalf("GET conflicts: %d, next %d; want 100 and the last one's id", len(page.Conflicts), page.Next)
	}
	cl := &api.Client{BaseURL: url, Token: srv.Token()}
	rest, err := cl.ConflictPage(ctx, fieldsync.ConflictQuery{Node: "ann-desktop", After: 0, Limit: 1000})
	if err != nil || len(rest.Conflicts) != 130 || rest.Next != 0 {
		t.Fatalf("ann-desktop's, up to 1000: %d, next %d, %v; want 130 and no next", len(rest.Conflicts), rest.Next, err)
	}
	all, err := cl.Conflicts(ctx, "")
	if err != nil || len(all) != 260 {
		t.Fatalf("every conflict: %d, %v; want 260", len(all), err)
	}
	if p, err := adm.ConflictPage(ctx, fieldsync.ConflictQuery{After: all[249].ID}); err != nil || len(p.Conflicts) != 10 || p.Next != 0 {
		t.Fatalf("in-process, the last 10: %d, next %d, %v", len(p.Conflicts), p.Next, err)
	}
	if _, err := cl.ConflictPage(ctx, fieldsync.ConflictQuery{Limit: 5000}); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("a limit of 5000: %v, want refused", err)
	}
	// The CLI: a page, the hint of the next, and the next from there.
	code, out, errs := cli(t, url, srv.Token(), "admin", "conflicts", "--node", "ann-laptop", "--limit", "50")
	if code != 0 || strings.Count(out, "ann-laptop") != 50 || !strings.Contains(errs, fmt.Sprintf("--after %d", all[49].ID)) {
		t.Fatalf("admin conflicts --limit 50: exit %d, %d rows, stderr %q", code, strings.Count(out, "ann-laptop"), errs)
	}
	code, out, errs = cli(t, url, srv.Token(), "admin", "conflicts", "--node", "ann-laptop", "--after", fmt.Sprint(all[49].ID))
	if code != 0 || strings.Count(out, "ann-laptop") != 80 || errs != "" {
		t.Fatalf("admin conflicts --after: exit %d, %d rows, stderr %q", code, strings.Count(out, "ann-laptop"), errs)
	}
}

func authed(t *testing.T, url, token string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}
