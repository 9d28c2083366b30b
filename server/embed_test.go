package server_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/merger"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/server"
)

func notesSchema(t *testing.T) *fieldsync.Schema {
	t.Helper()
	s, err := schema.Parse("notes.yaml", []byte(testutil.NotesYAML))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitIdle(t *testing.T, srv *server.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAdminInProcess administers an embedded server through Admin alone:
// records, a node whose client starts from the extract taken at
// registration, and the administrator's views. No token file is written.
func TestAdminInProcess(t *testing.T) { testutil.ForBackends(t, testAdminInProcess) }

func testAdminInProcess(t *testing.T, b testutil.Backend) {
	dir := t.TempDir()
	srv, url := testutil.StartServer(t, server.Config{DataDir: dir, DB: b.DB(t), Schema: notesSchema(t), NoTokenFile: true})
	if _, err := os.Stat(filepath.Join(dir, "admin.token")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("admin.token written with NoTokenFile: %v", err)
	}
	if code := get(t, url+"/api/v1/admin/status", srv.Token()); code != 200 {
		t.Fatalf("the server's token: status %d", code)
	}
	ctx := context.Background()
	adm := srv.Admin()
	if _, err := adm.Create(ctx, "employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.Create(ctx, "note", map[string]any{"id": "n1", "owner_id": "ann", "body": "first"}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.Apply(ctx, fieldsync.Insert("note", map[string]any{"id": "n2", "owner_id": "ann", "body": "x"}),
		fieldsync.Insert("note", map[string]any{"id": "n3", "owner_id": "nobody", "body": "y"})); !errors.Is(err, fieldsync.ErrInvalid) {
		t.Fatalf("a batch with a dangling reference: %v", err)
	}
	if _, err := adm.Get(ctx, "note", "n2"); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("a refused batch applied its first change: %v", err)
	}
	if txns, err := adm.Apply(ctx, fieldsync.Insert("note", map[string]any{"id": "n2", "owner_id": "ann", "body": "x"}),
		fieldsync.Delete("note", "n2")); err != nil || len(txns) != 2 {
		t.Fatalf("a batch: %v %v", txns, err)
	}
	added, err := adm.AddNode(ctx, "ann-laptop", "ann")
	if err != nil || added.ExtractErr != nil {
		t.Fatalf("add node: %v %v", err, added.ExtractErr)
	}
	if added.Secret == "" || added.Extract == nil || added.Extract.Rows["note"] != 1 || added.Node.Extracted.IsZero() {
		t.Fatalf("added node: %+v", added)
	}
	c, err := client.Init(ctx, client.Config{Dir: filepath.Join(t.TempDir(), "ann"), Server: url, Node: "ann-laptop", Secret: added.Secret})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r, err := c.Get(ctx, "note", "n1"); err != nil || r["body"] != "first" {
		t.Fatalf("the node's note after init: %v %v", r, err)
	}

	if row, err := adm.Update(ctx, "note", "n1", map[string]any{"body": "second"}); err != nil || row["body"] != "second" {
		t.Fatalf("update: %v %v", row, err)
	}
	waitIdle(t, srv)
	if _, err := c.Sync(ctx, client.SyncOptions{Apply: true}); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Get(ctx, "note", "n1"); err != nil || r["body"] != "second" {
		t.Fatalf("the node's note after sync: %v %v", r, err)
	}
	if p, err := adm.List(ctx, "note", fieldsync.Query{}); err != nil || len(p.Rows) != 1 {
		t.Fatalf("list: %+v %v", p, err)
	}
	if n, err := adm.Delete(ctx, "note", "n1"); err != nil || n != 1 {
		t.Fatalf("delete: %d %v", n, err)
	}
	if _, err := adm.Get(ctx, "note", "n1"); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("get of a deleted note: %v", err)
	}

	if res, err := adm.Reextract(ctx, "ann-laptop"); err != nil || res == nil || res.Node != "ann-laptop" {
		t.Fatalf("reextract: %+v %v", res, err)
	}
	st, err := adm.Status(ctx)
	if err != nil || len(st.Nodes) != 1 {
		t.Fatalf("status: %+v %v", st, err)
	}
	if cs, err := adm.Conflicts(ctx, ""); err != nil || len(cs) != 0 {
		t.Fatalf("conflicts: %+v %v", cs, err)
	}
	if n, err := adm.Node(ctx, "ann-laptop"); err != nil || !n.Active || n.EmployeeID != "ann" {
		t.Fatalf("node: %+v %v", n, err)
	}
	// A new secret: the old one stops working at once, the new one
	// starts a folder for the node.
	secret, err := adm.ResetSecret(ctx, "ann-laptop")
	if err != nil || secret == "" || secret == added.Secret {
		t.Fatalf("reset secret: %q %v", secret, err)
	}
	if _, err := c.Sync(ctx, client.SyncOptions{}); !errors.Is(err, fieldsync.ErrUnauthorized) {
		t.Fatalf("sync with the old secret: %v", err)
	}
	again, err := client.Init(ctx, client.Config{Dir: filepath.Join(t.TempDir(), "ann2"), Server: url, Node: "ann-laptop", Secret: secret})
	if err != nil {
		t.Fatalf("init with the new secret: %v", err)
	}
	if _, err := adm.ResetSecret(ctx, "nobody"); !errors.Is(err, fieldsync.ErrNodeUnknown) {
		t.Fatalf("reset the secret of an unknown node: %v", err)
	}
	if n, err := adm.DeactivateNode(ctx, "ann-laptop"); err != nil || n.Active {
		t.Fatalf("deactivate: %+v %v", n, err)
	}
	if nodes, err := adm.ListNodes(ctx); err != nil || len(nodes) != 1 || nodes[0].Active {
		t.Fatalf("nodes: %+v %v", nodes, err)
	}
	testReactivateAndDelete(t, srv, again)
	again.Close()
	if _, err := adm.AddNode(ctx, "", "ann"); !errors.Is(err, fieldsync.ErrInvalid) {
		t.Fatalf("a node without a name: %v", err)
	}
}

// TestAdminAsksForExtract: a server without the Database Extract asks
// one for a new node's extract.
func TestAdminAsksForExtract(t *testing.T) {
	ctx := context.Background()
	srv, err := server.Open(ctx, server.Config{DataDir: t.TempDir(), Schema: notesSchema(t), Only: []string{server.API}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.Admin().Create(ctx, "employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}); err != nil {
		t.Fatal(err)
	}
	added, err := srv.Admin().AddNode(ctx, "ann-laptop", "ann")
	if err != nil || !added.ExtractRequested || added.Extract != nil {
		t.Fatalf("added %+v %v", added, err)
	}
	if wanted, err := srv.Store().WantedExtracts(ctx); err != nil || len(wanted) != 1 {
		t.Fatalf("wanted extracts %v %v", wanted, err)
	}
	if names, err := srv.Admin().ReextractAll(ctx); err != nil || len(names) != 1 || names[0] != "ann-laptop" {
		t.Fatalf("reextract all: %v %v", names, err)
	}
}

// TestAdminTokenFromConfig: a token set in the configuration is the only
// administrator's token, and no token file is written.
func TestAdminTokenFromConfig(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func(token string) *server.Server {
		t.Helper()
		srv, err := server.Open(ctx, server.Config{DataDir: dir, AdminToken: token})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := open("first-token")
	if srv.Token() != "first-token" {
		t.Fatalf("token %q", srv.Token())
	}
	srv.Close()
	srv = open("second-token")
	defer srv.Close()
	if _, err := srv.Store().TokenRole(ctx, fieldsync.HashSecret("first-token")); !errors.Is(err, fieldsync.ErrUnauthorized) {
		t.Fatalf("the replaced token still works: %v", err)
	}
	if role, err := srv.Store().TokenRole(ctx, fieldsync.HashSecret("second-token")); err != nil || role != fieldsync.RoleAdmin {
		t.Fatalf("the configured token: %q %v", role, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "admin.token")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("admin.token written with AdminToken set: %v", err)
	}
}

// TestIdleAfterUploadMergedAndRouted: a server is not idle while a node's
// upload waits for the merger, and is again once the upload is merged and
// its change routed.
func TestIdleAfterUploadMergedAndRouted(t *testing.T) {
	testutil.ForBackends(t, testIdleAfterUploadMergedAndRouted)
}

func testIdleAfterUploadMergedAndRouted(t *testing.T, b testutil.Backend) {
	// Every component but the merger, which the test runs by hand.
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t), Schema: notesSchema(t), NoTokenFile: true,
		Only: []string{server.API, server.Sync, server.Processor, server.Router, server.Extract}})
	ctx := context.Background()
	adm := srv.Admin()
	if _, err := adm.Create(ctx, "employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}); err != nil {
		t.Fatal(err)
	}
	added, err := adm.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Init(ctx, client.Config{Dir: filepath.Join(t.TempDir(), "ann"), Server: url, Node: "ann-laptop", Secret: added.Secret})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitIdle(t, srv)

	if _, err := c.Apply(ctx, fieldsync.Insert("note", map[string]any{"id": "n1", "owner_id": "ann", "body": "offline"})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(ctx, client.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	if idle, err := srv.Idle(ctx); err != nil || idle {
		t.Fatalf("idle with an upload waiting for the merger: %v %v", idle, err)
	}
	if _, err := adm.Get(ctx, "note", "n1"); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("the note before the merge: %v", err)
	}

	if err := merger.New(srv.Store(), srv.Docking(), nil).MergeWaiting(ctx); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	if _, err := adm.Get(ctx, "note", "n1"); err != nil {
		t.Fatalf("the note after the merge: %v", err)
	}
	bl, err := srv.Store().Backlog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	log, err := srv.Store().ReadLog(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if bl.Uploads != 0 || bl.Log.Pending != 0 || bl.Routers[0] != bl.Log.LastSeq || len(log) != 0 {
		t.Fatalf("backlog when idle: %+v (log entries left %d)", bl, len(log))
	}
}

// testReactivateAndDelete: a reactivated node syncs again; an active node
// is deleted only by force; a deleted node's client is refused as an
// unknown node's, and its docking folder is gone.
func testReactivateAndDelete(t *testing.T, srv *server.Server, c *client.Client) {
	ctx := context.Background()
	adm := srv.Admin()
	if _, err := c.Sync(ctx, client.SyncOptions{}); !errors.Is(err, fieldsync.ErrNodeDeactivated) {
		t.Fatalf("sync of a deactivated node: %v", err)
	}
	if n, err := adm.ReactivateNode(ctx, "ann-laptop"); err != nil || !n.Active {
		t.Fatalf("reactivate: %+v %v", n, err)
	}
	waitIdle(t, srv)
	if _, err := c.Sync(ctx, client.SyncOptions{Apply: true}); err != nil {
		t.Fatalf("sync of a reactivated node: %v", err)
	}
	if ss, err := adm.Sessions(ctx, "ann-laptop", 5); err != nil || len(ss) == 0 {
		t.Fatalf("sessions: %+v %v", ss, err)
	}
	if _, err := adm.DeleteNode(ctx, "ann-laptop", false); !errors.Is(err, fieldsync.ErrInUse) {
		t.Fatalf("delete of an active node: %v", err)
	}
	if _, err := adm.DeleteNode(ctx, "ann-laptop", true); err != nil {
		t.Fatalf("forced delete: %v", err)
	}
	if _, err := os.Stat(srv.Docking().Node("ann-laptop")); !os.IsNotExist(err) {
		t.Fatalf("docking folder after delete: %v", err)
	}
	if _, err := c.Sync(ctx, client.SyncOptions{}); !errors.Is(err, fieldsync.ErrUnauthorized) {
		t.Fatalf("sync of a deleted node: %v", err)
	}
	if _, err := adm.Sessions(ctx, "ann-laptop", 5); !errors.Is(err, fieldsync.ErrNodeUnknown) {
		t.Fatalf("sessions of a deleted node: %v", err)
	}
}
