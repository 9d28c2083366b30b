package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// TestStatusShowsDamagedFiles: admin status counts the damaged or lost
// files of the last 24 hours and lists the latest, each on one line with
// its time in UTC, whose it was and what was done.
func TestStatusShowsDamagedFiles(t *testing.T) {
	srv, url := testutil.StartServer(t, server.Config{})
	ctx := context.Background()
	at := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	for _, r := range []fieldsync.Recovery{
		{At: time.Now().Add(-48 * time.Hour), Node: "old", Component: "client", What: "too old to count"},
		{At: at, Component: "Transaction Router", What: "txnproc file X was damaged: rebuilt from the Transaction Log"},
	} {
		if err := srv.Store().RecordRecovery(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Store().RecordRecovery(ctx, fieldsync.Recovery{Node: "ann-laptop", Component: "client", What: "inbox file 3 was damaged\nset aside"}); err != nil {
		t.Fatal(err)
	}
	out := mustCLI(t, url, srv.Token(), "admin", "status")
	for _, want := range []string{
		"Damaged files          2 in the last 24 hours",
		at.Format(time.RFC3339) + " server (Transaction Router): txnproc file X was damaged: rebuilt from the Transaction Log",
		"ann-laptop (client): inbox file 3 was damaged set aside",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("admin status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "too old") {
		t.Errorf("admin status lists an event older than a day:\n%s", out)
	}
}
