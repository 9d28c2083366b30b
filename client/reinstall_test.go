package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
)

// TestReinstalledLaptopKeepsNumbering: a node's new folder (client init
// again, after the laptop was reinstalled) numbers its uploads after those
// the server has of the node, so its first change is merged, not taken
// for a duplicate and dropped.
func TestReinstalledLaptopKeepsNumbering(t *testing.T) {
	testutil.ForBackends(t, testReinstalledLaptop)
}

func testReinstalledLaptop(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	ann, _, opp := base(t, w)
	syncWait(t, ann)
	for _, stage := range []string{"qualified", "proposal"} {
		apply(t, ann, fieldsync.Update("opportunity", opp, map[string]any{"stage": stage}))
		syncWait(t, ann)
	}
	w.settle()
	// The laptop is reinstalled: a new folder for the same node, with a
	// new secret (the old folder's went with the disk).
	secret, err := w.srv.Admin().ResetSecret(ctx, "ann-laptop")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := client.Init(ctx, client.Config{Dir: filepath.Join(t.TempDir(), "reinstalled"), Server: w.url, Node: "ann-laptop", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	apply(t, fresh, fieldsync.Update("opportunity", opp, map[string]any{"revenue": 1200}))
	sum := syncWait(t, fresh)
	w.settle()
	if row, err := w.api.Get(ctx, "opportunity", opp); err != nil || fmt.Sprint(row["revenue"]) != "1200" || row["stage"] != "proposal" {
		t.Fatalf("the reinstalled laptop's change on the server: %v %v (sync %+v)", row, err, sum)
	}
	if st, err := fresh.Status(ctx); err != nil || st.PendingUploads != 0 || st.PendingChanges != 0 {
		t.Fatalf("the reinstalled laptop's status: %+v %v", st, err)
	}
}

// TestSecondFolderStartsFresh: a node's second folder starts from a
// Database Extract taken for its init, not from the node's older one: it
// holds what the first folder had already acknowledged (whose outbox
// files the server deleted). The first folder, superseded, is refused in
// one line naming when, and keeps its change not yet sent.
func TestSecondFolderStartsFresh(t *testing.T) {
	testutil.ForBackends(t, testSecondFolderStartsFresh)
}

func testSecondFolderStartsFresh(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	old, _, opp := base(t, w)
	// The server's change reaches the old folder, which acknowledges it:
	// its outbox file is gone from the server.
	w.create("contact", map[string]any{"id": "c-new", "account_id": "acme", "first_name": "Cy"})
	w.settle()
	syncWait(t, old)
	if _, ok := has(t, old, "contact", "c-new"); !ok {
		t.Fatal("the old folder lacks the new contact")
	}
	w.settle() // acknowledged files are removed after the answer
	if outbox := w.srv.Docking().Outbox("ann-laptop"); len(listDir(t, outbox)) != 0 {
		t.Fatalf("outbox files left after the acknowledgement: %v", listDir(t, outbox))
	}
	apply(t, old, fieldsync.Update("opportunity", opp, map[string]any{"stage": "won"})) // never sent
	secret, err := w.srv.Admin().ResetSecret(ctx, "ann-laptop")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := client.Init(ctx, client.Config{Dir: filepath.Join(t.TempDir(), "second"), Server: w.url, Node: "ann-laptop", Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, ok := has(t, fresh, "contact", "c-new"); !ok {
		t.Fatal("the second folder started from the node's older extract: it lacks the contact the old folder acknowledged")
	}
	syncWait(t, fresh)

	// The old folder, with a secret that works, is told it was superseded.
	oldWithSecret := reopenWithSecret(t, old, secret)
	_, err = oldWithSecret.Sync(ctx, client.SyncOptions{Apply: true})
	if !errors.Is(err, fieldsync.ErrSuperseded) || !strings.Contains(err.Error(), "superseded by another client init of the node on ") {
		t.Fatalf("the superseded folder's sync: %v", err)
	}
	if st, err := oldWithSecret.Status(ctx); err != nil || st.PendingChanges != 1 {
		t.Fatalf("the superseded folder's status: %+v %v (its change must stay)", st, err)
	}
	if row, _ := w.api.Get(ctx, "opportunity", opp); row["stage"] == "won" {
		t.Fatal("the superseded folder's change reached the server")
	}
}

// reopenWithSecret closes a node's folder and opens it again with another
// secret, as a user who copied the new secret into it would.
func reopenWithSecret(t *testing.T, c *client.Client, secret string) *client.Client {
	t.Helper()
	dir := c.Dir()
	c.Close()
	if err := os.WriteFile(filepath.Join(dir, "node.secret"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := client.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	return again
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
