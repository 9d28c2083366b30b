package server_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/postgres"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/sqlite"
	"github.com/fieldsync/fieldsync/syncproto"
)

// openDirect opens a stopped server's database itself.
func openDirect(t *testing.T, cfg server.Config) *sqlstore.Store {
	t.Helper()
	var st *sqlstore.Store
	var err error
	if cfg.DB != "" {
		st, err = postgres.Open(context.Background(), cfg.DB, cfg.Schema)
	} else {
		st, err = sqlite.Open(context.Background(), filepath.Join(cfg.DataDir, "server.db"), cfg.Schema)
	}
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRestoredReconcilesDocking runs admin restored on a database whose
// docking folder went on after it (files the database never wrote, a node
// it does not know) and lost an upload it recorded: it is refused while
// the server runs, then removes those files, forgets that upload, asks
// every node's extract again, and a node's news from the old incarnation
// deletes nothing and is answered at once.
func TestRestoredReconcilesDocking(t *testing.T) {
	testutil.ForBackends(t, testRestoredReconcilesDocking)
}

func testRestoredReconcilesDocking(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	r := &restoreRig{t: t, cfg: server.Config{DataDir: t.TempDir(), DB: b.DB(t), Schema: notesSchema(t), NoTokenFile: true}}
	r.start()
	r.ann, r.bob = r.nodes()
	defer r.ann.Close()
	defer r.bob.Close()
	r.create(r.ann, "a1", "ann", "one")
	r.syncAll()
	if _, err := server.Restored(ctx, r.cfg); err == nil || !strings.Contains(err.Error(), "stop every server process") {
		t.Fatalf("admin restored with the server running: %v", err)
	}
	old, _, _ := r.ann.Store().ServerIncarnation(ctx)
	r.stop()

	dock := docking.In(r.cfg.DataDir)
	st := openDirect(t, r.cfg)
	ls, err := st.LogState(ctx)
	if err == nil {
		err = st.NoteUpload(ctx, "bob-laptop", 7) // recorded, its file lost
	}
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	past := filepath.Join(dock.Txnproc(), docking.TxnprocName(ls.LastSeq, ls.LastSeq+3))
	touch(t, past)
	touch(t, dock.OutboxFile("ann-laptop", 40))
	touch(t, dock.InboxFile("ann-laptop", 9))
	touch(t, dock.OutboxFile("carl-laptop", 1))

	rep, err := server.Restored(ctx, r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Previous != old || rep.Incarnation == old || !slices.Equal(rep.Nodes, []string{"ann-laptop", "bob-laptop"}) ||
		rep.TxnprocRemoved != 1 || rep.OutboxRemoved < 1 || rep.InboxRemoved != 1 || rep.InboxForgotten != 1 ||
		!slices.Equal(rep.FoldersRemoved, []string{"carl-laptop"}) {
		t.Fatalf("admin restored: %+v (incarnation before %s)", rep, old)
	}
	for _, p := range []string{past, dock.OutboxFile("ann-laptop", 40), dock.InboxFile("ann-laptop", 9), dock.Node("carl-laptop"), dock.Extract("ann-laptop")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", p, err)
		}
	}
	st = openDirect(t, r.cfg)
	nr, err := st.NodeRouting(ctx, "ann-laptop")
	inbox, _ := st.InboxNumbers(ctx, "bob-laptop")
	st.Close()
	if err != nil || nr.ExtractSeq != -1 || !nr.ExtractWanted || len(inbox) != 0 {
		t.Fatalf("after admin restored: ann %+v %v, bob's inbox %v", nr, err, inbox)
	}

	// An outbox file of the new incarnation stays when a node still in the
	// old one says, with its news, it applied files up to it.
	touch(t, dock.OutboxFile("ann-laptop", 2))
	r.cfg.Only = []string{server.API, server.Sync}
	r.start()
	defer r.stop()
	rc := syncproto.NewClient(r.url, "ann-laptop", readTrim(t, filepath.Join(r.ann.Dir(), "node.secret")), nil)
	var conf struct{ Folder string }
	if err := json.Unmarshal([]byte(readTrim(t, filepath.Join(r.ann.Dir(), "node.json"))), &conf); err != nil {
		t.Fatal(err)
	}
	rc.Folder = conf.Folder
	rc.Incarnation = old
	news, err := rc.NewsApplied(ctx, 10, 10)
	if err != nil || !news.News || news.OutboxLast != 0 {
		t.Fatalf("news of the old incarnation: %+v %v", news, err)
	}
	if _, err := os.Stat(dock.OutboxFile("ann-laptop", 2)); err != nil {
		t.Fatalf("news of the old incarnation deleted an outbox file: %v", err)
	}
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
