package syncmgr_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncproto"
)

// records is a slog handler that keeps what is logged, for tests that
// count log lines.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *records) WithGroup(string) slog.Handler            { return h }

func (h *records) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return nil
}

// lines returns the attributes of every record logged with msg.
func (h *records) lines(msg string) []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]string
	for _, r := range h.recs {
		if r.Message != msg {
			continue
		}
		attrs := map[string]string{}
		r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
		out = append(out, attrs)
	}
	return out
}

// fleet is a running server with two registered nodes whose employees'
// positions are on the team of account "acme".
type fleet struct {
	srv     *server.Server
	url     string
	dataDir string
	admin   *api.Client
	secrets map[string]string // node name to secret
	logs    *records
}

func startFleet(t *testing.T, b testutil.Backend) *fleet {
	t.Helper()
	f := &fleet{dataDir: t.TempDir(), secrets: map[string]string{}, logs: &records{}}
	f.srv, f.url = testutil.StartServer(t, server.Config{DB: b.DB(t), DataDir: f.dataDir, Logger: slog.New(f.logs)})
	f.admin = &api.Client{BaseURL: f.url, Token: f.srv.Token()}
	ctx := context.Background()
	for _, r := range []struct {
		table string
		vals  map[string]any
	}{
		{"employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}},
		{"employee", map[string]any{"id": "bob", "name": "Bob", "login": "bob"}},
		{"position", map[string]any{"id": "p-ann", "name": "East", "employee_id": "ann"}},
		{"position", map[string]any{"id": "p-bob", "name": "West", "employee_id": "bob"}},
		{"account", map[string]any{"id": "acme", "name": "Acme"}},
		{"account_team", map[string]any{"id": "t-ann", "account_id": "acme", "position_id": "p-ann"}},
	} {
		if _, err := f.admin.Create(ctx, r.table, r.vals); err != nil {
			t.Fatalf("create %s: %v", r.table, err)
		}
	}
	for node, emp := range map[string]string{"ann-laptop": "ann", "bob-laptop": "bob"} {
		added, err := f.admin.AddNode(ctx, node, emp)
		if err != nil {
			t.Fatal(err)
		}
		f.secrets[node] = added.Secret
	}
	return f
}

func TestTextRefusedFromNodes(t *testing.T) { testutil.ForBackends(t, testTextRefusedFromNodes) }

// testTextRefusedFromNodes: an upload whose text is not valid UTF-8, or
// holds a NUL byte, is refused with a line naming the table, row and
// column, and nothing of it is stored.
func testTextRefusedFromNodes(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b)
	values := []string{"Acme\xff", "Acme\x00Corp"}
	for i, v := range values {
		f.upload(t, int64(i+1), encodeUpload(t, int64(i+1), fieldsync.Txn{Seq: 1, Op: fieldsync.OpUpdate, Table: "account", RowID: "acme",
			Values: fieldsync.Row{"name": v}, Prev: fieldsync.Row{"name": "Acme"}, Origin: "ann-laptop", Time: time.Now()}))
	}
	refused := f.refusals(t)
	want := []string{`account row "acme": column name: text is not valid UTF-8 (byte 0xff at byte 4)`,
		`account row "acme": column name: text holds a NUL byte at byte 4`}
	for i, w := range want {
		if !strings.Contains(refused[int64(i+1)], w) {
			t.Errorf("upload %d refused with %q, want it to say %q", i+1, refused[int64(i+1)], w)
		}
	}
	row, err := f.admin.Get(context.Background(), "account", "acme")
	if err != nil || row["name"] != "Acme" {
		t.Fatalf("account acme on the server: %v, %v", row, err)
	}
}

func TestDamagedUploadReasonNamesNoPath(t *testing.T) {
	testutil.ForBackends(t, testDamagedUploadReasonNamesNoPath)
}

// testDamagedUploadReasonNamesNoPath: an upload that passes the checksum
// but whose body is damaged is refused by the merger with a reason that
// names the node's upload, not a path on the server.
func testDamagedUploadReasonNamesNoPath(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b)
	data := encodeUpload(t, 1, fieldsync.Txn{Seq: 1, Op: fieldsync.OpUpdate, Table: "account", RowID: "acme",
		Values: fieldsync.Row{"industry": "retail"}, Origin: "ann-laptop", Time: time.Now()})
	// The trailer announces two transactions, and is checksummed again.
	binary.LittleEndian.PutUint64(data[len(data)-20:], 2)
	binary.LittleEndian.PutUint32(data[len(data)-4:], crc32.Checksum(data[:len(data)-4], crc32.MakeTable(crc32.Castagnoli)))
	f.upload(t, 1, data)
	reason := f.refusals(t)[1]
	if !strings.HasPrefix(reason, "upload 1: ") || !strings.Contains(reason, "trailer counts 2 transactions") ||
		strings.Contains(reason, f.dataDir) || strings.Contains(reason, "/") {
		t.Fatalf("refusal reason %q: want it to name upload 1 and no server path", reason)
	}
}

// encodeUpload writes an upload file of ann-laptop's as a modified client
// would: the dx format carries any bytes as text.
func encodeUpload(t *testing.T, number int64, txns ...fieldsync.Txn) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := dx.NewWriter(&buf, dx.Header{Kind: dx.KindUpload, Node: "ann-laptop", Number: uint64(number)})
	for _, tx := range txns {
		if err := w.Write(tx); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// upload sends one upload file of ann-laptop's in a session of its own.
func (f *fleet) upload(t *testing.T, number int64, data []byte) {
	t.Helper()
	ctx := context.Background()
	c := syncproto.NewClient(f.url, "ann-laptop", f.secrets["ann-laptop"], nil)
	st, err := c.Start(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upload(ctx, st.Session, number, bytes.NewReader(data)); err != nil {
		t.Fatalf("upload %d: %v", number, err)
	}
	if _, err := c.End(ctx, st.Session, ""); err != nil {
		t.Fatal(err)
	}
}

// refusals waits for the merger and returns ann-laptop's refused uploads'
// reasons, by number, as its next session reports them.
func (f *fleet) refusals(t *testing.T) map[int64]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	c := syncproto.NewClient(f.url, "ann-laptop", f.secrets["ann-laptop"], nil)
	st, err := c.Start(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.End(ctx, st.Session, "")
	out := map[int64]string{}
	for _, r := range st.Refused {
		out[r.Number] = r.Reason
	}
	return out
}
