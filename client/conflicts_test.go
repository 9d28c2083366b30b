package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/server"
)

// base makes ann (on opp's team), bob, and their nodes.
func base(t *testing.T, w *world) (ann, bob *client.Client, opp string) {
	t.Helper()
	w.create("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
	w.create("employee", map[string]any{"id": "bob", "name": "Bob", "login": "bob"})
	w.create("position", map[string]any{"id": "p-ann", "employee_id": "ann"})
	w.create("position", map[string]any{"id": "p-bob", "employee_id": "bob"})
	w.create("account", map[string]any{"id": "acme", "name": "Acme"})
	opp = w.create("opportunity", map[string]any{"id": "deal", "name": "Deal", "account_id": "acme", "stage": "new"})
	w.create("opportunity_team", map[string]any{"id": "t-ann", "opportunity_id": opp, "position_id": "p-ann"})
	ann, bob = w.node("ann-laptop", "ann"), w.node("bob-laptop", "bob")
	w.settle()
	return ann, bob, opp
}

func apply(t *testing.T, c *client.Client, ch fieldsync.Change) {
	t.Helper()
	if _, err := c.Apply(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
}

// roundTrip syncs (upload), lets the server merge and route, and syncs
// again (download the result).
// roundTrip syncs twice, the server settled before each, and returns what
// the first sync reported (it waits for its own upload's merge), with
// anything the second reported on top.
func roundTrip(t *testing.T, w *world, c *client.Client) client.Summary {
	t.Helper()
	w.settle()
	sum := syncWait(t, c)
	w.settle()
	again := syncWait(t, c)
	sum.Conflicts = append(sum.Conflicts, again.Conflicts...)
	sum.Refused = append(sum.Refused, again.Refused...)
	return sum
}

func TestDeleteWins(t *testing.T) { testutil.ForBackends(t, testDeleteWins) }

func testDeleteWins(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	ann, _, opp := base(t, w)
	syncWait(t, ann)
	contact := w.create("contact", map[string]any{"account_id": "acme", "first_name": "Cy"})
	w.settle()
	syncWait(t, ann)

	// The server updates the contact; ann deletes it offline: the delete wins.
	if _, err := w.api.Update(ctx, "contact", contact, map[string]any{"first_name": "Cyril"}); err != nil {
		t.Fatal(err)
	}
	apply(t, ann, fieldsync.Change{Op: fieldsync.OpDelete, Table: "contact", ID: contact})
	sum := roundTrip(t, w, ann)
	if _, err := w.api.Get(ctx, "contact", contact); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("contact survived a node's delete: %v", err)
	}
	if _, ok := has(t, ann, "contact", contact); ok {
		t.Fatal("the deleted contact came back to ann")
	}
	if len(sum.Conflicts) != 1 || sum.Conflicts[0].Kind != fieldsync.ConflictDeleteUpdated {
		t.Fatalf("conflicts %+v", sum.Conflicts)
	}

	// Ann updates the opportunity offline; the server deletes it: the update is dropped.
	apply(t, ann, fieldsync.Change{Op: fieldsync.OpUpdate, Table: "opportunity", ID: opp, Values: map[string]any{"stage": "won"}})
	if err := w.api.Delete(ctx, "opportunity", opp); err != nil {
		t.Fatal(err)
	}
	sum = roundTrip(t, w, ann)
	if _, err := w.api.Get(ctx, "opportunity", opp); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("an update brought a deleted opportunity back: %v", err)
	}
	if _, ok := has(t, ann, "opportunity", opp); ok {
		t.Fatal("ann still has the deleted opportunity")
	}
	if len(sum.Conflicts) != 1 || sum.Conflicts[0].Kind != fieldsync.ConflictUpdateDeleted {
		t.Fatalf("conflicts %+v", sum.Conflicts)
	}
	all, err := w.api.Conflicts(ctx, "")
	if err != nil || len(all) != 2 {
		t.Fatalf("admin conflicts: %+v %v", all, err)
	}
}

func TestTeamRowsMerge(t *testing.T) { testutil.ForBackends(t, testTeamRowsMerge) }

func testTeamRowsMerge(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	ann, bob, opp := base(t, w)
	syncWait(t, ann)
	// Both the server and ann put bob's position on the team.
	w.create("opportunity_team", map[string]any{"id": "t-bob-server", "opportunity_id": opp, "position_id": "p-bob"})
	apply(t, ann, fieldsync.Change{Op: fieldsync.OpInsert, Table: "opportunity_team", ID: "t-bob-ann", Values: map[string]any{"opportunity_id": opp, "position_id": "p-bob"}})
	sum := roundTrip(t, w, ann)
	if len(sum.Conflicts) != 1 || sum.Conflicts[0].Kind != fieldsync.ConflictTeamMerged {
		t.Fatalf("conflicts %+v", sum.Conflicts)
	}
	p, _ := w.api.List(ctx, "opportunity_team", map[string]any{"position_id": "p-bob"}, "", 0)
	if len(p.Rows) != 1 || p.Rows[0]["id"] != "t-bob-server" {
		t.Fatalf("server team rows for bob: %v", p.Rows)
	}
	local, _ := ann.List(ctx, "opportunity_team", fieldsync.Query{Where: map[string]any{"position_id": "p-bob"}})
	if len(local.Rows) != 1 || local.Rows[0].ID() != "t-bob-server" {
		t.Fatalf("ann's team rows for bob: %v", local.Rows)
	}
	syncWait(t, bob)
	if _, ok := has(t, bob, "opportunity", opp); !ok {
		t.Fatal("bob does not see the opportunity he is now on the team of")
	}
}

func TestUniqueClashKeptWithMarker(t *testing.T) {
	testutil.ForBackends(t, testUniqueClashKeptWithMarker)
}

func testUniqueClashKeptWithMarker(t *testing.T, b testutil.Backend) {
	s, err := schema.Parse("tags.yaml", []byte(testutil.PeopleYAML+`  tag:
    columns:
      label: {type: text, required: true}
      owner_id: {type: text, references: employee}
    unique: [[label]]
    visibility:
      - owner: owner_id
    remote_write: true
`))
	if err != nil {
		t.Fatal(err)
	}
	w := newWorldWith(t, b, s)
	ctx := context.Background()
	w.create("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
	ann := w.node("ann-laptop", "ann")
	w.create("tag", map[string]any{"id": "t1", "label": "urgent", "owner_id": "ann"})
	apply(t, ann, fieldsync.Change{Op: fieldsync.OpInsert, Table: "tag", ID: "t2", Values: map[string]any{"label": "urgent", "owner_id": "ann"}})
	sum := roundTrip(t, w, ann)
	if r, _ := w.srv.Store().Refused(ctx, "ann-laptop"); len(r) > 0 {
		t.Fatalf("refused: %+v", r)
	}
	row, err := w.api.Get(ctx, "tag", "t2")
	if err != nil || row["label"] != "urgent (conflict ann-laptop t2)" {
		t.Fatalf("the clashing insert: %v %v", row, err)
	}
	local, _ := has(t, ann, "tag", "t2")
	if local["label"] != "urgent (conflict ann-laptop t2)" {
		t.Fatalf("ann did not get the marker: %v", local)
	}
	if len(sum.Conflicts) != 1 || sum.Conflicts[0].Kind != fieldsync.ConflictUnique || sum.Conflicts[0].Winner != `"t1"` {
		t.Fatalf("conflicts %+v", sum.Conflicts)
	}
	// A clash with a row the node does not see names no row.
	w.create("employee", map[string]any{"id": "bob", "name": "Bob", "login": "bob"})
	w.create("tag", map[string]any{"id": "t3", "label": "secret", "owner_id": "bob"})
	apply(t, ann, fieldsync.Change{Op: fieldsync.OpInsert, Table: "tag", ID: "t4", Values: map[string]any{"label": "secret", "owner_id": "ann"}})
	sum = roundTrip(t, w, ann)
	if len(sum.Conflicts) != 1 || strings.Contains(sum.Conflicts[0].Winner, "t3") || !strings.Contains(sum.Conflicts[0].Winner, "does not see") {
		t.Fatalf("a clash with an invisible row: %+v", sum.Conflicts)
	}
}

func TestVisibilityLossPurges(t *testing.T) { testutil.ForBackends(t, testVisibilityLossPurges) }

func testVisibilityLossPurges(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	ann, _, opp := base(t, w)
	w.create("contact", map[string]any{"id": "k1", "account_id": "acme"})
	w.settle()
	syncWait(t, ann)
	if _, ok := has(t, ann, "contact", "k1"); !ok {
		t.Fatal("ann lacks the contact of her opportunity's account")
	}
	if err := w.api.Delete(ctx, "opportunity_team", "t-ann"); err != nil {
		t.Fatal(err)
	}
	w.settle()
	syncWait(t, ann)
	for _, k := range [][2]string{{"opportunity", opp}, {"account", "acme"}, {"contact", "k1"}} {
		if _, ok := has(t, ann, k[0], k[1]); ok {
			t.Errorf("ann still has %s %s after leaving the team", k[0], k[1])
		}
	}
	// The purge is not a delete: the server keeps the rows.
	if _, err := w.api.Get(ctx, "contact", "k1"); err != nil {
		t.Fatal(err)
	}
}

// upload sends a hand-made upload file as a node, as a modified client might.
func upload(t *testing.T, w *world, node, secret string, number int64, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.url+"/sync/v1/sessions", nil)
	req.SetBasicAuth(node, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Session string }
	decode(t, resp, &st)
	req, _ = http.NewRequest(http.MethodPut, fmt.Sprintf("%s/sync/v1/uploads/%d", w.url, number), bytes.NewReader(body))
	req.SetBasicAuth(node, secret)
	req.Header.Set("X-Fieldsync-Session", st.Session)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error string }
	decode(t, resp, &e)
	return resp.StatusCode, e.Error
}

func uploadFile(t *testing.T, node string, number int64, txns ...fieldsync.Txn) []byte {
	t.Helper()
	var b bytes.Buffer
	wr := dx.NewWriter(&b, dx.Header{Kind: dx.KindUpload, Node: node, Number: uint64(number)})
	for _, tx := range txns {
		if err := wr.Write(tx); err != nil {
			t.Fatal(err)
		}
	}
	if err := wr.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestMergerRefusals(t *testing.T) { testutil.ForBackends(t, testMergerRefusals) }

func testMergerRefusals(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	w.create("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
	w.create("account", map[string]any{"id": "secret-account", "name": "Not Ann's"})
	added, err := w.api.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		t.Fatal(err)
	}
	sec := added.Secret
	now := time.Now()
	// 1: a change to a row the node does not see; 2: a table nodes may not write.
	code, msg := upload(t, w, "ann-laptop", sec, 1, uploadFile(t, "ann-laptop", 1,
		fieldsync.Txn{Seq: 1, Op: fieldsync.OpUpdate, Table: "account", RowID: "secret-account", Values: fieldsync.Row{"name": "mine"}, Prev: fieldsync.Row{"name": "Not Ann's"}, Time: now}))
	if code != 200 {
		t.Fatalf("upload 1: %d %s", code, msg)
	}
	code, _ = upload(t, w, "ann-laptop", sec, 2, uploadFile(t, "ann-laptop", 2,
		fieldsync.Txn{Seq: 2, Op: fieldsync.OpInsert, Table: "product", RowID: "p1", Values: fieldsync.Row{"id": "p1", "name": "free"}, Time: now}))
	if code != 200 {
		t.Fatalf("upload 2: %d", code)
	}
	// A damaged file and a file for another node are refused at the door.
	bad := uploadFile(t, "ann-laptop", 3, fieldsync.Txn{Seq: 3, Op: fieldsync.OpInsert, Table: "contact", RowID: "c1", Values: fieldsync.Row{"id": "c1"}, Time: now})
	bad[len(bad)/2] ^= 0xff
	if code, msg := upload(t, w, "ann-laptop", sec, 3, bad); code != 400 || !strings.Contains(msg, "checksum") {
		t.Fatalf("damaged upload: %d %q", code, msg)
	}
	if code, msg := upload(t, w, "ann-laptop", sec, 3, uploadFile(t, "other-node", 3)); code != 400 || !strings.Contains(msg, `for node "other-node"`) {
		t.Fatalf("upload for another node: %d %q", code, msg)
	}
	w.settle()
	row, _ := w.api.Get(ctx, "account", "secret-account")
	if row["name"] != "Not Ann's" {
		t.Fatalf("a refused change was applied: %v", row)
	}
	if _, err := w.api.Get(ctx, "product", "p1"); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("a refused insert was applied: %v", err)
	}
	// Each change is refused alone; the uploads count as merged.
	refused, err := w.srv.Store().RefusedChanges(ctx, "ann-laptop", 0)
	if err != nil || len(refused) != 2 {
		t.Fatalf("refusals %+v %v", refused, err)
	}
	if refused[0].Upload != 1 || !strings.Contains(refused[0].Reason, `node ann-laptop may not write account "secret-account"`) ||
		refused[1].Upload != 2 || !strings.Contains(refused[1].Reason, "table product may not be written by remote nodes") {
		t.Fatalf("refusal reasons %+v", refused)
	}
	if whole, _ := w.srv.Store().Refused(ctx, "ann-laptop"); len(whole) != 0 {
		t.Fatalf("uploads refused whole: %+v", whole)
	}
	if last, _ := w.srv.Store().LastMerged(ctx, "ann-laptop"); last != 2 {
		t.Fatalf("last merged %d, want 2", last)
	}
}

func TestBusyAndOversized(t *testing.T) { testutil.ForBackends(t, testBusyAndOversized) }

func testBusyAndOversized(t *testing.T, b testutil.Backend) {
	w := newWorldWith(t, b, nil, func(c *server.Config) { c.MaxSessions = 1; c.MaxUploadBytes = 512 })
	ctx := context.Background()
	w.create("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
	added, _ := w.api.AddNode(ctx, "ann-laptop", "ann")
	code, msg := upload(t, w, "ann-laptop", added.Secret, 1, bytes.Repeat([]byte("x"), 2048))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "larger than 512 bytes") {
		t.Fatalf("oversized upload: %d %q", code, msg)
	}
	// The first session is still open (never ended): a second one is refused.
	req, _ := http.NewRequest(http.MethodPost, w.url+"/sync/v1/sessions", nil)
	req.SetBasicAuth("ann-laptop", added.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error string }
	decode(t, resp, &e)
	if resp.StatusCode != http.StatusServiceUnavailable || e.Error != "busy, retry later" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second session: %d %q", resp.StatusCode, e.Error)
	}
}

func decode(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if err := jsonDecode(resp, v); err != nil {
		t.Fatal(err)
	}
}

// newWorldWith starts a server on loopback with a schema (nil: the
// built-in one) and configuration of one's own.
func newWorldWith(t *testing.T, b testutil.Backend, s *fieldsync.Schema, tune ...func(*server.Config)) *world {
	t.Helper()
	cfg := server.Config{Schema: s, DB: b.DB(t)}
	for _, f := range tune {
		f(&cfg)
	}
	srv, url := testutil.StartServer(t, cfg)
	return &world{t: t, srv: srv, url: url, api: &api.Client{BaseURL: url, Token: srv.Token()}}
}

func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}

func TestConflictClientWins(t *testing.T) { testutil.ForBackends(t, testConflictClientWins) }

func testConflictClientWins(t *testing.T, b testutil.Backend) {
	s, err := schema.Parse("notes.yaml", []byte(testutil.NotesYAML))
	if err != nil {
		t.Fatal(err)
	}
	w := newWorldWith(t, b, s)
	ctx := context.Background()
	w.create("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
	w.create("note", map[string]any{"id": "n1", "owner_id": "ann", "body": "first", "color": "red"})
	ann := w.node("ann-laptop", "ann")
	// Both sides change the body; the server also changes the color.
	if _, err := w.api.Update(ctx, "note", "n1", map[string]any{"body": "server's", "color": "blue"}); err != nil {
		t.Fatal(err)
	}
	apply(t, ann, fieldsync.Change{Op: fieldsync.OpUpdate, Table: "note", ID: "n1", Values: map[string]any{"body": "ann's"}})
	sum := roundTrip(t, w, ann)
	row, _ := w.api.Get(ctx, "note", "n1")
	if row["body"] != "ann's" || row["color"] != "blue" {
		t.Fatalf("server after a client-wins merge: %v", row)
	}
	local, _ := has(t, ann, "note", "n1")
	if local["body"] != "ann's" || local["color"] != "blue" {
		t.Fatalf("ann after a client-wins merge: %v", local)
	}
	if len(sum.Conflicts) != 1 || sum.Conflicts[0].Winner != `"ann's"` || sum.Conflicts[0].Loser != `"server's"` {
		t.Fatalf("conflicts %+v", sum.Conflicts)
	}
}

// TestDownloadResumes: a download broken halfway goes on from the bytes
// already on disk instead of starting over.
func TestDownloadResumes(t *testing.T) { testutil.ForBackends(t, testDownloadResumes) }

func testDownloadResumes(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ann, _, _ := base(t, w)
	for i := 0; i < 50; i++ {
		w.create("contact", map[string]any{"account_id": "acme", "first_name": fmt.Sprintf("c%d", i), "email": strings.Repeat("x", 40)})
	}
	w.settle()
	files, _ := filepath.Glob(filepath.Join(w.srv.Docking().Outbox("ann-laptop"), "*.dx"))
	if len(files) == 0 {
		t.Fatal("nothing routed")
	}
	last := files[len(files)-1]
	whole, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, f := range files {
		info, _ := os.Stat(f)
		total += info.Size()
	}
	// The previous sync broke halfway through the last file.
	half := len(whole) / 2
	inbox := filepath.Join(annDir(t, ann), "inbox")
	os.MkdirAll(inbox, 0o700)
	if err := os.WriteFile(filepath.Join(inbox, filepath.Base(last)+".part"), whole[:half], 0o600); err != nil {
		t.Fatal(err)
	}
	sum := syncWait(t, ann)
	if sum.DownBytes != total-int64(half) {
		t.Fatalf("downloaded %d bytes, want %d (the rest of the broken file and the others)", sum.DownBytes, total-int64(half))
	}
	p, _ := ann.List(context.Background(), "contact", fieldsync.Query{})
	if len(p.Rows) != 50 {
		t.Fatalf("ann has %d contacts after the resumed download, want 50", len(p.Rows))
	}
}

func annDir(t *testing.T, c *client.Client) string {
	t.Helper()
	return c.Dir()
}

// roundRobin sends each request to the next of several servers, as a load
// balancer in front of several Synchronization Manager processes might.
type roundRobin struct {
	mu    sync.Mutex
	hosts []string
	n     int
}

func (rr *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	rr.mu.Lock()
	host := rr.hosts[rr.n%len(rr.hosts)]
	rr.n++
	rr.mu.Unlock()
	req = req.Clone(req.Context())
	req.URL.Host = host
	return http.DefaultTransport.RoundTrip(req)
}

// TestTwoSyncProcesses: a second Synchronization Manager on the same
// database and docking folder serves half of every session's requests.
func TestTwoSyncProcesses(t *testing.T) { testutil.ForBackends(t, testTwoSyncProcesses) }

func testTwoSyncProcesses(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	dir, db := t.TempDir(), b.DB(t)
	main, url := testutil.StartServer(t, server.Config{DataDir: dir, DB: db})
	_, url2 := testutil.StartServer(t, server.Config{DataDir: dir, DB: db, Only: []string{server.Sync}})
	w := &world{t: t, srv: main, url: url, api: &api.Client{BaseURL: url, Token: main.Token()}}
	w.create("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
	w.create("position", map[string]any{"id": "p-ann", "employee_id": "ann"})
	w.create("account", map[string]any{"id": "acme", "name": "Acme"})
	w.create("account_team", map[string]any{"account_id": "acme", "position_id": "p-ann"})
	added, err := w.api.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		t.Fatal(err)
	}
	rr := &roundRobin{hosts: []string{strings.TrimPrefix(url, "http://"), strings.TrimPrefix(url2, "http://")}}
	ann, err := client.Init(ctx, client.Config{Dir: filepath.Join(t.TempDir(), "ann"), Server: url, Node: "ann-laptop",
		Secret: added.Secret, HTTP: &http.Client{Transport: rr}})
	if err != nil {
		t.Fatal(err)
	}
	defer ann.Close()
	w.create("contact", map[string]any{"id": "k1", "account_id": "acme"})
	apply(t, ann, fieldsync.Insert("contact", map[string]any{"id": "k2", "account_id": "acme"}))
	roundTrip(t, w, ann)
	if _, ok := has(t, ann, "contact", "k1"); !ok {
		t.Fatal("ann did not get the server's contact through two sync processes")
	}
	if _, err := w.api.Get(ctx, "contact", "k2"); err != nil {
		t.Fatalf("ann's contact did not reach the server: %v", err)
	}
	if rr.n < 6 {
		t.Fatalf("only %d requests: both processes were not used", rr.n)
	}
}

// TestOneSyncPerFolder: a second sync of a folder while one runs is refused
// with a clear error.
func TestOneSyncPerFolder(t *testing.T) {
	b := testutil.Backends[0]
	w := newWorld(t, b)
	w.create("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
	ann := w.node("ann-laptop", "ann")
	other, err := client.Open(context.Background(), ann.Dir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	unlock, err := client.HoldSyncLock(other)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ann.Sync(context.Background(), client.SyncOptions{Apply: true})
	if !errors.Is(err, client.ErrSyncRunning) || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second sync: %v", err)
	}
	unlock()
	syncWait(t, ann)
}

// TestWatch: background sync brings a connected user's change to the node
// soon after it is routed, and sends a local change up on its own.
func TestWatch(t *testing.T) { testutil.ForBackends(t, testWatch) }

func testWatch(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ann, _, opp := base(t, w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ann.Watch(ctx, client.WatchOptions{Every: time.Hour}) }()
	defer func() { cancel(); <-done }()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The first sync at start brings the opportunity.
	waitFor("the first sync", func() bool { _, ok := has(t, ann, "opportunity", opp); return ok })
	// A connected user's change arrives without anyone pressing a button.
	if _, err := w.api.Update(context.Background(), "opportunity", opp, map[string]any{"stage": "pushed"}); err != nil {
		t.Fatal(err)
	}
	waitFor("the server's change", func() bool { r, _ := has(t, ann, "opportunity", opp); return r["stage"] == "pushed" })
	// A local change goes up on its own.
	apply(t, ann, fieldsync.Update("opportunity", opp, map[string]any{"stage": "from-ann"}))
	waitFor("the local change to reach the server", func() bool {
		row, err := w.api.Get(context.Background(), "opportunity", opp)
		return err == nil && row["stage"] == "from-ann"
	})
}
