package hostiletest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/httperr"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/syncproto"
)

// The limits the resource attacks' server runs with: small, so that each
// attack reaches its limit in a few requests.
const (
	capUpload       = 1 << 20   // --max-upload: one upload file, compressed
	capInflated     = 1 << 20   // --max-upload-inflated: one upload, decompressed
	capChanges      = 1000      // --max-upload-changes
	capRequests     = 8         // --node-requests
	capNews         = 2         // --node-news
	capSessions     = 2         // --node-sessions
	capPartials     = 4         // --node-partial-files
	capPartialBytes = 256 << 10 // --node-partial-bytes
)

// resourceFlags are the `fieldsync server` flags of those limits.
func resourceFlags() []string {
	return []string{
		"--max-upload", fmt.Sprint(capUpload),
		"--max-upload-inflated", fmt.Sprint(capInflated),
		"--max-upload-changes", fmt.Sprint(capChanges),
		"--node-requests", fmt.Sprint(capRequests),
		"--node-news", fmt.Sprint(capNews),
		"--node-sessions", fmt.Sprint(capSessions),
		"--node-partial-files", fmt.Sprint(capPartials),
		"--node-partial-bytes", fmt.Sprint(capPartialBytes),
	}
}

// attacker is the hostile node's name: eve's laptop, run by a client of
// her own making.
const attacker = "eve-laptop"

// scene is a real server process with two nodes: ann's laptop (the
// victim, a real client folder) and eve's (the attacker, sending requests
// of its own making). Ann works the Acme account, eve her own Eve Corp.
type scene struct {
	tb     testing.TB
	srv    *serverProc
	admin  *api.Client
	dock   docking.Folder
	victim *client.Client
	eve    *syncproto.Client
	secret string       // eve's
	hc     *http.Client // eve's connections, apart from the victim's
	// bench: the attacks go on until stopped, however long the benchmark
	// measures (in a test they stop after a bounded number of tries).
	bench bool
	made  int // contacts the victim made
}

func newScene(tb testing.TB, bin, db string) *scene {
	tb.Helper()
	ctx := context.Background()
	srv := startServerProc(tb, bin, db, resourceFlags()...)
	s := &scene{tb: tb, srv: srv, admin: &api.Client{BaseURL: srv.url, Token: srv.token}, dock: docking.In(srv.data),
		hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	tb.Cleanup(s.hc.CloseIdleConnections)
	for _, r := range []struct {
		table string
		vals  map[string]any
	}{
		{"employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}},
		{"employee", map[string]any{"id": "eve", "name": "Eve", "login": "eve"}},
		{"position", map[string]any{"id": "p-ann", "employee_id": "ann"}},
		{"position", map[string]any{"id": "p-eve", "employee_id": "eve"}},
		{"account", map[string]any{"id": "acme", "name": "Acme"}},
		{"account_team", map[string]any{"id": "at-ann", "account_id": "acme", "position_id": "p-ann"}},
		{"contact", map[string]any{"id": "c-acme", "account_id": "acme", "first_name": "Ada"}},
		{"opportunity", map[string]any{"id": "deal", "name": "Deal", "account_id": "acme", "stage": "new"}},
		{"opportunity_team", map[string]any{"id": "t-ann", "opportunity_id": "deal", "position_id": "p-ann"}},
		{"account", map[string]any{"id": "evecorp", "name": "Eve Corp"}},
		{"account_team", map[string]any{"id": "at-eve", "account_id": "evecorp", "position_id": "p-eve"}},
		{"contact", map[string]any{"id": "c-eve", "account_id": "evecorp", "first_name": "Eva"}},
	} {
		if _, err := s.admin.Create(ctx, r.table, r.vals); err != nil {
			tb.Fatalf("create %s %s: %v", r.table, r.vals["id"], err)
		}
	}
	ann, err := s.admin.AddNode(ctx, "ann-laptop", "ann")
	if err != nil {
		tb.Fatal(err)
	}
	if s.victim, err = client.Init(ctx, client.Config{Dir: filepath.Join(tb.TempDir(), "ann"), Server: srv.url, Node: "ann-laptop", Secret: ann.Secret}); err != nil {
		tb.Fatalf("client init of the victim: %v", err)
	}
	tb.Cleanup(func() { s.victim.Close() })
	eve, err := s.admin.AddNode(ctx, attacker, "eve")
	if err != nil {
		tb.Fatal(err)
	}
	s.secret = eve.Secret
	s.eve = syncproto.NewClient(srv.url, attacker, eve.Secret, s.hc)
	s.victimSync(false)
	return s
}

// victimSync synchronizes the victim's laptop, after making a new contact
// on its account there when change is set (and attaching a file to a new
// attachment of its deal when attach is set). The sync must succeed, with
// nothing refused. It returns how long the sync took.
func (s *scene) victimSync(change bool, attach ...[]byte) time.Duration {
	s.tb.Helper()
	ctx := context.Background()
	if change {
		s.made++
		id := fmt.Sprintf("v-%d", s.made)
		if _, err := s.victim.Apply(ctx, fieldsync.Insert("contact", map[string]any{"id": id, "account_id": "acme", "first_name": "Vic"})); err != nil {
			s.tb.Fatalf("the victim's new contact: %v", err)
		}
	}
	for i, content := range attach {
		id := fmt.Sprintf("v-att-%d-%d", s.made, i)
		path := filepath.Join(s.tb.TempDir(), id+".txt")
		if err := os.WriteFile(path, content, 0o644); err != nil {
			s.tb.Fatal(err)
		}
		if _, err := s.victim.Apply(ctx, fieldsync.Insert("attachment", map[string]any{"id": id, "opportunity_id": "deal"})); err != nil {
			s.tb.Fatal(err)
		}
		if _, err := s.victim.Attach(ctx, "attachment", id, path, fieldsync.ModePublished); err != nil {
			s.tb.Fatalf("the victim's attachment: %v", err)
		}
	}
	start := time.Now()
	sum, err := s.victim.Sync(ctx, client.SyncOptions{Apply: true})
	took := time.Since(start)
	if err != nil {
		s.tb.Fatalf("the victim's sync: %v", err)
	}
	if len(sum.Refused) > 0 || len(sum.Conflicts) > 0 {
		s.tb.Fatalf("the victim's sync refused %q, conflicts %+v", sum.Refused, sum.Conflicts)
	}
	return took
}

// victimRow reports whether a row is one the victim or its administrator
// writes while the attacks go on: rows compared before and after an attack
// leave them out.
func victimRow(id string) bool {
	return strings.HasPrefix(id, "v-") || strings.HasPrefix(id, "srv-")
}

// rows is every synchronized row of the server (through the API), by
// table and id, but the victim's.
func (s *scene) rows() map[string]map[string]map[string]any {
	s.tb.Helper()
	ctx := context.Background()
	out := map[string]map[string]map[string]any{}
	for _, t := range schema.Default().Tables {
		out[t.Name] = map[string]map[string]any{}
		for after := ""; ; {
			page, err := s.admin.List(ctx, t.Name, nil, after, 1000)
			if err != nil {
				s.tb.Fatalf("list %s: %v", t.Name, err)
			}
			for _, r := range page.Rows {
				if id, _ := r["id"].(string); !victimRow(id) {
					out[t.Name][id] = r
				}
			}
			if after = page.Next; after == "" {
				break
			}
		}
	}
	return out
}

// sameRows fails when rows other than the victim's changed since before.
func (s *scene) sameRows(what string, before map[string]map[string]map[string]any) {
	s.tb.Helper()
	after := s.rows()
	for table, rows := range before {
		if !reflect.DeepEqual(rows, after[table]) {
			s.tb.Errorf("%s: the server's %s rows changed\nbefore: %v\n after: %v", what, table, rows, after[table])
		}
	}
}

// eveSession starts a session of the attacker.
func (s *scene) eveSession(ctx context.Context) (syncproto.State, error) {
	st, err := s.eve.Start(ctx, 0)
	if err != nil {
		return st, fmt.Errorf("start a session of %s: %w", attacker, err)
	}
	return st, nil
}

// outcome waits until the attacker's upload n is merged or refused, and
// returns its refusal's reason ("" when it was merged).
func (s *scene) outcome(ctx context.Context, session string, n int64) (string, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := s.eve.Settled(ctx, session, n-1, n, 0)
		if err != nil {
			return "", err
		}
		if st.LastMerged >= n {
			for _, r := range st.Refused {
				if r.Number == n {
					return r.Reason, nil
				}
			}
			return "", nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("upload %d of %s neither merged nor refused within a minute", n, attacker)
		}
	}
}

// uploadFile is an upload file of the attacker's, numbered n, made with
// the project's dx writer as a modified client would: the transactions
// next gives, until it gives false.
func uploadFile(n int64, next func(i int) (fieldsync.Txn, bool)) ([]byte, error) {
	var buf bytes.Buffer
	w := dx.NewWriter(&buf, dx.Header{Kind: dx.KindUpload, Node: attacker, Number: uint64(n)})
	for i := 0; ; i++ {
		t, ok := next(i)
		if !ok {
			break
		}
		t.Seq, t.Origin = int64(i+1), attacker
		if err := w.Write(t); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// zipBomb is an upload numbered n whose body inflates to about inflated
// bytes: a contact of eve's own account, then updates of another one's
// email with 16 MiB of one letter each, which compress to almost nothing.
func zipBomb(n int64, inflated int) ([]byte, error) {
	const per = 16 << 20
	big := strings.Repeat("a", min(per, inflated))
	return uploadFile(n, func(i int) (fieldsync.Txn, bool) {
		if i == 0 {
			return ins("contact", "eve-bomb", map[string]any{"account_id": "evecorp", "first_name": "Bo"}), true
		}
		return upd("contact", "c-eve", map[string]any{"email": big}), (i-1)*len(big) < inflated
	})
}

// refusal checks that err is the server's answer with the status, the
// code and exactly the one-line message msg, and a Retry-After when the
// status is 429.
func refusal(err error, status int, code, msg string) error {
	var he *httperr.Error
	switch {
	case !errors.As(err, &he):
		return fmt.Errorf("got %v, want %d %s %q", err, status, code, msg)
	case he.Status != status || he.Code != code || he.Msg != msg:
		return fmt.Errorf("got %d %s %q, want %d %s %q", he.Status, he.Code, he.Msg, status, code, msg)
	case status == http.StatusTooManyRequests && he.RetryAfter <= 0:
		return fmt.Errorf("%d %q came without a Retry-After", he.Status, he.Msg)
	}
	return nil
}

// inboxTemps is how many upload files of the attacker the server is
// receiving (their temporary files in its server inbox).
func (s *scene) inboxTemps() int {
	tmp, _ := filepath.Glob(filepath.Join(s.dock.Inbox(attacker), ".tmp-*"))
	return len(tmp)
}

// waitUntil polls cond (every 20 ms, for 30 s at most) and says what
// did not come to pass.
func waitUntil(what string, cond func() bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within 30 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// stalled is an upload of the attacker's whose body stops coming after
// its first kilobyte, declared at 512 KiB (so that a refusal answered
// before the body is read closes the connection instead of waiting for
// the rest); it stays open until release.
type stalled struct {
	body     *stallingBody
	finished chan struct{} // closed once answered
	answer   error         // then: nil for 200, else the error
}

type stallingBody struct {
	sent    bool
	release chan struct{}
	once    sync.Once
}

var errReleased = errors.New("the attacker let go of its upload")

func (b *stallingBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, make([]byte, min(len(p), 1<<10))), nil
	}
	<-b.release
	return 0, errReleased
}

// stallUpload starts a stalled upload numbered n in the attacker's session.
func (s *scene) stallUpload(session string, n int64) *stalled {
	u := &stalled{body: &stallingBody{release: make(chan struct{})}, finished: make(chan struct{})}
	req, err := http.NewRequest(http.MethodPut, s.srv.url+syncproto.UploadPath(n), u.body)
	if err != nil {
		u.answer = err
		close(u.finished)
		return u
	}
	req.ContentLength = 512 << 10
	req.SetBasicAuth(attacker, s.secret)
	req.Header.Set(syncproto.HeaderSession, session)
	req.Header.Set("Content-Type", "application/octet-stream")
	go func() {
		defer close(u.finished)
		resp, err := s.hc.Do(req)
		if err == nil {
			if httperr.Failed(resp) {
				err = httperr.Read(resp)
			} else {
				resp.Body.Close()
			}
		}
		u.answer = err
	}()
	return u
}

// answered reports whether the server answered the upload (or its
// connection broke).
func (u *stalled) answered() bool {
	select {
	case <-u.finished:
		return true
	default:
		return false
	}
}

// release lets go of the upload and waits for its end.
func (u *stalled) release() {
	u.body.once.Do(func() { close(u.body.release) })
	<-u.finished
}

// errList gathers what went wrong in an attack's goroutines.
type errList struct {
	mu   sync.Mutex
	errs []error
}

func (l *errList) add(err error) {
	if err == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) < 20 {
		l.errs = append(l.errs, err)
	}
}

func (l *errList) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.errs...)
}

// loop runs an attacker's try over and over in a goroutine until ended
// (at least least times, at most most), stopping at its first error.
type loop struct {
	stop  chan struct{}
	done  chan struct{}
	tries int
	err   error
}

func (s *scene) loop(least, most int, try func(i int) error) *loop {
	if s.bench {
		most = 1 << 30
	}
	l := &loop{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for l.tries < most {
			if l.tries >= least {
				select {
				case <-l.stop:
					return
				default:
				}
			}
			l.tries++
			if l.err = try(l.tries - 1); l.err != nil {
				return
			}
		}
	}()
	return l
}

// end stops the loop and returns how many tries it made and its error.
func (l *loop) end() (int, error) {
	close(l.stop)
	<-l.done
	return l.tries, l.err
}

// randomRef is a reference to a file no one has.
func randomRef(size int64) fieldsync.FileRef {
	var b [32]byte
	rand.Read(b[:])
	return fieldsync.FileRef{SHA256: hex.EncodeToString(b[:]), Size: size}
}

// partials are the attacker's unfinished file uploads the server holds:
// how many, and their bytes.
func (s *scene) partials() (int, int64) {
	entries, _ := os.ReadDir(filepath.Join(s.srv.data, "files", "tmp"))
	n, bytes := 0, int64(0)
	for _, e := range entries {
		sha, ok := strings.CutPrefix(e.Name(), "up-"+attacker+"-")
		if !ok || len(sha) != 64 {
			continue
		}
		if info, err := e.Info(); err == nil {
			n++
			bytes += info.Size()
		}
	}
	return n, bytes
}

// percentile is the p-th percentile (0 < p <= 100) of the durations.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
