package client_test

import (
	"context"
	"fmt"
	"path/filepath"
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
