package syncmgr_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/httperr"
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

func startFleet(t *testing.T, b testutil.Backend, tune ...func(*server.Config)) *fleet {
	t.Helper()
	f := &fleet{dataDir: t.TempDir(), secrets: map[string]string{}, logs: &records{}}
	cfg := server.Config{DB: b.DB(t), DataDir: f.dataDir, Logger: slog.New(f.logs)}
	for _, fn := range tune {
		fn(&cfg)
	}
	f.srv, f.url = testutil.StartServer(t, cfg)
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

// answer is what a login attempt got back.
type answer struct {
	status     int
	body       string
	retryAfter string
}

// login starts a session as a modified client would, with raw HTTP.
func (f *fleet) login(t *testing.T, name, secret string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.url+syncproto.StartPath(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(name, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(body), resp.Header.Get("Retry-After")}
}

func TestBadLoginsLookAlike(t *testing.T) { testutil.ForBackends(t, testBadLoginsLookAlike) }

// testBadLoginsLookAlike: an unknown node, a wrong secret and a name no
// node can have get the same answer, byte for byte; the server's log says
// which it was.
func testBadLoginsLookAlike(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b)
	unknown := f.login(t, "ghost", "x")
	wrong := f.login(t, "ann-laptop", "wrong")
	odd := f.login(t, "Not a name\xff\x00", "x")
	if unknown.status != http.StatusUnauthorized || !strings.Contains(unknown.body, `"unknown node or wrong secret"`) ||
		!strings.Contains(unknown.body, `"code": "unauthorized"`) {
		t.Fatalf("unknown node: %+v", unknown)
	}
	if wrong != unknown || odd != unknown {
		t.Fatalf("answers differ:\nunknown %+v\nwrong   %+v\nodd     %+v", unknown, wrong, odd)
	}
	if got := f.login(t, "ann-laptop", f.secrets["ann-laptop"]); got.status != http.StatusOK {
		t.Fatalf("correct login: %+v", got)
	}
	reasons := map[string]string{}
	for _, l := range f.logs.lines("refused login") {
		reasons[l["node"]] = l["reason"]
	}
	if reasons[`"ghost"`] != "unknown node" || reasons[`"ann-laptop"`] != "wrong secret" {
		t.Fatalf("log says %v", reasons)
	}
}

func TestFailedLoginsSlowed(t *testing.T) { testutil.ForBackends(t, testFailedLoginsSlowed) }

// testFailedLoginsSlowed: a node name that keeps failing is answered
// "retry later" (429, Retry-After) without its secret being checked, while
// another node logs in at once; after the wait a correct login clears it.
func testFailedLoginsSlowed(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b)
	var got answer
	tries := 0
	for tries = 1; tries <= 12; tries++ {
		if got = f.login(t, "ann-laptop", "guess"); got.status != http.StatusUnauthorized {
			break
		}
	}
	if got.status != http.StatusTooManyRequests || tries < 6 || got.retryAfter == "" ||
		!strings.Contains(got.body, `"code": "throttled"`) ||
		!strings.Contains(got.body, "too many failed logins for this name or from this address: retry in "+got.retryAfter+" s") {
		t.Fatalf("attempt %d: %+v, want 429 throttled after 5 free failures", tries, got)
	}
	if right := f.login(t, "ann-laptop", f.secrets["ann-laptop"]); right.status != http.StatusTooManyRequests {
		t.Fatalf("a correct secret while the name waits: %+v, want it unchecked (429)", right)
	}
	if other := f.login(t, "bob-laptop", f.secrets["bob-laptop"]); other.status != http.StatusOK {
		t.Fatalf("another node's correct login: %+v", other)
	}
	c := syncproto.NewClient(f.url, "ann-laptop", "guess", nil)
	_, err := c.Start(context.Background(), 0)
	var he *httperr.Error
	if !errors.Is(err, fieldsync.ErrThrottled) || !errors.As(err, &he) || he.RetryAfter < time.Second {
		t.Fatalf("Go client: %#v, want ErrThrottled with its Retry-After", err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got = f.login(t, "ann-laptop", f.secrets["ann-laptop"])
		if got.status != http.StatusTooManyRequests || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got.status != http.StatusOK {
		t.Fatalf("correct login after the wait: %+v", got)
	}
	if again := f.login(t, "ann-laptop", "guess"); again.status != http.StatusUnauthorized {
		t.Fatalf("a failure after a correct login: %+v, want it checked (401)", again)
	}
}

func TestFailedLoginLogLimited(t *testing.T) { testutil.ForBackends(t, testFailedLoginLogLimited) }

// testFailedLoginLogLimited: a flood of made-up names from one address
// logs a few lines, not one a guess.
func testFailedLoginLogLimited(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b)
	rnd := rand.New(rand.NewPCG(7, 7))
	statuses := map[int]int{}
	for range 60 {
		statuses[f.login(t, fmt.Sprintf("n%x", rnd.Uint64()), "x").status]++
	}
	if statuses[http.StatusUnauthorized] < 20 || statuses[http.StatusTooManyRequests] == 0 {
		t.Fatalf("answers %v: want the address slowed after 20 failures", statuses)
	}
	if lines := f.logs.lines("refused login"); len(lines) != 5 {
		t.Fatalf("%d log lines for 60 failed logins, want 5: %v", len(lines), lines)
	}
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
// but whose body is damaged, sent twice, is refused by the merger with a
// reason that names the node's upload, not a path on the server.
func testDamagedUploadReasonNamesNoPath(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b)
	data := encodeUpload(t, 1, fieldsync.Txn{Seq: 1, Op: fieldsync.OpUpdate, Table: "account", RowID: "acme",
		Values: fieldsync.Row{"industry": "retail"}, Origin: "ann-laptop", Time: time.Now()})
	// The trailer announces two transactions, and is checksummed again.
	binary.LittleEndian.PutUint64(data[len(data)-20:], 2)
	binary.LittleEndian.PutUint32(data[len(data)-4:], crc32.Checksum(data[:len(data)-4], crc32.MakeTable(crc32.Castagnoli)))
	// The first time, the merger sets the file aside and waits for the
	// node to send it again (a copy damaged on the server's disk); sent
	// damaged again, it is refused.
	f.upload(t, 1, data)
	if r := f.refusals(t); len(r) != 0 {
		t.Fatalf("refused at the first damage: %v", r)
	}
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
	for _, r := range st.RefusedChanges { // refused alone, the rest merged
		out[r.Upload] = strings.TrimPrefix(out[r.Upload]+"\n"+r.Reason, "\n")
	}
	return out
}
