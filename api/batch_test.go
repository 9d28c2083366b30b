package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

func TestBatch(t *testing.T) { testutil.ForBackends(t, testBatch) }

// testBatch: a batch is one transaction. Every change lands together, or
// a refused one (named by its place) leaves the database and the log as
// they were.
func testBatch(t *testing.T, b testutil.Backend) {
	c, srv := start(t, b, 1<<20, server.API)
	seed(t, c)
	ctx := context.Background()
	res, err := c.Batch(ctx,
		api.BatchChange{Op: fieldsync.OpInsert, Table: "opportunity", Values: map[string]any{"name": "minted", "account_id": "acme"}},
		api.BatchChange{Op: fieldsync.OpInsert, Table: "opportunity", ID: "o1", Values: map[string]any{"name": "one", "account_id": "acme"}},
		api.BatchChange{Op: fieldsync.OpInsert, Table: "activity", Values: map[string]any{"id": "a1", "opportunity_id": "o1", "type": "call"}},
		api.BatchChange{Op: fieldsync.OpUpdate, Table: "account", ID: "acme", Values: map[string]any{"industry": "tools"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	if res.Txns != 4 || len(res.Changes) != 4 || res.Changes[1].ID != "o1" || res.Changes[2].ID != "a1" || res.Changes[3].ID != "acme" {
		t.Fatalf("batch answer: %+v", res)
	}
	if minted, err := c.Get(ctx, "opportunity", res.Changes[0].ID); err != nil || minted["name"] != "minted" {
		t.Fatalf("the minted id %q names no row as written: %v %v", res.Changes[0].ID, minted, err)
	}
	if a, err := c.Get(ctx, "account", "acme"); err != nil || a["industry"] != "tools" {
		t.Fatalf("account after the batch: %v %v", a, err)
	}
	before, err := srv.Store().LogState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Batch(ctx,
		api.BatchChange{Op: fieldsync.OpUpdate, Table: "opportunity", ID: "o1", Values: map[string]any{"stage": "won"}},
		api.BatchChange{Op: fieldsync.OpDelete, Table: "activity", ID: "a1"},
		api.BatchChange{Op: fieldsync.OpInsert, Table: "opportunity", Values: map[string]any{"name": "x", "account_id": "nobody"}},
	)
	if !errors.Is(err, fieldsync.ErrInvalid) || !strings.Contains(err.Error(), "change 3 of 3") || !strings.Contains(err.Error(), `no account with id "nobody"`) {
		t.Fatalf("refused batch: %v", err)
	}
	after, err := srv.Store().LogState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.LastSeq != before.LastSeq {
		t.Fatalf("a refused batch logged transactions: %d before, %d after", before.LastSeq, after.LastSeq)
	}
	if o, err := c.Get(ctx, "opportunity", "o1"); err != nil || o["stage"] != nil {
		t.Fatalf("a refused batch changed o1: %v %v", o, err)
	}
	if _, err := c.Get(ctx, "activity", "a1"); err != nil {
		t.Fatalf("a refused batch deleted a1: %v", err)
	}
}

func TestBatchBadInput(t *testing.T) { testutil.ForBackends(t, testBatchBadInput) }

// testBatchBadInput: a malformed or oversized batch is refused in one line
// naming what was wrong and where, and nothing is written.
func testBatchBadInput(t *testing.T, b testutil.Backend) {
	c, srv := start(t, b, 1<<20, server.API)
	seed(t, c)
	ctx := context.Background()
	many := make([]string, api.MaxBatchChanges+1)
	for i := range many {
		many[i] = fmt.Sprintf(`{"op":"insert","table":"account","values":{"name":"a%d"}}`, i)
	}
	cases := []struct {
		name, body string
		status     int
		want       string
	}{
		{"empty", `{"changes":[]}`, 400, "the batch has no changes"},
		{"unknown op", `{"changes":[{"op":"upsert","table":"account","id":"acme"}]}`, 400, `change 1 of 1: unknown op \"upsert\"`},
		{"update without id", `{"changes":[{"op":"insert","table":"account","values":{"name":"b"}},{"op":"update","table":"account","values":{"name":"c"}}]}`,
			400, "change 2 of 2: an update needs the row's id"},
		{"no table", `{"changes":[{"op":"delete","id":"acme"}]}`, 400, "change 1 of 1: no table"},
		{"unknown table", `{"changes":[{"op":"insert","table":"acount","values":{"name":"b"}}]}`, 404, `unknown table \"acount\"`},
		{"unknown column", `{"changes":[{"op":"insert","table":"account","values":{"name":"b","budget":1}}]}`, 400, `has no column \"budget\"`},
		{"unknown field", `{"changes":[{"op":"insert","table":"account","vals":{"name":"b"}}]}`, 400, "vals"},
		{"too many changes", `{"changes":[` + strings.Join(many, ",") + `]}`, 413, fmt.Sprintf("at most %d are taken", api.MaxBatchChanges)},
		{"a delete with values", `{"changes":[{"op":"delete","table":"account","id":"acme","values":{"name":"x"}}]}`, 400, "a delete carries no values"},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest("POST", c.BaseURL+"/api/v1/records", strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+c.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, resp.StatusCode, body, tc.status, tc.want)
		}
	}
	if s, err := srv.Store().LogState(ctx); err != nil || s.LastSeq != 3 {
		t.Fatalf("refused batches logged transactions: %+v %v", s, err)
	}
	req, _ := http.NewRequest("POST", c.BaseURL+"/api/v1/records", strings.NewReader(`{"changes":[{"op":"delete","table":"account","id":"acme"}]}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("a batch without credentials: %d", resp.StatusCode)
	}
}
