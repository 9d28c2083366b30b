package hostiletest_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncproto"
)

// world is a real server with the CRM schema, its administrator's API
// client, and the story's rows.
type world struct {
	t   *testing.T
	srv *server.Server
	url string
	api *api.Client
	dir string // the server's data folder
	// files of the story: bob's proposal (on his team's opportunity), the
	// company's price sheet (broadcast), the notes on ann's deal.
	proposal, priceSheet, dealNotes fieldsync.FileRef
}

func newWorld(t *testing.T, b testutil.Backend) *world {
	t.Helper()
	dir := t.TempDir()
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t), DataDir: dir})
	return &world{t: t, srv: srv, url: url, dir: dir, api: &api.Client{BaseURL: url, Token: srv.Token()}}
}

func (w *world) create(table string, vals map[string]any) string {
	w.t.Helper()
	row, err := w.api.Create(context.Background(), table, vals)
	if err != nil {
		w.t.Fatalf("create %s: %v", table, err)
	}
	return row["id"].(string)
}

// attach gives a row a file through the API, as a connected user does.
func (w *world) attach(table, id, content, mode string) fieldsync.FileRef {
	w.t.Helper()
	row, err := w.api.Attach(context.Background(), table, id, strings.NewReader(content), id+".txt", mode)
	if err != nil {
		w.t.Fatalf("attach %s %s: %v", table, id, err)
	}
	ref, err := fieldsync.ParseFileRef(row["file"].(string))
	if err != nil {
		w.t.Fatal(err)
	}
	return ref
}

// settle waits until every upload is merged and every logged change routed.
func (w *world) settle() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.srv.WaitIdle(ctx); err != nil {
		w.t.Fatal(err)
	}
}

// story makes the seed's two teams. Ann (position p-ann) works the deal
// on Acme; bob (p-bob) works Globex and its secret opportunity, with a
// contact, an activity and his proposal attached. The price sheet is
// broadcast to everyone. Ann was on the team of "gone" until an
// administrator took her off it (after her node saw it).
func (w *world) story() {
	w.t.Helper()
	w.create("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
	w.create("employee", map[string]any{"id": "bob", "name": "Bob", "login": "bob"})
	w.create("position", map[string]any{"id": "p-ann", "employee_id": "ann"})
	w.create("position", map[string]any{"id": "p-bob", "employee_id": "bob"})
	w.create("campaign", map[string]any{"id": "spring", "name": "Spring"})
	w.create("account", map[string]any{"id": "acme", "name": "Acme"})
	w.create("account", map[string]any{"id": "globex", "name": "Globex"})
	w.create("account_team", map[string]any{"id": "at-bob", "account_id": "globex", "position_id": "p-bob"})
	w.create("opportunity", map[string]any{"id": "deal", "name": "Deal", "account_id": "acme", "stage": "new"})
	w.create("opportunity_team", map[string]any{"id": "t-ann", "opportunity_id": "deal", "position_id": "p-ann"})
	w.create("opportunity", map[string]any{"id": "gone", "name": "Gone", "account_id": "acme"})
	w.create("opportunity_team", map[string]any{"id": "t-ann-gone", "opportunity_id": "gone", "position_id": "p-ann"})
	w.create("opportunity", map[string]any{"id": "secret", "name": "Secret", "account_id": "globex", "revenue": 1e6})
	w.create("opportunity_team", map[string]any{"id": "t-bob", "opportunity_id": "secret", "position_id": "p-bob"})
	w.create("contact", map[string]any{"id": "c-acme", "account_id": "acme", "first_name": "Ada"})
	w.create("contact", map[string]any{"id": "c-globex", "account_id": "globex", "first_name": "Gus"})
	w.create("activity", map[string]any{"id": "act-secret", "opportunity_id": "secret", "owner_id": "bob", "type": "call"})
	w.create("attachment", map[string]any{"id": "att-secret", "opportunity_id": "secret"})
	w.proposal = w.attach("attachment", "att-secret", "bob's proposal to Globex", fieldsync.ModePublished)
	w.create("attachment", map[string]any{"id": "price"})
	w.priceSheet = w.attach("attachment", "price", "the price sheet", fieldsync.ModeBroadcast)
	w.create("attachment", map[string]any{"id": "att-deal", "opportunity_id": "deal"})
	w.dealNotes = w.attach("attachment", "att-deal", "notes on the deal", fieldsync.ModePublished)
}

// secretRows are bob's team's rows ann must never get.
var secretRows = [][2]string{
	{"account", "globex"}, {"account_team", "at-bob"}, {"opportunity", "secret"}, {"opportunity_team", "t-bob"},
	{"contact", "c-globex"}, {"activity", "act-secret"}, {"attachment", "att-secret"}, {"opportunity", "gone"},
}

// node registers a node and makes its real client (which takes its
// extract), and returns the client with the node's secret.
func (w *world) node(name, employee string) (*client.Client, string) {
	w.t.Helper()
	added, err := w.api.AddNode(context.Background(), name, employee)
	if err != nil {
		w.t.Fatal(err)
	}
	c, err := client.Init(context.Background(), client.Config{Dir: filepath.Join(w.t.TempDir(), name), Server: w.url, Node: name, Secret: added.Secret})
	if err != nil {
		w.t.Fatalf("init %s: %v", name, err)
	}
	w.t.Cleanup(func() { c.Close() })
	return c, added.Secret
}

func (w *world) sync(c *client.Client) client.Summary {
	w.t.Helper()
	w.settle()
	sum, err := c.Sync(context.Background(), client.SyncOptions{Apply: true})
	if err != nil {
		w.t.Fatalf("sync %s: %v", c.Node(), err)
	}
	return sum
}

// dump is every synchronized row of the server, by table and id.
func (w *world) dump() map[string]map[string]fieldsync.Row {
	w.t.Helper()
	st := w.srv.Store()
	out := map[string]map[string]fieldsync.Row{}
	for _, t := range st.Schema().Tables {
		out[t.Name] = map[string]fieldsync.Row{}
		err := fieldsync.Each(context.Background(), st, t.Name, fieldsync.Query{}, func(r fieldsync.Row) error {
			out[t.Name][r.ID()] = maps.Clone(r)
			return nil
		})
		if err != nil {
			w.t.Fatal(err)
		}
	}
	return out
}

// sender is a node sending uploads of its own making, as a modified
// client would: .dx files written with the dx package, sent with syncproto.
type sender struct {
	w    *world
	node string
	rc   *syncproto.Client
}

func (w *world) sender(node, secret string) *sender {
	return &sender{w: w, node: node, rc: syncproto.NewClient(w.url, node, secret, nil)}
}

// send uploads one file of changes, waits for the merger, and returns
// the refusal's reason: the upload's, when it was refused whole, or its
// refused changes', one line each ("" when all of it was merged).
func (s *sender) send(txns ...fieldsync.Txn) string {
	t := s.w.t
	t.Helper()
	ctx := context.Background()
	st, err := s.rc.Start(ctx, 0)
	if err != nil {
		t.Fatalf("start a session of %s: %v", s.node, err)
	}
	n := st.LastMerged + 1
	for i := range txns {
		txns[i].Seq, txns[i].Origin = int64(i+1), s.node
	}
	dir := t.TempDir()
	hdr := dx.Header{Kind: dx.KindUpload, Node: s.node, Number: uint64(n)}
	if err := dx.WriteFile(dir, docking.FileName(n), hdr, txns, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, docking.FileName(n)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.rc.Upload(ctx, st.Session, n, bytes.NewReader(data)); err != nil {
		t.Fatalf("upload %d of %s: %v", n, s.node, err)
	}
	if _, err := s.rc.End(ctx, st.Session, "ok"); err != nil {
		t.Fatal(err)
	}
	s.w.settle()
	if last, err := s.w.srv.Store().LastMerged(ctx, s.node); err != nil || last != n {
		t.Fatalf("upload %d of %s not merged nor refused (last %d, %v)", n, s.node, last, err)
	}
	refused, err := s.w.srv.Store().Refused(ctx, s.node)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range refused {
		if r.Number == n {
			return r.Reason
		}
	}
	changes, err := s.w.srv.Store().RefusedChanges(ctx, s.node, n-1)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, c := range changes {
		if c.Upload == n {
			reasons = append(reasons, c.Reason)
		}
	}
	return strings.Join(reasons, "\n")
}

// canFetch reports whether the node may download a file: false when the
// server answers that it sees no row carrying it.
func (s *sender) canFetch(ref fieldsync.FileRef) bool {
	t := s.w.t
	t.Helper()
	ctx := context.Background()
	st, err := s.rc.Start(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.rc.End(ctx, st.Session, "ok")
	resp, err := s.rc.Do(ctx, http.MethodGet, syncproto.FilePath(ref), st.Session, nil, nil)
	if errors.Is(err, fieldsync.ErrNotFound) {
		return false
	} else if err != nil {
		t.Fatalf("download %s: %v", ref, err)
	}
	resp.Body.Close()
	return true
}

func ins(table, id string, vals map[string]any) fieldsync.Txn {
	v := fieldsync.Row{"id": id}
	maps.Copy(v, vals)
	return fieldsync.Txn{Op: fieldsync.OpInsert, Table: table, RowID: id, Values: v}
}

func upd(table, id string, vals map[string]any) fieldsync.Txn {
	return fieldsync.Txn{Op: fieldsync.OpUpdate, Table: table, RowID: id, Values: fieldsync.Row(vals)}
}

func del(table, id string) fieldsync.Txn {
	return fieldsync.Txn{Op: fieldsync.OpDelete, Table: table, RowID: id}
}

// sameRows fails when the server's rows changed.
func (w *world) sameRows(what string, before map[string]map[string]fieldsync.Row) {
	w.t.Helper()
	after := w.dump()
	for table, rows := range before {
		if !reflect.DeepEqual(rows, after[table]) {
			w.t.Errorf("%s: the server's %s rows changed\nbefore: %v\n after: %v", what, table, rows, after[table])
		}
	}
}

// hasNone fails when the client holds any of the rows.
func hasNone(t *testing.T, c *client.Client, rows [][2]string) {
	t.Helper()
	for _, r := range rows {
		_, err := c.Get(context.Background(), r[0], r[1])
		if !errors.Is(err, fieldsync.ErrNotFound) {
			t.Errorf("%s holds %s %s (%v)", c.Node(), r[0], r[1], err)
		}
	}
}

// hasAll fails when the client lacks any of the rows.
func hasAll(t *testing.T, c *client.Client, rows [][2]string) {
	t.Helper()
	for _, r := range rows {
		if _, err := c.Get(context.Background(), r[0], r[1]); err != nil {
			t.Errorf("%s lacks %s %s: %v", c.Node(), r[0], r[1], err)
		}
	}
}
