package syncmgr_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/httperr"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncproto"
)

func (f *fleet) client(node string) *syncproto.Client {
	return syncproto.NewClient(f.url, node, f.secrets[node], nil)
}

// isNodeLimit checks that err is the refusal of a node over a limit: 429,
// a case of busy, with a Retry-After, and a message saying what.
func isNodeLimit(t *testing.T, err error, what string) {
	t.Helper()
	var he *httperr.Error
	if !errors.Is(err, fieldsync.ErrNodeLimit) || !errors.Is(err, fieldsync.ErrBusy) || !errors.As(err, &he) ||
		he.Status != 429 || he.RetryAfter <= 0 || !strings.Contains(err.Error(), what) {
		t.Fatalf("got %v, want a node limit refusal (429, Retry-After) saying %q", err, what)
	}
}

// held is a request kept running: its body is sent in part, and it ends
// when release is called.
type held struct {
	pw   *io.PipeWriter
	done chan error
}

// holdUpload starts an upload in a session whose body keeps coming: once
// 16 MiB went through, the server is reading it in its handler.
func holdUpload(t *testing.T, c *syncproto.Client, session string) *held {
	t.Helper()
	pr, pw := io.Pipe()
	h := &held{pw: pw, done: make(chan error, 1)}
	go func() {
		_, err := c.Upload(context.Background(), session, 1, pr)
		h.done <- err
	}()
	chunk := make([]byte, 1<<20)
	for range 16 {
		if _, err := pw.Write(chunk); err != nil {
			t.Fatalf("held upload: %v", err)
		}
	}
	return h
}

func (h *held) release() {
	h.pw.CloseWithError(errors.New("released"))
	<-h.done
}

func TestNodeSessions(t *testing.T) { testutil.ForBackends(t, testNodeSessions) }

// testNodeSessions: a node opening many sessions keeps at most its limit
// (its older ones end), so another node is never made busy; a node whose
// sessions all have requests running is refused a new one.
func testNodeSessions(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b, func(c *server.Config) { c.MaxSessions = 4 })
	ctx := context.Background()
	ann, bob := f.client("ann-laptop"), f.client("bob-laptop")
	var ids []string
	for range 20 {
		st, err := ann.Start(ctx, 0)
		if err != nil {
			t.Fatalf("ann's session start: %v", err)
		}
		ids = append(ids, st.Session)
	}
	if _, err := ann.State(ctx, ids[0]); !errors.Is(err, fieldsync.ErrNoSession) {
		t.Fatalf("ann's first session after 20 more: %v, want it ended", err)
	}
	for _, id := range ids[len(ids)-2:] {
		if _, err := ann.State(ctx, id); err != nil {
			t.Fatalf("ann's latest session: %v", err)
		}
	}
	bs, err := bob.Start(ctx, 0)
	if err != nil {
		t.Fatalf("bob's session start after ann's 20: %v", err)
	}
	// Both of ann's sessions busy: a third is refused, bob's still work.
	h1, h2 := holdUpload(t, ann, ids[len(ids)-1]), holdUpload(t, ann, ids[len(ids)-2])
	_, err = ann.Start(ctx, 0)
	isNodeLimit(t, err, "sessions open")
	if _, err := bob.State(ctx, bs.Session); err != nil {
		t.Fatalf("bob's state while ann is at her limit: %v", err)
	}
	h1.release()
	h2.release()
	waitFor(t, func() bool { _, err := ann.Start(ctx, 0); return err == nil }) // once the server saw them end
	if len(f.logs.lines("refused a node over its limit")) == 0 {
		t.Error("no log line for the refusal")
	}
}

func TestNodeRequests(t *testing.T) { testutil.ForBackends(t, testNodeRequests) }

// testNodeRequests: past its limit of requests running, a node is refused
// (429, Retry-After) while another node's requests succeed.
func testNodeRequests(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b, func(c *server.Config) { c.Limits.NodeRequests = 3 })
	ctx := context.Background()
	ann, bob := f.client("ann-laptop"), f.client("bob-laptop")
	as, err := ann.Start(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := bob.Start(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var hs []*held
	for range 3 {
		hs = append(hs, holdUpload(t, ann, as.Session))
	}
	_, err = ann.State(ctx, as.Session)
	isNodeLimit(t, err, "3 requests in flight")
	if _, err := bob.State(ctx, bs.Session); err != nil {
		t.Fatalf("bob's state while ann is at her limit: %v", err)
	}
	if _, err := bob.Outbox(ctx, bs.Session); err != nil {
		t.Fatalf("bob's outbox while ann is at her limit: %v", err)
	}
	for _, h := range hs {
		h.release()
	}
	waitFor(t, func() bool { _, err := ann.State(ctx, as.Session); return err == nil }) // once the server saw them end
}

func TestNewsLimits(t *testing.T) { testutil.ForBackends(t, testNewsLimits) }

// testNewsLimits: of a node's many news long-polls, only its limit wait
// (the others are refused at once); another node's news and session start
// go on, and the waiting ones hear of news through the shared poller.
func testNewsLimits(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	ann, bob := f.client("ann-laptop"), f.client("bob-laptop")
	const polls = 200
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused, told := 0, 0
	for range polls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := ann.News(ctx, 0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, fieldsync.ErrNodeLimit):
				refused++
			case err == nil && n.News:
				told++
			default:
				t.Errorf("ann's news: %+v, %v", n, err)
			}
		}()
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return refused == polls-2 })
	st, err := bob.Start(ctx, 0)
	if err != nil {
		t.Fatalf("bob's session start while ann polls: %v", err)
	}
	bob.End(ctx, st.Session, "")
	// News for both: an account on both teams.
	f.admin.Create(ctx, "account_team", map[string]any{"id": "t-bob", "account_id": "acme", "position_id": "p-bob"})
	if n, err := bob.News(ctx, 0); err != nil || !n.News {
		t.Fatalf("bob's news while ann polls: %+v, %v", n, err)
	}
	if _, err := f.admin.Create(ctx, "account", map[string]any{"id": "more", "name": "More"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.admin.Create(ctx, "account_team", map[string]any{"id": "t-ann2", "account_id": "more", "position_id": "p-ann"}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if told != 2 {
		t.Fatalf("%d of ann's waiting news requests were told of news, want 2", told)
	}
}

func TestNewsWaiters(t *testing.T) { testutil.ForBackends(t, testNewsWaiters) }

// testNewsWaiters: past the limit of news requests of all nodes, a news
// request is answered busy (the server's limit, not the node's).
func testNewsWaiters(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b, func(c *server.Config) { c.Limits.NewsWaiters = 2 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := f.srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	ann, bob := f.client("ann-laptop"), f.client("bob-laptop")
	var wg sync.WaitGroup
	for range 2 { // ann's two keep waiting
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := ann.News(ctx, 1<<40); err != nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	var err error
	waitFor(t, func() bool {
		try, stop := context.WithTimeout(ctx, 300*time.Millisecond)
		defer stop()
		_, err = bob.News(try, 1<<40)
		return errors.Is(err, fieldsync.ErrBusy)
	})
	if errors.Is(err, fieldsync.ErrNodeLimit) {
		t.Fatalf("bob's news with 2 of ann's waiting: %v, want the server's busy", err)
	}
	cancel()
	wg.Wait()
}

// waitFor waits (up to 30 s) until ok.
func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestUploadsAhead(t *testing.T) { testutil.ForBackends(t, testUploadsAhead) }

// testUploadsAhead: an upload numbered past the node's last merged one
// plus the window is refused, before its body is kept.
func testUploadsAhead(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b)
	ctx := context.Background()
	ann := f.client("ann-laptop")
	st, err := ann.Start(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.UploadsAhead != 16 {
		t.Fatalf("state says uploads ahead %d, want 16", st.UploadsAhead)
	}
	_, err = ann.Upload(ctx, st.Session, 1<<40, bytes.NewReader(encodeUpload(t, 1<<40)))
	isNodeLimit(t, err, "too far ahead")
	_, err = ann.Upload(ctx, st.Session, 17, bytes.NewReader(encodeUpload(t, 17)))
	isNodeLimit(t, err, "takes uploads up to 16")
	if _, err := ann.Upload(ctx, st.Session, 16, bytes.NewReader(encodeUpload(t, 16))); err != nil {
		t.Fatalf("upload 16: %v", err)
	}
	if entries, _ := os.ReadDir(f.srv.Docking().Inbox("ann-laptop")); len(entries) != 1 {
		t.Fatalf("ann's server inbox holds %d files, want 1", len(entries))
	}
}

func TestPartialFiles(t *testing.T) { testutil.ForBackends(t, testPartialFiles) }

// testPartialFiles: a node's unfinished file uploads are bounded in count
// and bytes, per node, and dropped once expired.
func testPartialFiles(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b, func(c *server.Config) {
		c.Limits.PartialFiles, c.Limits.PartialBytes, c.Limits.PartialExpire = 2, 1000, time.Hour
	})
	ctx := context.Background()
	ann, bob := f.client("ann-laptop"), f.client("bob-laptop")
	as, err := ann.Start(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := bob.Start(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	piece := func(c *syncproto.Client, session string, content []byte, from, to int) error {
		sum := sha256.Sum256(content)
		ref := fieldsync.FileRef{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(content))}
		_, err := c.UploadFile(ctx, session, ref, int64(from), bytes.NewReader(content[from:to]))
		return err
	}
	a, big, c, d := bytes.Repeat([]byte("a"), 600), bytes.Repeat([]byte("b"), 500), bytes.Repeat([]byte("c"), 300), []byte("dddd")
	if err := piece(ann, as.Session, a, 0, 590); err != nil {
		t.Fatalf("first piece of a: %v", err)
	}
	isNodeLimit(t, piece(ann, as.Session, big, 0, 10), "would pass its limit of 1000 bytes")
	if err := piece(ann, as.Session, c, 0, 10); err != nil {
		t.Fatalf("first piece of c: %v", err)
	}
	isNodeLimit(t, piece(ann, as.Session, d, 0, 2), "2 unfinished file uploads")
	if err := piece(bob, bs.Session, d, 0, 2); err != nil {
		t.Fatalf("bob's piece while ann is at her limit: %v", err)
	}
	if err := piece(ann, as.Session, a, 590, 600); err != nil {
		t.Fatalf("last piece of a: %v", err)
	}
	if err := piece(ann, as.Session, d, 0, 2); err != nil {
		t.Fatalf("a piece of d once a is whole: %v", err)
	}
	// Expiry: pieces an hour old are dropped, at the node's next piece and
	// by the sweep.
	tmp := filepath.Join(f.dataDir, "files", "tmp")
	old := time.Now().Add(-2 * time.Hour)
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "up-") {
			os.Chtimes(filepath.Join(tmp, e.Name()), old, old)
		}
	}
	if err := piece(ann, as.Session, big, 0, 10); err != nil {
		t.Fatalf("a piece once the others expired: %v", err)
	}
	sum := sha256.Sum256(c)
	if have, err := ann.FileHave(ctx, as.Session, fieldsync.FileRef{SHA256: hex.EncodeToString(sum[:]), Size: 300}); err != nil || have != 0 {
		t.Fatalf("expired upload of c: have %d, %v; want it dropped", have, err)
	}
	if n, err := f.srv.Files().ExpirePartials(); err != nil || n != 1 {
		t.Fatalf("sweep removed %d, %v; want bob's expired one", n, err)
	}
}

func TestDailyLimits(t *testing.T) { testutil.ForBackends(t, testDailyLimits) }

// testDailyLimits: once what a node's merged uploads and whole files wrote
// over the last day reaches its limit (rows inserted, bytes), its next
// upload of changes or of a file waits, refused in one line; the other
// nodes go on.
func testDailyLimits(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b, func(c *server.Config) { c.Limits.DailyInserts, c.Limits.DailyBytes = 3, 1500 })
	ctx := context.Background()
	contacts := func(ids ...string) []fieldsync.Txn {
		var out []fieldsync.Txn
		for i, id := range ids {
			out = append(out, fieldsync.Txn{Seq: int64(i + 1), Op: fieldsync.OpInsert, Table: "contact", RowID: id, Origin: "ann-laptop",
				Values: fieldsync.Row{"id": id, "account_id": "acme", "first_name": "Ada"}})
		}
		return out
	}
	f.upload(t, 1, encodeUpload(t, 1, contacts("c1", "c2")...))
	f.upload(t, 2, encodeUpload(t, 2, contacts("c3", "c4")...))
	if r := f.refusals(t); len(r) != 0 {
		t.Fatalf("refusals %v", r)
	}
	ann := f.client("ann-laptop")
	st, err := ann.Start(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ann.Upload(ctx, st.Session, 3, bytes.NewReader(encodeUpload(t, 3, contacts("c5")...)))
	isNodeLimit(t, err, "node ann-laptop inserted 4 rows on the server in the last 24 hours, its limit of 3: its next uploads wait")
	if _, err := f.srv.Store().Get(ctx, "contact", "c5"); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("contact c5 of the refused upload: %v", err)
	}

	// Bob's whole file counts towards his bytes; his next file waits.
	bob := f.client("bob-laptop")
	bs, err := bob.Start(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	send := func(content []byte) error {
		sum := sha256.Sum256(content)
		ref := fieldsync.FileRef{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(content))}
		_, err := bob.UploadFile(ctx, bs.Session, ref, 0, bytes.NewReader(content))
		return err
	}
	if err := send(bytes.Repeat([]byte("a"), 2000)); err != nil {
		t.Fatalf("bob's first file: %v", err)
	}
	isNodeLimit(t, send([]byte("another file")), "node bob-laptop wrote 2000 bytes on the server in the last 24 hours, its limit of 1500")
	if lines := f.logs.lines("refused a node over its daily limit"); len(lines) != 2 {
		t.Fatalf("log lines %v, want one per node", lines)
	}
}
