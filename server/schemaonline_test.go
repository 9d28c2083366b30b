package server_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/visibility"
)

// rulesYAML is notes seen by their owner and topics seen by everyone; the
// versions below change both rules.
const rulesYAML = testutil.PeopleYAML + `  topic:
    columns: {name: text}
    visibility: [all]
  note:
    columns:
      owner_id: {type: text, references: employee}
      body: text
    visibility:
      - owner: owner_id
    remote_write: true
`

// TestVisibilityChangeOnline changes visibility rules on a running server
// while nodes keep their folders: every note becomes visible to everyone
// and topics private, then both go back. After each version every node's
// local data equals what the reference visibility says it sees under the
// schema in force, and no node was re-extracted.
func TestVisibilityChangeOnline(t *testing.T) { testutil.ForBackends(t, testVisibilityChangeOnline) }

func testVisibilityChangeOnline(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	v1, err := schema.Parse("rules.yaml", []byte(rulesYAML))
	if err != nil {
		t.Fatal(err)
	}
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t), Schema: v1, NoTokenFile: true})
	adm := srv.Admin()
	for _, r := range []struct {
		table string
		vals  map[string]any
	}{
		{"employee", map[string]any{"id": "ann", "name": "Ann"}}, {"employee", map[string]any{"id": "bob", "name": "Bob"}},
		{"topic", map[string]any{"id": "t1", "name": "pricing"}}, {"topic", map[string]any{"id": "t2", "name": "hiring"}},
		{"note", map[string]any{"id": "n1", "owner_id": "ann", "body": "ann's"}},
		{"note", map[string]any{"id": "n2", "owner_id": "bob", "body": "bob's"}},
	} {
		if _, err := adm.Create(ctx, r.table, r.vals); err != nil {
			t.Fatal(err)
		}
	}
	nodes := map[string]*client.Client{"ann": ruleNode(t, srv, url, "ann"), "bob": ruleNode(t, srv, url, "bob")}
	extracted := map[string]int64{}
	for emp := range nodes {
		n, _, err := srv.Store().Node(ctx, emp+"-laptop")
		if err != nil {
			t.Fatal(err)
		}
		extracted[emp] = n.Extracted.UnixNano()
	}
	v2 := strings.Replace(strings.Replace(rulesYAML, "      - owner: owner_id\n    remote_write: true\n", "      - all\n", 1), "    columns: {name: text}\n    visibility: [all]\n", "    columns: {name: text}\n    visibility: private\n", 1)
	plan, err := adm.PlanSchema(ctx, "rules2.yaml", []byte(v2))
	if err != nil || len(plan.Refused) > 0 || plan.Total.Gain["note"] != 2 || plan.Total.Lose["topic"] != 4 {
		t.Fatalf("plan of version 2: %+v, %v", plan, err)
	}
	for i, text := range []string{v2, rulesYAML} {
		p, err := adm.ApplySchema(ctx, "rules.yaml", []byte(text))
		if err != nil || !p.Applied || p.To != int64(i+2) {
			t.Fatalf("apply version %d: %+v, %v", i+2, p, err)
		}
		waitIdle(t, srv)
		for emp, c := range nodes {
			if _, err := c.Sync(ctx, client.SyncOptions{Apply: true}); err != nil {
				t.Fatalf("%s syncs version %d: %v", emp, i+2, err)
			}
			checkSees(t, srv, c, emp, i+2)
		}
	}
	for emp := range nodes {
		if n, _, _ := srv.Store().Node(ctx, emp+"-laptop"); n.Extracted.UnixNano() != extracted[emp] {
			t.Fatalf("%s was re-extracted", emp)
		}
	}
}

// ruleNode registers a node for an employee and starts its client.
func ruleNode(t *testing.T, srv *server.Server, url, emp string) *client.Client {
	t.Helper()
	added, err := srv.Admin().AddNode(context.Background(), emp+"-laptop", emp)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Init(context.Background(), client.Config{Dir: filepath.Join(t.TempDir(), emp), Server: url, Node: emp + "-laptop", Secret: added.Secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// checkSees compares a node's local rows with the reference visibility of
// its employee under the server's schema in force.
func checkSees(t *testing.T, srv *server.Server, c *client.Client, emp string, version int) {
	t.Helper()
	ctx := context.Background()
	sch := srv.Store().Schema()
	want, err := visibility.Reference(ctx, srv.Store(), sch, emp)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"employee", "topic", "note"} {
		var got []string
		page, err := c.List(ctx, table, fieldsync.Query{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Rows {
			got = append(got, r.ID())
		}
		slices.Sort(got)
		w := slices.Clone(want[table])
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Fatalf("version %d: %s's node holds %s %v, sees %v", version, emp, table, got, w)
		}
	}
}
