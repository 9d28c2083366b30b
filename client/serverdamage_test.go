package client_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/merger"
	"github.com/fieldsync/fieldsync/server"
)

// TestDamagedUploadOnServerSentAgain: an upload file damaged on the
// server's disk before it is merged (a flipped byte) is not refused: it is
// kept aside, and the node, which keeps its own copy until the server
// reports it merged, sends it again at its next sync, where it is merged.
// Nothing of the field user's change is lost, and no refusal is reported.
func TestDamagedUploadOnServerSentAgain(t *testing.T) {
	testutil.ForBackends(t, testDamagedUploadOnServerSentAgain)
}

func testDamagedUploadOnServerSentAgain(t *testing.T, b testutil.Backend) {
	// The server runs without its merger; the test merges when it wants.
	w := newWorldWith(t, b, nil, func(c *server.Config) {
		c.Only = []string{server.API, server.Sync, server.Processor, server.Router, server.Extract}
	})
	ann, _, _ := base(t, w)
	ctx := context.Background()
	apply(t, ann, fieldsync.Update("account", "acme", map[string]any{"industry": "retail"}))
	if sum := syncWait(t, ann); len(sum.Refused) != 0 {
		t.Fatalf("first sync refused %+v", sum.Refused)
	}
	dock := w.srv.Docking()
	path := dock.InboxFile("ann-laptop", 1)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	m := merger.New(w.srv.Store(), dock, nil)
	if err := m.MergeWaiting(ctx); err != nil {
		t.Fatal(err)
	}
	if m.Damaged() != 1 {
		t.Fatalf("damaged uploads counted %d, want 1", m.Damaged())
	}
	if view, err := w.srv.Admin().Status(ctx); err != nil || !hasRecovery(view, "ann-laptop", "Transaction Merger", "upload 1 was damaged on the server") {
		t.Fatalf("the administrator's view does not show the damaged upload: %+v, %v", view.Recoveries, err)
	}
	if _, err := os.Stat(filepath.Join(dock.Damaged("ann-laptop"), docking.FileName(1))); err != nil {
		t.Fatalf("the damaged upload is not kept aside: %v", err)
	}
	if last, _ := w.srv.Store().LastMerged(ctx, "ann-laptop"); last != 0 {
		t.Fatalf("a damaged upload counted as merged (%d)", last)
	}
	if r, _ := w.srv.Store().Refused(ctx, "ann-laptop"); len(r) != 0 {
		t.Fatalf("a damaged upload was refused: %+v", r)
	}
	// The next sync sends it again.
	syncWait(t, ann)
	if err := m.MergeWaiting(ctx); err != nil {
		t.Fatal(err)
	}
	row, err := w.api.Get(ctx, "account", "acme")
	if err != nil || row["industry"] != "retail" {
		t.Fatalf("acme on the server: %v, %v", row, err)
	}
	if r, _ := w.srv.Store().Refused(ctx, "ann-laptop"); len(r) != 0 {
		t.Fatalf("refusals %+v", r)
	}
}
