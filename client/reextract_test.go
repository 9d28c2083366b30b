package client_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/extract"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/visibility"
)

// sameAsServer checks that a node's local database holds exactly the rows
// the server says it sees.
func sameAsServer(t *testing.T, w *world, c *client.Client, employee string) {
	t.Helper()
	ctx := context.Background()
	st := w.srv.Store()
	ref, err := visibility.Reference(ctx, st, st.Schema(), employee)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range st.Schema().Tables {
		want := map[string]fieldsync.Row{}
		for _, id := range ref[tb.Name] {
			if want[id], err = st.Get(ctx, tb.Name, id); err != nil {
				t.Fatal(err)
			}
		}
		got := map[string]fieldsync.Row{}
		p, err := c.List(ctx, tb.Name, fieldsync.Query{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Rows {
			got[r.ID()] = r
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s's %s differs from the server's visible rows:\n got: %v\nwant: %v", c.Node(), tb.Name, got, want)
		}
	}
}

// TestReextractRebuildsLocalData: after an administrator re-extracts a
// node, the outbox goes on from the new extract; the node's next sync
// rebuilds its local data from it, so nothing routed before is missed, and
// the node's own changes not yet in the extract stay.
func TestReextractRebuildsLocalData(t *testing.T) { testutil.ForBackends(t, testReextract) }

func testReextract(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	ann, _, opp := base(t, w)
	w.create("contact", map[string]any{"id": "k0", "account_id": "acme", "first_name": "Old"})
	w.settle()
	syncWait(t, ann)

	// Server changes routed to ann before the re-extract: their outbox file
	// goes, superseded by the extract.
	w.create("contact", map[string]any{"id": "k1", "account_id": "acme", "first_name": "Before"})
	w.settle()
	// Ann's own changes, not yet uploaded: an update, an insert, a delete.
	apply(t, ann, fieldsync.Update("opportunity", opp, map[string]any{"stage": "ann's"}))
	apply(t, ann, fieldsync.Insert("contact", map[string]any{"id": "k-ann", "account_id": "acme", "first_name": "Ann's"}))
	apply(t, ann, fieldsync.Delete("contact", "k0"))
	if _, err := w.api.Reextract(ctx, "ann-laptop"); err != nil {
		t.Fatal(err)
	}
	w.create("contact", map[string]any{"id": "k2", "account_id": "acme", "first_name": "After"})
	w.settle()

	sum := syncWait(t, ann)
	if !sum.Reextracted {
		t.Error("the sync did not take the new extract")
	}
	for id, want := range map[string]bool{"k1": true, "k2": true, "k-ann": true, "k0": false} {
		if _, ok := has(t, ann, "contact", id); ok != want {
			t.Errorf("contact %s here: %v, want %v", id, ok, want)
		}
	}
	if row, _ := has(t, ann, "opportunity", opp); row["stage"] != "ann's" {
		t.Errorf("ann's unmerged change was lost: stage %v", row["stage"])
	}
	roundTrip(t, w, ann)
	sameAsServer(t, w, ann, "ann")
	if row, err := w.api.Get(ctx, "opportunity", opp); err != nil || row["stage"] != "ann's" {
		t.Fatalf("ann's change on the server: %v %v", row, err)
	}
	if sum := syncWait(t, ann); sum.Reextracted {
		t.Fatal("a later sync took the extract again")
	}
}

// extractOnFetch is a transport that, at the node's first outbox download,
// has the server take a new extract of the node first (as an
// administrator's re-extract would, at that moment), which removes the
// outbox files the session listed.
type extractOnFetch struct {
	w    *world
	node string
	once sync.Once
	err  error
}

func (x *extractOnFetch) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasPrefix(req.URL.Path, "/sync/v1/outbox/") {
		x.once.Do(func() {
			_, x.err = extract.Extract(req.Context(), x.w.srv.Store(), x.w.srv.Docking(), x.node, nil)
		})
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestExtractDuringDownload: a new extract of the node taken while its
// sync downloads the outbox removes the files the session listed; the
// sync starts a new session, which takes the extract, and the node ends
// with the server's rows.
func TestExtractDuringDownload(t *testing.T) { testutil.ForBackends(t, testExtractDuringDownload) }

func testExtractDuringDownload(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	w := newWorld(t, b)
	base(t, w)
	added, err := w.api.AddNode(ctx, "cy-laptop", "ann")
	if err != nil {
		t.Fatal(err)
	}
	hook := &extractOnFetch{w: w, node: "cy-laptop"}
	cy, err := client.Init(ctx, client.Config{Dir: filepath.Join(t.TempDir(), "cy"), Server: w.url, Node: "cy-laptop", Secret: added.Secret,
		HTTP: &http.Client{Transport: hook}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cy.Close() })
	for i := range 3 { // three outbox files
		w.create("contact", map[string]any{"id": fmt.Sprintf("k%d", i), "account_id": "acme", "first_name": "K"})
		w.settle()
	}
	sum, err := cy.Sync(ctx, client.SyncOptions{Apply: true})
	if err != nil || hook.err != nil {
		t.Fatalf("sync with an extract taken during its download: %v (extract: %v)", err, hook.err)
	}
	if !sum.Reextracted {
		t.Error("the sync did not take the extract taken during it")
	}
	sameAsServer(t, w, cy, "ann")
}
