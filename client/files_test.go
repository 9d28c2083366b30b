package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// TestAttachmentFiles: a published file reaches the node that sees its row
// and not the other; a requested one only after the user asks; a row that
// stops being visible takes its file with it.
func TestAttachmentFiles(t *testing.T) { testutil.ForBackends(t, testAttachmentFiles) }

func testAttachmentFiles(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	ann, bob, opp := base(t, w)
	w.create("attachment", map[string]any{"id": "pub", "opportunity_id": opp})
	w.create("attachment", map[string]any{"id": "req", "opportunity_id": opp})
	proposal := bytes.Repeat([]byte("proposal "), 5000)
	prices := bytes.Repeat([]byte("price sheet "), 3000)
	if _, err := w.api.Attach(ctx, "attachment", "pub", bytes.NewReader(proposal), "proposal.pdf", "published"); err != nil {
		t.Fatal(err)
	}
	row, err := w.api.Attach(ctx, "attachment", "req", bytes.NewReader(prices), "prices.pdf", "requested")
	if err != nil {
		t.Fatal(err)
	}
	reqRef, _ := fieldsync.ParseFileRef(row["file"].(string))
	w.settle()
	sum := syncWait(t, ann)
	if sum.Files != 1 {
		t.Fatalf("ann fetched %d files, want the published one", sum.Files)
	}
	pubRow, _ := has(t, ann, "attachment", "pub")
	pubRef, _ := fieldsync.ParseFileRef(pubRow["file"].(string))
	if got, err := os.ReadFile(ann.FilePath(pubRef)); err != nil || !bytes.Equal(got, proposal) {
		t.Fatalf("ann's copy of the published file: %v", err)
	}
	if _, err := os.Stat(ann.FilePath(reqRef)); err == nil {
		t.Fatal("ann got a requested file nobody asked for")
	}
	if st, _ := ann.Status(ctx); st.FilesPending != 0 {
		t.Fatalf("files pending %d", st.FilesPending)
	}
	// Bob does not see the opportunity: no rows, no files.
	if s := syncWait(t, bob); s.Files != 0 {
		t.Fatalf("bob fetched %d files", s.Files)
	}
	// Ann asks for the requested file; it comes at the next sync.
	if err := ann.Request(ctx, "attachment", "req"); err != nil {
		t.Fatal(err)
	}
	if st, _ := ann.Status(ctx); st.FilesPending != 1 || len(st.Requested) != 1 {
		t.Fatalf("status after the request: %+v", st)
	}
	syncWait(t, ann)
	if got, err := os.ReadFile(ann.FilePath(reqRef)); err != nil || !bytes.Equal(got, prices) {
		t.Fatalf("ann's copy of the requested file: %v", err)
	}
	// Ann leaves the team: the rows go, and their files with them.
	if err := w.api.Delete(ctx, "opportunity_team", "t-ann"); err != nil {
		t.Fatal(err)
	}
	w.settle()
	syncWait(t, ann)
	for _, ref := range []fieldsync.FileRef{pubRef, reqRef} {
		if _, err := os.Stat(ann.FilePath(ref)); err == nil {
			t.Errorf("file %s kept after its row stopped being visible", ref)
		}
	}
}

// TestOfflineAttachment: a file a field user attaches offline goes up with
// its row at the next sync and on to the other nodes that see the row.
func TestOfflineAttachment(t *testing.T) { testutil.ForBackends(t, testOfflineAttachment) }

func testOfflineAttachment(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	ann, bob, opp := base(t, w)
	w.create("opportunity_team", map[string]any{"opportunity_id": opp, "position_id": "p-bob"})
	w.settle()
	syncWait(t, ann)
	path := filepath.Join(t.TempDir(), "visit-notes.txt")
	notes := bytes.Repeat([]byte("met the buyer; "), 2000)
	if err := os.WriteFile(path, notes, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ann.Apply(ctx, fieldsync.Insert("attachment", map[string]any{"id": "notes", "opportunity_id": opp})); err != nil {
		t.Fatal(err)
	}
	row, err := ann.Attach(ctx, "attachment", "notes", path, "published")
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := fieldsync.ParseFileRef(row["file"].(string))
	if st, _ := ann.Status(ctx); st.FilesToUpload != 1 {
		t.Fatalf("files to upload before the sync: %d", st.FilesToUpload)
	}
	roundTrip(t, w, ann)
	if st, _ := ann.Status(ctx); st.FilesToUpload != 0 {
		t.Fatalf("files to upload after the sync: %d", st.FilesToUpload)
	}
	var got bytes.Buffer
	if _, err := w.api.Fetch(ctx, "attachment", "notes", &got, 0); err != nil || !bytes.Equal(got.Bytes(), notes) {
		t.Fatalf("the server's copy of ann's file: %v", err)
	}
	w.settle()
	if s := syncWait(t, bob); s.Files != 1 {
		t.Fatalf("bob fetched %d files", s.Files)
	}
	if data, err := os.ReadFile(bob.FilePath(ref)); err != nil || !bytes.Equal(data, notes) {
		t.Fatalf("bob's copy of ann's file: %v", err)
	}
}

// TestBroadcastFile: a broadcast attachment reaches every node, with its
// file, whatever the node sees otherwise.
func TestBroadcastFile(t *testing.T) { testutil.ForBackends(t, testBroadcastFile) }

func testBroadcastFile(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	_, bob, opp := base(t, w) // bob is not on the opportunity's team
	w.create("attachment", map[string]any{"id": "prices", "opportunity_id": opp})
	sheet := bytes.Repeat([]byte("price list "), 4000)
	row, err := w.api.Attach(ctx, "attachment", "prices", bytes.NewReader(sheet), "prices.pdf", "broadcast")
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := fieldsync.ParseFileRef(row["file"].(string))
	w.settle()
	syncWait(t, bob)
	if _, ok := has(t, bob, "attachment", "prices"); !ok {
		t.Fatal("bob lacks the broadcast attachment")
	}
	if _, ok := has(t, bob, "opportunity", opp); ok {
		t.Fatal("bob got the opportunity along with the broadcast attachment")
	}
	if data, err := os.ReadFile(bob.FilePath(ref)); err != nil || !bytes.Equal(data, sheet) {
		t.Fatalf("bob's copy of the broadcast file: %v", err)
	}
	// Back to published: bob, who does not see the opportunity, loses it.
	if _, err := w.api.Update(ctx, "attachment", "prices", map[string]any{"mode": "published"}); err != nil {
		t.Fatal(err)
	}
	w.settle()
	syncWait(t, bob)
	if _, ok := has(t, bob, "attachment", "prices"); ok {
		t.Fatal("bob kept an attachment that is no longer broadcast")
	}
	if _, err := os.Stat(bob.FilePath(ref)); err == nil {
		t.Fatal("bob kept the file of an attachment he no longer sees")
	}
}

// cutProxy forwards TCP connections to target, and cuts each of the first
// `cuts` connections once it has carried limit bytes towards the client.
type cutProxy struct {
	ln     net.Listener
	target string
	limit  int64
	upward bool // cut what the client sends, not what it receives
	mu     sync.Mutex
	cuts   int
	cut    int
}

func newCutProxy(t *testing.T, target string, limit int64, cuts int) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, limit: limit, cuts: cuts}
	t.Cleanup(func() { ln.Close() })
	go p.serve()
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *cutProxy) handle(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	p.mu.Lock()
	cutThis := p.cut < p.cuts
	p.mu.Unlock()
	src, dst := up, c // the direction that may be cut
	if p.upward {
		src, dst = c, up
	}
	go io.Copy(src, dst)
	if !cutThis {
		io.Copy(dst, src)
		return
	}
	n, _ := io.CopyN(dst, src, p.limit)
	if n == p.limit {
		p.mu.Lock()
		p.cut++
		p.mu.Unlock()
	}
}

// TestFileTransferResumes: a connection cut halfway through a file's
// download is resumed from where it broke, not started over.
func TestFileTransferResumes(t *testing.T) { testutil.ForBackends(t, testFileTransferResumes) }

func testFileTransferResumes(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	w.create("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
	w.create("position", map[string]any{"id": "p-ann", "employee_id": "ann"})
	w.create("account", map[string]any{"id": "acme", "name": "Acme"})
	w.create("opportunity", map[string]any{"id": "deal", "name": "Deal", "account_id": "acme"})
	w.create("opportunity_team", map[string]any{"opportunity_id": "deal", "position_id": "p-ann"})
	w.create("attachment", map[string]any{"id": "big", "opportunity_id": "deal"})
	content := make([]byte, 4<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range content {
		content[i] = byte(rng.Uint32())
	}
	row, err := w.api.Attach(ctx, "attachment", "big", bytes.NewReader(content), "big.bin", "published")
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := fieldsync.ParseFileRef(row["file"].(string))
	added, err := w.api.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		t.Fatal(err)
	}
	w.settle()
	// The proxy cuts the one connection that carries most of the file.
	proxy := newCutProxy(t, strings.TrimPrefix(w.url, "http://"), 2<<20, 1)
	c, err := client.Init(ctx, client.Config{Dir: filepath.Join(t.TempDir(), "ann"), Server: "http://" + proxy.ln.Addr().String(),
		Node: "ann-laptop", Secret: added.Secret, HTTP: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	proxy.mu.Lock()
	proxy.cut = 0 // the extract went through uncut (it is small); cut the file
	proxy.mu.Unlock()
	if _, err := c.Sync(ctx, client.SyncOptions{Apply: true}); err == nil {
		t.Fatal("the cut transfer did not fail")
	}
	part, _ := filepath.Glob(filepath.Join(c.Dir(), "files", ".part-*"))
	if len(part) != 1 {
		t.Fatalf("no partial download kept: %v", part)
	}
	info, _ := os.Stat(part[0])
	if info.Size() == 0 || info.Size() >= int64(len(content)) {
		t.Fatalf("partial download of %d bytes", info.Size())
	}
	sum, err := c.Sync(ctx, client.SyncOptions{Apply: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.FileBytes != int64(len(content))-info.Size() {
		t.Fatalf("second sync fetched %d bytes of the file, want only the %d missing", sum.FileBytes, int64(len(content))-info.Size())
	}
	if got, err := os.ReadFile(c.FilePath(ref)); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("resumed file differs: %v", err)
	}
}

// TestNodeFileLimit: a published file larger than the server's per-node
// limit is offered as requested: it comes only once the user asks.
func TestNodeFileLimit(t *testing.T) { testutil.ForBackends(t, testNodeFileLimit) }

func testNodeFileLimit(t *testing.T, b testutil.Backend) {
	w := newWorldWith(t, b, nil, func(c *server.Config) { c.NodeFileLimit = 1000 })
	ctx := context.Background()
	ann, _, opp := base(t, w)
	w.create("attachment", map[string]any{"id": "small", "opportunity_id": opp})
	w.create("attachment", map[string]any{"id": "large", "opportunity_id": opp})
	if _, err := w.api.Attach(ctx, "attachment", "small", bytes.NewReader(make([]byte, 500)), "s.bin", "published"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.api.Attach(ctx, "attachment", "large", bytes.NewReader(bytes.Repeat([]byte("L"), 5000)), "l.bin", "published"); err != nil {
		t.Fatal(err)
	}
	w.settle()
	if sum := syncWait(t, ann); sum.Files != 1 {
		t.Fatalf("fetched %d files, want only the small one", sum.Files)
	}
	if err := ann.Request(ctx, "attachment", "large"); err != nil {
		t.Fatal(err)
	}
	if sum := syncWait(t, ann); sum.Files != 1 || sum.FileBytes != 5000 {
		t.Fatalf("after the request: %d files, %d bytes", sum.Files, sum.FileBytes)
	}
}

// TestFileUploadResumes: an offline attachment's upload cut halfway goes
// on from what the server holds at the next sync.
func TestFileUploadResumes(t *testing.T) { testutil.ForBackends(t, testFileUploadResumes) }

func testFileUploadResumes(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	ann, _, opp := base(t, w)
	syncWait(t, ann)
	content := bytes.Repeat([]byte("field photo "), 400_000) // 4.8 MB
	path := filepath.Join(t.TempDir(), "photo.jpg")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	apply(t, ann, fieldsync.Insert("attachment", map[string]any{"id": "photo", "opportunity_id": opp}))
	row, err := ann.Attach(ctx, "attachment", "photo", path, "published")
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := fieldsync.ParseFileRef(row["file"].(string))
	proxy := newCutProxy(t, strings.TrimPrefix(w.url, "http://"), 2<<20, 1)
	proxy.upward = true
	cut, err := client.Open(ctx, ann.Dir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cut.Close()
	cut.SetServer("http://"+proxy.ln.Addr().String(), &http.Client{Transport: &http.Transport{DisableKeepAlives: true}})
	if _, err := cut.Sync(ctx, client.SyncOptions{Apply: true}); err == nil {
		t.Fatal("the cut upload did not fail")
	}
	// The server may still be receiving what the proxy let through when
	// the client saw the cut.
	have := int64(0)
	for deadline := time.Now().Add(5 * time.Second); have == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		have = w.srv.Files().Have("ann-laptop", ref)
	}
	if have == 0 || have >= ref.Size {
		t.Fatalf("server holds %d of %d bytes after the cut", have, ref.Size)
	}
	// (The server may still be writing what was in flight when the client
	// saw the cut, so it may hold a little more than have by now.)
	sum := syncWait(t, ann)
	if sum.UpBytes == 0 || sum.UpBytes > ref.Size-have+64<<10 {
		t.Fatalf("second sync sent %d bytes; at most the rest of the file (%d) and the upload were left", sum.UpBytes, ref.Size-have)
	}
	w.settle()
	var got bytes.Buffer
	if _, err := w.api.Fetch(ctx, "attachment", "photo", &got, 0); err != nil || !bytes.Equal(got.Bytes(), content) {
		t.Fatalf("the server's copy: %v (%d bytes)", err, got.Len())
	}
}

// TestCorruptedDownloadRefused: a download whose bytes do not match the
// file's hash is refused and discarded, and the next sync fetches it again.
func TestCorruptedDownloadRefused(t *testing.T) {
	testutil.ForBackends(t, testCorruptedDownloadRefused)
}

func testCorruptedDownloadRefused(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ctx := context.Background()
	ann, _, opp := base(t, w)
	w.create("attachment", map[string]any{"id": "doc", "opportunity_id": opp})
	content := bytes.Repeat([]byte("contract "), 10_000)
	row, err := w.api.Attach(ctx, "attachment", "doc", bytes.NewReader(content), "c.pdf", "published")
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := fieldsync.ParseFileRef(row["file"].(string))
	w.settle()
	// A damaged partial download from an earlier, broken sync.
	os.MkdirAll(filepath.Join(ann.Dir(), "files"), 0o700)
	part := filepath.Join(ann.Dir(), "files", ".part-"+ref.SHA256)
	if err := os.WriteFile(part, bytes.Repeat([]byte("garbage "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ann.Sync(ctx, client.SyncOptions{Apply: true})
	if !errors.Is(err, fieldsync.ErrDamagedFile) || !strings.Contains(err.Error(), "does not match its reference") {
		t.Fatalf("sync with a damaged download: %v", err)
	}
	if _, err := os.Stat(ann.FilePath(ref)); err == nil {
		t.Fatal("a damaged file was kept")
	}
	syncWait(t, ann)
	if got, err := os.ReadFile(ann.FilePath(ref)); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("the file after a clean retry: %v", err)
	}
}

// TestOversizedNodeFile: a file attached offline that is larger than the
// server's limit is refused when it goes up.
func TestOversizedNodeFile(t *testing.T) { testutil.ForBackends(t, testOversizedNodeFile) }

func testOversizedNodeFile(t *testing.T, b testutil.Backend) {
	w := newWorldWith(t, b, nil, func(c *server.Config) { c.MaxFileBytes = 10_000 })
	ctx := context.Background()
	ann, _, opp := base(t, w)
	syncWait(t, ann)
	path := filepath.Join(t.TempDir(), "huge.bin")
	os.WriteFile(path, make([]byte, 50_000), 0o644)
	apply(t, ann, fieldsync.Insert("attachment", map[string]any{"id": "huge", "opportunity_id": opp}))
	if _, err := ann.Attach(ctx, "attachment", "huge", path, ""); err != nil {
		t.Fatal(err)
	}
	_, err := ann.Sync(ctx, client.SyncOptions{Apply: true})
	if !errors.Is(err, fieldsync.ErrTooLarge) || !strings.Contains(err.Error(), "larger than the limit of 10000 bytes") {
		t.Fatalf("sync with an oversized file: %v", err)
	}
}
