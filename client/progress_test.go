package client_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
)

// TestProgress: Init and Sync report each long step, and the last report
// of each step accounts for every file and byte the step moved.
func TestProgress(t *testing.T) { testutil.ForBackends(t, testProgress) }

func testProgress(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	w.create("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
	w.create("position", map[string]any{"id": "p-ann", "employee_id": "ann"})
	w.create("account", map[string]any{"id": "acme", "name": "Acme"})
	opp := w.create("opportunity", map[string]any{"id": "deal", "name": "Deal", "account_id": "acme"})
	w.create("opportunity_team", map[string]any{"opportunity_id": opp, "position_id": "p-ann"})
	w.settle()

	last := map[string]client.Progress{}
	var steps []string
	report := func(p client.Progress) {
		if _, ok := last[p.Step]; !ok {
			steps = append(steps, p.Step)
		}
		if prev, ok := last[p.Step]; ok && (p.Bytes < prev.Bytes || p.Files < prev.Files) {
			t.Errorf("%s went backwards: %+v after %+v", p.Step, p, prev)
		}
		last[p.Step] = p
	}
	added, err := w.api.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ann")
	ann, err := client.Init(ctx, client.Config{Dir: dir, Server: w.url, Node: "ann-laptop", Secret: added.Secret, Progress: report})
	if err != nil {
		t.Fatal(err)
	}
	defer ann.Close()
	info, err := os.Stat(filepath.Join(dir, "local.db"))
	if err != nil {
		t.Fatal(err)
	}
	if p := last["extract"]; p.Files != 1 || p.Bytes != info.Size() || p.TotalBytes != p.Bytes {
		t.Fatalf("extract progress %+v; the extract has %d bytes", p, info.Size())
	}

	// Several outbox files and an attachment file for ann, a change of hers
	// to upload.
	for i := range 4 {
		w.create("contact", map[string]any{"account_id": "acme", "first_name": fmt.Sprint(i)})
		w.settle()
	}
	w.create("attachment", map[string]any{"id": "pub", "opportunity_id": opp})
	content := bytes.Repeat([]byte("proposal "), 20000)
	if _, err := w.api.Attach(ctx, "attachment", "pub", bytes.NewReader(content), "proposal.pdf", "published"); err != nil {
		t.Fatal(err)
	}
	w.settle()
	apply(t, ann, fieldsync.Update("opportunity", opp, map[string]any{"stage": "won"}))
	clear(last)
	steps = nil
	sum, err := ann.Sync(ctx, client.SyncOptions{Apply: true, Progress: report})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(steps) != "[upload download files apply]" {
		t.Fatalf("steps %v", steps)
	}
	if p := last["upload"]; p.Files != 1 || p.TotalFiles != 1 || p.Bytes != sum.UpBytes || p.TotalBytes != p.Bytes {
		t.Errorf("upload progress %+v; summary %+v", p, sum)
	}
	if p := last["download"]; p.Files != sum.DownFiles || p.TotalFiles != p.Files || p.Bytes != sum.DownBytes || p.TotalBytes != p.Bytes || p.Files < 4 {
		t.Errorf("download progress %+v; summary %+v", p, sum)
	}
	if p := last["files"]; p.Files != 1 || p.Bytes != int64(len(content)) || p.TotalBytes != p.Bytes {
		t.Errorf("files progress %+v; the file has %d bytes", p, len(content))
	}
	if p := last["apply"]; p.Files != sum.Applied || p.TotalFiles != p.Files {
		t.Errorf("apply progress %+v; summary %+v", p, sum)
	}
}
