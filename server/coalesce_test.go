package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncmgr"
)

// coalesceWorld is a server that coalesces the outbox files of a node
// away four at a time, and ann's laptop.
type coalesceWorld struct {
	t      *testing.T
	srv    *server.Server
	laptop *client.Client
	notes  int
}

func newCoalesceWorld(t *testing.T, b testutil.Backend) *coalesceWorld {
	sch, err := schema.Parse("docs.yaml", []byte(docsYAML))
	if err != nil {
		t.Fatal(err)
	}
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t), Schema: sch, NoTokenFile: true,
		Coalesce: syncmgr.Coalesce{FanIn: 4, AwayAfter: time.Millisecond}})
	if _, err := srv.Admin().Create(context.Background(), "employee", map[string]any{"id": "ann", "name": "ann", "login": "ann"}); err != nil {
		t.Fatal(err)
	}
	laptop, _ := flowNode(t, srv, url, "ann-laptop")
	return &coalesceWorld{t: t, srv: srv, laptop: laptop}
}

// write logs n notes, each routed on its own (one outbox file each).
func (w *coalesceWorld) write(n int) {
	w.t.Helper()
	for range n {
		if _, err := w.srv.Admin().Create(context.Background(), "note", map[string]any{"id": fmt.Sprintf("n%03d", w.notes), "owner_id": "ann", "body": "from the office"}); err != nil {
			w.t.Fatal(err)
		}
		w.notes++
		waitIdle(w.t, w.srv)
	}
}

// downloaded writes n notes, each routed on its own, and syncs without
// applying (as client sync does): their files wait in the laptop's inbox,
// whose numbers it returns.
func (w *coalesceWorld) downloaded(n int) []int64 {
	w.t.Helper()
	w.write(n)
	if _, err := w.laptop.Sync(context.Background(), client.SyncOptions{}); err != nil {
		w.t.Fatal(err)
	}
	held, err := docking.Numbers(filepath.Join(w.laptop.Dir(), "inbox"))
	if err != nil || len(held) != n {
		w.t.Fatalf("inbox %v, %v; want %d files", held, err, n)
	}
	return held
}

// outbox returns the headers of ann's outbox files on the server.
func (w *coalesceWorld) outbox() []dx.Header {
	w.t.Helper()
	nums, err := docking.Numbers(w.srv.Docking().Outbox("ann-laptop"))
	if err != nil {
		w.t.Fatal(err)
	}
	var out []dx.Header
	for _, n := range nums {
		h, _, err := dx.ReadFile(w.srv.Docking().OutboxFile("ann-laptop", n), dx.Limits{})
		if err != nil {
			w.t.Fatal(err)
		}
		out = append(out, h)
	}
	return out
}

// covers reports whether one of the outbox files holds a part of file n
// without being file n.
func covers(hs []dx.Header, n int64) bool {
	for _, h := range hs {
		for _, p := range h.Parts {
			if int64(p.Number) == n && int64(h.Number) != n {
				return true
			}
		}
	}
	return false
}

// check makes sure the laptop has every note, once.
func (w *coalesceWorld) check() {
	w.t.Helper()
	ctx := context.Background()
	for i := range w.notes {
		if r, err := w.laptop.Get(ctx, "note", fmt.Sprintf("n%03d", i)); err != nil || r["body"] != "from the office" {
			w.t.Fatalf("note n%03d on the laptop: %v, %v", i, r, err)
		}
	}
	page, err := w.laptop.List(ctx, "note", fieldsync.Query{Limit: 1000})
	if err != nil || len(page.Rows) != w.notes {
		w.t.Fatalf("the laptop holds %d notes (%v), want %d", len(page.Rows), err, w.notes)
	}
}

// TestCoalescedOutbox: while a node is away, its outbox files are
// coalesced as they are routed, so 64 files become a few; its next sync
// gets them all.
func TestCoalescedOutbox(t *testing.T) { testutil.ForBackends(t, testCoalescedOutbox) }

func testCoalescedOutbox(t *testing.T, b testutil.Backend) {
	w := newCoalesceWorld(t, b)
	w.write(64)
	hs := w.outbox()
	if len(hs) > 6 || len(hs[0].Parts) == 0 {
		t.Fatalf("64 routed files left %d outbox files (first has %d parts), want at most 6, coalesced", len(hs), len(hs[0].Parts))
	}
	sum, err := w.laptop.Sync(context.Background(), client.SyncOptions{Apply: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.DownFiles != len(hs) {
		t.Fatalf("the sync downloaded %d files, the outbox held %d", sum.DownFiles, len(hs))
	}
	w.check()
}

// TestCoalescedOverDownloaded: files the node downloaded and had not
// applied yet (client sync applies after disconnecting) are coalesced
// with the ones routed after; the node applies its own copies, then only
// the newer parts of the coalesced file.
func TestCoalescedOverDownloaded(t *testing.T) { testutil.ForBackends(t, testCoalescedOverDownloaded) }

func testCoalescedOverDownloaded(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	w := newCoalesceWorld(t, b)
	held := w.downloaded(3)
	w.write(13)
	if !covers(w.outbox(), held[0]) {
		t.Fatalf("no outbox file was coalesced over the downloaded file %d", held[0])
	}
	if n, err := w.laptop.ApplyInbox(ctx); err != nil || n != 3 {
		t.Fatalf("applied %d, %v; want the 3 downloaded files", n, err)
	}
	if _, err := w.laptop.Sync(ctx, client.SyncOptions{Apply: true}); err != nil {
		t.Fatal(err)
	}
	w.check()
}

// TestCoalescedOverDamaged: an inbox file damaged on the node's disk,
// which the server has since coalesced into a later file, is recovered
// from that file: no new extract is asked for.
func TestCoalescedOverDamaged(t *testing.T) { testutil.ForBackends(t, testCoalescedOverDamaged) }

func testCoalescedOverDamaged(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	w := newCoalesceWorld(t, b)
	held := w.downloaded(2)
	path := filepath.Join(w.laptop.Dir(), "inbox", docking.FileName(held[0]))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	w.write(14)
	if !covers(w.outbox(), held[0]) {
		t.Fatalf("no outbox file was coalesced over the damaged file %d", held[0])
	}
	if _, err := w.laptop.ApplyInbox(ctx); err == nil {
		t.Fatal("the damaged inbox file applied")
	}
	before, err := w.laptop.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := w.laptop.Sync(ctx, client.SyncOptions{Apply: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Reextracted || !strings.Contains(strings.Join(sum.Recovered, "\n"), "coalesced") {
		t.Fatalf("sync reextracted=%v, recovered %q; want the coalesced file to stand in", sum.Reextracted, sum.Recovered)
	}
	after, err := w.laptop.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.ExtractSeq != before.ExtractSeq {
		t.Fatalf("the node's extract moved from %d to %d", before.ExtractSeq, after.ExtractSeq)
	}
	w.check()
}
