package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/merger"
	"github.com/fieldsync/fieldsync/server"
)

// flipByte damages a file as a bad disk does: one byte in its middle.
func flipByte(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// inboxFiles returns the paths of the files in a node's inbox.
func inboxFiles(t *testing.T, c *client.Client) []string {
	t.Helper()
	nums, err := docking.Numbers(filepath.Join(c.Dir(), "inbox"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range nums {
		out = append(out, filepath.Join(c.Dir(), "inbox", docking.FileName(n)))
	}
	return out
}

func status(t *testing.T, c *client.Client) client.Status {
	t.Helper()
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatalf("status of %s: %v", c.Node(), err)
	}
	return st
}

func recovered(st client.Status, what string) bool {
	for _, r := range st.Recoveries {
		if strings.Contains(r.What, what) {
			return true
		}
	}
	return false
}

// downloadDamaged makes a server change, lets ann download it without
// applying it, and flips a byte of the inbox file that holds it.
func downloadDamaged(t *testing.T, w *world, ann *client.Client) {
	t.Helper()
	w.create("contact", map[string]any{"id": "c-new", "account_id": "acme", "first_name": "Cy"})
	w.settle()
	if _, err := ann.Sync(context.Background(), client.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	files := inboxFiles(t, ann)
	if len(files) == 0 {
		t.Fatal("nothing downloaded into the inbox")
	}
	for _, f := range files {
		flipByte(t, f)
	}
}

// TestDamagedInboxFileDownloadedAgain: an inbox file damaged on the
// node's disk after it was downloaded (a flipped byte) is found when it is
// applied, set aside, downloaded again from the server (which still has
// it: outbox files are acknowledged only once applied) and applied. The
// background apply that finds it records the failure for client status;
// the next sync recovers and says so.
func TestDamagedInboxFileDownloadedAgain(t *testing.T) {
	testutil.ForBackends(t, testDamagedInboxFileDownloadedAgain)
}

func testDamagedInboxFileDownloadedAgain(t *testing.T, w0 testutil.Backend) {
	w := newWorld(t, w0)
	ctx := context.Background()
	ann, _, _ := base(t, w)
	syncWait(t, ann)
	downloadDamaged(t, w, ann)
	if outbox := listDir(t, w.srv.Docking().Outbox("ann-laptop")); len(outbox) == 0 {
		t.Fatal("the server deleted outbox files the node has not applied")
	}
	// The background apply (fieldsync client apply) finds the damage.
	if _, err := ann.ApplyInbox(ctx); !errors.Is(err, fieldsync.ErrDamagedFile) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("apply of a damaged inbox file: %v", err)
	}
	st := status(t, ann)
	if st.LastResult == "ok" || st.LastFailureAt == "" || !strings.Contains(st.LastFailure, "damaged") || st.Damaged == "" {
		t.Fatalf("status after the failed apply: result %q, failure %q at %q, damaged %q", st.LastResult, st.LastFailure, st.LastFailureAt, st.Damaged)
	}
	// The next sync downloads it again and applies it: nothing is lost.
	sum := syncWait(t, ann)
	if _, ok := has(t, ann, "contact", "c-new"); !ok {
		t.Fatal("the change of the damaged inbox file is lost")
	}
	if len(sum.Recovered) == 0 || !strings.Contains(sum.Recovered[0], "downloaded again") {
		t.Fatalf("the sync does not say what it recovered: %q", sum.Recovered)
	}
	st = status(t, ann)
	if st.LastResult != "ok" || st.Damaged != "" || st.LastFailureAt == "" || !recovered(st, "downloaded again") {
		t.Fatalf("status after the recovery: %+v", st)
	}
	w.settle() // acknowledged files are removed after the answer
	if outbox := listDir(t, w.srv.Docking().Outbox("ann-laptop")); len(outbox) != 0 {
		t.Fatalf("outbox files left after they were applied: %v", outbox)
	}

	// Damaged again, and the sync that applies finds it itself: it
	// downloads it again in the same session.
	w.create("contact", map[string]any{"id": "c-two", "account_id": "acme", "first_name": "Di"})
	downloadDamagedAgain(t, w, ann)
	if _, ok := has(t, ann, "contact", "c-two"); !ok {
		t.Fatal("the sync that applies lost the change of a damaged inbox file")
	}
}

func downloadDamagedAgain(t *testing.T, w *world, ann *client.Client) {
	t.Helper()
	w.settle()
	if _, err := ann.Sync(context.Background(), client.SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range inboxFiles(t, ann) {
		flipByte(t, f)
	}
	if sum := syncWait(t, ann); len(sum.Recovered) < 2 {
		t.Fatalf("recovered %q, want the file set aside and downloaded again", sum.Recovered)
	}
}

// TestLostInboxFileReextractsTheNode: a damaged inbox file the server no
// longer has (here deleted from its outbox by hand, as an earlier version
// of the client acknowledged files before applying them) cannot be had
// again: the client tells the server, which asks for a new Database
// Extract of the node and records the event for administrators. The sync
// fails saying so in one line, client status shows it, the files after it
// wait; a later sync takes the new extract, which holds the lost change,
// and is ok again. No administrator is needed.
func TestLostInboxFileReextractsTheNode(t *testing.T) {
	testutil.ForBackends(t, testLostInboxFileReextractsTheNode)
}

func testLostInboxFileReextractsTheNode(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	ann, _, _ := base(t, w)
	syncWait(t, ann)
	downloadDamaged(t, w, ann)
	outbox := w.srv.Docking().Outbox("ann-laptop")
	for _, name := range listDir(t, outbox) {
		os.Remove(filepath.Join(outbox, name))
	}
	_, err := ann.Sync(ctx, client.SyncOptions{Apply: true})
	if err == nil || !strings.Contains(err.Error(), "the server no longer has it: a new Database Extract of the node was asked for") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("sync with a lost inbox file: %v", err)
	}
	if st := status(t, ann); !strings.HasPrefix(st.LastResult, "failed: ") || !strings.Contains(st.Damaged, "no longer has it") || st.LastFailureAt == "" {
		t.Fatalf("status with a lost inbox file: result %q, damaged %q", st.LastResult, st.Damaged)
	}
	view, err := w.srv.Admin().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !hasRecovery(view, "ann-laptop", "Synchronization Manager", "outbox file") || !hasRecovery(view, "ann-laptop", "client", "set aside") {
		t.Fatalf("the administrator's view does not show the lost file: %+v", view.Recoveries)
	}
	w.settle()
	var sum client.Summary
	for i := 0; i < 50 && !sum.Reextracted; i++ { // the extract is taken in the background
		sum, err = ann.Sync(ctx, client.SyncOptions{Apply: true})
		if sum.Reextracted {
			break
		}
		if err == nil {
			t.Fatalf("sync %d before the new extract was ok: %+v", i, sum)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !sum.Reextracted || err != nil {
		t.Fatalf("the node's new extract was not taken: %+v, %v", sum, err)
	}
	if _, ok := has(t, ann, "contact", "c-new"); !ok {
		t.Fatal("the new extract did not bring the lost file's change")
	}
	if st := status(t, ann); st.LastResult != "ok" || st.Damaged != "" || !recovered(st, "Database Extract holds its changes") {
		t.Fatalf("status after the re-extract: %+v", st)
	}
}

// hasRecovery reports whether the status view lists a damaged-file event
// of the node, by the component, saying what.
func hasRecovery(view fieldsync.Status, node, component, what string) bool {
	for _, r := range view.Recoveries.Latest {
		if r.Node == node && r.Component == component && strings.Contains(r.What, what) {
			return true
		}
	}
	return false
}

// TestDamagedUploadRebuilt: an upload file damaged on the node's disk (a
// flipped byte) blocks neither client status nor sync: it is rebuilt from
// the local log, which keeps the node's changes until the server merged
// them. Here the server's copy is damaged too, so only the node's rebuilt
// file brings the change: it is merged, nothing lost.
func TestDamagedUploadRebuilt(t *testing.T) { testutil.ForBackends(t, testDamagedUploadRebuilt) }

func testDamagedUploadRebuilt(t *testing.T, b testutil.Backend) {
	w := newWorldWith(t, b, nil, func(c *server.Config) {
		c.Only = []string{server.API, server.Sync, server.Processor, server.Router, server.Extract}
	})
	ann, _, _ := base(t, w)
	ctx := context.Background()
	apply(t, ann, fieldsync.Update("account", "acme", map[string]any{"industry": "retail"}))
	syncWait(t, ann)
	dock := w.srv.Docking()
	flipByte(t, dock.InboxFile("ann-laptop", 1))
	flipByte(t, filepath.Join(ann.Dir(), "upload", docking.FileName(1)))

	if st := status(t, ann); st.PendingUploads != 1 {
		t.Fatalf("status with a damaged upload: %+v", st)
	}
	m := merger.New(w.srv.Store(), dock, nil)
	if err := m.MergeWaiting(ctx); err != nil || m.Damaged() != 1 {
		t.Fatalf("merge of the server's damaged copy: %v, damaged %d", err, m.Damaged())
	}
	sum := syncWait(t, ann)
	if len(sum.Recovered) != 1 || !strings.Contains(sum.Recovered[0], "rebuilt from the local log") {
		t.Fatalf("recovered %q", sum.Recovered)
	}
	if err := m.MergeWaiting(ctx); err != nil {
		t.Fatal(err)
	}
	if row, err := w.api.Get(ctx, "account", "acme"); err != nil || row["industry"] != "retail" {
		t.Fatalf("acme on the server: %v, %v", row, err)
	}
	if r, _ := w.srv.Store().Refused(ctx, "ann-laptop"); len(r) != 0 {
		t.Fatalf("refusals %+v", r)
	}
	syncWait(t, ann)
	if st := status(t, ann); st.PendingUploads != 0 || st.LastResult != "ok" || !recovered(st, "upload 1 was damaged") {
		t.Fatalf("status once merged: %+v", st)
	}
}

// TestFailedSyncInStatus: client status shows the last failure, when and
// what, after a failed sync, and keeps it after a later sync is ok.
func TestFailedSyncInStatus(t *testing.T) { testutil.ForBackends(t, testFailedSyncInStatus) }

func testFailedSyncInStatus(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ann, _, _ := base(t, w)
	syncWait(t, ann)
	ann.SetServer("http://127.0.0.1:1", nil)
	if _, err := ann.Sync(context.Background(), client.SyncOptions{Apply: true}); err == nil {
		t.Fatal("a sync with an unreachable server did not fail")
	}
	st := status(t, ann)
	if !strings.HasPrefix(st.LastResult, "failed: ") || !strings.Contains(st.LastFailure, "cannot reach the fieldsync server") || st.LastFailureAt == "" {
		t.Fatalf("status after a failed sync: %+v", st)
	}
	ann.SetServer(w.url, nil)
	syncWait(t, ann)
	again := status(t, ann)
	if again.LastResult != "ok" || again.LastFailure != st.LastFailure || again.LastFailureAt != st.LastFailureAt {
		t.Fatalf("status after a later ok sync: %+v", again)
	}
}

// TestDamagedOutboxFileOnServer: an outbox file damaged on the server's
// disk arrives damaged however often it is downloaded. The client tells
// the server, which finds its copy damaged, sets it aside and asks for a
// new Database Extract of the node; the sync says so in one line, the
// files after it wait, and a later sync takes the new extract, which holds
// the damaged file's change. No administrator is needed.
func TestDamagedOutboxFileOnServer(t *testing.T) {
	testutil.ForBackends(t, testDamagedOutboxFileOnServer)
}

func testDamagedOutboxFileOnServer(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	ann, _, _ := base(t, w)
	syncWait(t, ann)
	w.create("contact", map[string]any{"id": "c-new", "account_id": "acme", "first_name": "Cy"})
	w.settle()
	outbox := w.srv.Docking().Outbox("ann-laptop")
	names := listDir(t, outbox)
	if len(names) == 0 {
		t.Fatal("nothing routed to ann-laptop")
	}
	flipByte(t, filepath.Join(outbox, names[0]))
	_, err := ann.Sync(ctx, client.SyncOptions{Apply: true})
	if err == nil || !strings.Contains(err.Error(), "is damaged on the server") || !strings.Contains(err.Error(), "a new Database Extract of the node was asked for") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("sync with a damaged outbox file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outbox, "damaged", names[0])); err != nil {
		t.Fatalf("the damaged outbox file is not set aside: %v", err)
	}
	view, err := w.srv.Admin().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !hasRecovery(view, "ann-laptop", "Synchronization Manager", "damaged on the server") {
		t.Fatalf("the administrator's view does not show the damaged outbox file: %+v", view.Recoveries)
	}
	var sum client.Summary
	for i := 0; i < 50; i++ { // the extract is taken in the background
		if sum, err = ann.Sync(ctx, client.SyncOptions{Apply: true}); sum.Reextracted {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !sum.Reextracted || err != nil {
		t.Fatalf("the node's new extract was not taken: %+v, %v", sum, err)
	}
	if _, ok := has(t, ann, "contact", "c-new"); !ok {
		t.Fatal("the new extract did not bring the damaged file's change")
	}
	if st := status(t, ann); st.LastResult != "ok" || st.Damaged != "" {
		t.Fatalf("status after the re-extract: %+v", st)
	}
}
