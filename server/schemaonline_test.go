package server_test

import (
	"context"
	"fmt"
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

// The versions TestSchemaChangesOnline applies after rulesYAML, in order.
var onlineVersions = []struct{ what, yaml string }{
	// Every note visible to everyone (remote_write gone), topics private.
	{"notes seen by all, topics private", strings.Replace(strings.Replace(rulesYAML,
		"      - owner: owner_id\n    remote_write: true\n", "      - all\n", 1),
		"    columns: {name: text}\n    visibility: [all]\n", "    columns: {name: text}\n    visibility: private\n", 1)},
	// Back, with a column and a table added.
	{"a column and a table added", strings.Replace(rulesYAML, "      body: text\n", "      body: text\n      pinned: {type: boolean, default: false}\n", 1) + visitYAML},
	// A rule added: a note is seen by everyone who sees its topic.
	{"a rule added", strings.Replace(strings.Replace(rulesYAML, "      body: text\n", "      body: text\n      pinned: {type: boolean, default: false}\n      topic_id: {type: text, references: topic}\n", 1),
		"      - owner: owner_id\n", "      - owner: owner_id\n      - parent: topic_id\n", 1) + visitYAML},
	// The rule removed again, topic_id kept.
	{"the rule removed", strings.Replace(rulesYAML, "      body: text\n", "      body: text\n      pinned: {type: boolean, default: false}\n      topic_id: {type: text, references: topic}\n", 1) + visitYAML},
}

// visitYAML is the table of visit reports version 3 adds.
const visitYAML = `  visit:
    columns:
      owner_id: {type: text, references: employee}
      place: text
    visibility:
      - owner: owner_id
    remote_write: true
`

// TestSchemaChangesOnline changes the schema of a running server while
// nodes keep their folders and sync meanwhile: visibility rules changed,
// a table made private and public again, a column and a table added, a
// rule added and removed. Cy stays offline with pending changes across
// the first two versions. After each version every node's local data
// equals what the reference visibility says it sees under the schema in
// force, row for row, nothing pending is lost, and no node was
// re-extracted.
func TestSchemaChangesOnline(t *testing.T) { testutil.ForBackends(t, testSchemaChangesOnline) }

func testSchemaChangesOnline(t *testing.T, b testutil.Backend) {
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
		{"employee", map[string]any{"id": "cy", "name": "Cy"}},
		{"topic", map[string]any{"id": "t1", "name": "pricing"}}, {"topic", map[string]any{"id": "t2", "name": "hiring"}},
		{"note", map[string]any{"id": "n1", "owner_id": "ann", "body": "ann's"}},
		{"note", map[string]any{"id": "n2", "owner_id": "bob", "body": "bob's"}},
		{"note", map[string]any{"id": "n3", "owner_id": "cy", "body": "cy's"}},
	} {
		if _, err := adm.Create(ctx, r.table, r.vals); err != nil {
			t.Fatal(err)
		}
	}
	nodes := map[string]*client.Client{}
	extracted := map[string]int64{}
	for _, emp := range []string{"ann", "bob", "cy"} {
		nodes[emp] = ruleNode(t, srv, url, emp)
		n, _, err := srv.Store().Node(ctx, emp+"-laptop")
		if err != nil {
			t.Fatal(err)
		}
		extracted[emp] = n.Extracted.UnixNano()
	}
	plan, err := adm.PlanSchema(ctx, "rules2.yaml", []byte(onlineVersions[0].yaml))
	if err != nil || len(plan.Refused) > 0 || plan.Total.Gain["note"] != 6 || plan.Total.Lose["topic"] != 6 {
		t.Fatalf("plan of version 2: %+v, %v", plan, err)
	}
	// Cy, offline from here to version 3, changes her note and adds one.
	for _, ch := range []fieldsync.Change{fieldsync.Update("note", "n3", map[string]any{"body": "cy's, offline"}),
		fieldsync.Insert("note", map[string]any{"id": "n4", "owner_id": "cy", "body": "new, offline"})} {
		if _, err := nodes["cy"].Apply(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range onlineVersions {
		version := i + 2
		online := map[string]*client.Client{"ann": nodes["ann"], "bob": nodes["bob"]}
		if version >= 4 {
			online["cy"] = nodes["cy"]
		}
		applyWhileSyncing(t, srv, online, v.yaml, version)
		stepData(t, srv, version)
		waitIdle(t, srv)
		for emp, c := range online {
			for range 2 { // the second sync gets what the first one's upload caused
				if _, err := c.Sync(ctx, client.SyncOptions{Apply: true}); err != nil {
					t.Fatalf("%s syncs version %d (%s): %v", emp, version, v.what, err)
				}
				waitIdle(t, srv)
			}
			checkSees(t, srv, c, emp, version)
		}
	}
	if n4, err := srv.Store().Get(ctx, "note", "n4"); err != nil || n4["body"] != "new, offline" || n4["pinned"] != false {
		t.Fatalf("cy's note made offline under version 1: %v %v", n4, err)
	}
	if n3, err := srv.Store().Get(ctx, "note", "n3"); err != nil || n3["body"] != "cy's, offline" {
		t.Fatalf("cy's change made offline under version 1: %v %v", n3, err)
	}
	for emp := range nodes {
		if n, _, _ := srv.Store().Node(ctx, emp+"-laptop"); n.Extracted.UnixNano() != extracted[emp] {
			t.Fatalf("%s was re-extracted", emp)
		}
	}
}

// applyWhileSyncing applies a schema version while the online nodes
// sync in a loop, and stops them.
func applyWhileSyncing(t *testing.T, srv *server.Server, online map[string]*client.Client, yaml string, version int) {
	t.Helper()
	ctx := context.Background()
	stop, errs := make(chan struct{}), make(chan error, len(online))
	for emp, c := range online {
		go func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				if _, err := c.Sync(ctx, client.SyncOptions{Apply: true}); err != nil {
					errs <- fmt.Errorf("%s syncs while version %d is applied: %w", emp, version, err)
					return
				}
			}
		}()
	}
	p, err := srv.Admin().ApplySchema(ctx, "rules.yaml", []byte(yaml))
	close(stop)
	for range online {
		if e := <-errs; e != nil {
			t.Fatal(e)
		}
	}
	if err != nil || !p.Applied || p.To != int64(version) {
		t.Fatalf("apply version %d: %+v, %v", version, p, err)
	}
}

// stepData writes what a version makes possible: visits and pinned notes
// under version 3, topics of notes under version 4 (which makes them
// visible to everyone until version 5).
func stepData(t *testing.T, srv *server.Server, version int) {
	t.Helper()
	ctx := context.Background()
	adm := srv.Admin()
	var err error
	switch version {
	case 3:
		if _, err = adm.Create(ctx, "visit", map[string]any{"id": "v1", "owner_id": "ann", "place": "Lyon"}); err == nil {
			_, err = adm.Update(ctx, "note", "n2", map[string]any{"pinned": true})
		}
	case 4:
		_, err = adm.Update(ctx, "note", "n1", map[string]any{"topic_id": "t1"})
	}
	if err != nil {
		t.Fatalf("version %d: %v", version, err)
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
// its employee under the server's schema in force: the same rows of every
// table, each with the server's values in the columns of that version.
func checkSees(t *testing.T, srv *server.Server, c *client.Client, emp string, version int) {
	t.Helper()
	ctx := context.Background()
	sch := srv.Store().Schema()
	want, err := visibility.Reference(ctx, srv.Store(), sch, emp)
	if err != nil {
		t.Fatal(err)
	}
	if v := c.Store().SchemaVersion(); v != int64(version) {
		t.Fatalf("%s's node is at schema version %d, want %d", emp, v, version)
	}
	for _, tb := range sch.Tables {
		if tb.Private {
			continue
		}
		var got []string
		page, err := c.List(ctx, tb.Name, fieldsync.Query{Limit: 1000})
		if err != nil {
			t.Fatalf("version %d: %s's node lists %s: %v", version, emp, tb.Name, err)
		}
		for _, r := range page.Rows {
			got = append(got, r.ID())
			server, err := srv.Store().Get(ctx, tb.Name, r.ID())
			if err != nil {
				t.Fatalf("version %d: %s's node holds %s %s: %v", version, emp, tb.Name, r.ID(), err)
			}
			for _, col := range tb.Columns {
				if fmt.Sprint(r[col.Name]) != fmt.Sprint(server[col.Name]) {
					t.Fatalf("version %d: %s's node holds %s %s with %s=%v, the server %v", version, emp, tb.Name, r.ID(), col.Name, r[col.Name], server[col.Name])
				}
			}
		}
		slices.Sort(got)
		w := slices.Clone(want[tb.Name])
		slices.Sort(w)
		if !slices.Equal(got, w) {
			t.Fatalf("version %d: %s's node holds %s %v, sees %v", version, emp, tb.Name, got, w)
		}
	}
}
