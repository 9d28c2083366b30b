package hostiletest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/syncproto"
)

// memoryBound is what the server process's peak resident memory must stay
// under through all the attacks: the zip bomb alone inflates past it.
const memoryBound = 300 << 20

// bombInflated is what the test's first zip bomb inflates to: far past
// the server's cap, and past memoryBound.
const bombInflated = 320 << 20

// resourceAttack is one attack of eve's node on what the server has for
// all nodes. start begins it (bomb, when not nil, is a zip bomb made
// beforehand for the attacker's first upload); it goes on (in a test, for
// a bounded number of tries) until the returned stop is called, which ends
// it, says in a line what the attacker tried, and returns what it got that
// it should not have.
type resourceAttack struct {
	name   string // in benchmark lines
	what   string
	attach bool // the victim attaches a file during it
	start  func(s *scene, bomb []byte) (stop func() (string, error), err error)
}

var resourceAttacks = []resourceAttack{
	{name: "zip_bomb", what: "an upload that inflates far past the decompressed cap", start: startZipBomb},
	{name: "change_flood", what: "an upload of more changes than the cap", start: startChangeFlood},
	{name: "longpoll_flood", what: "news long-polls past the node's limit", start: startNewsFlood},
	{name: "session_flood", what: "sessions past the node's share", start: startSessionFlood},
	{name: "stalled_uploads", what: "stalled uploads in parallel", start: startStalledUploads},
	{name: "partial_files", what: "unfinished file uploads past the count and bytes caps", attach: true, start: startPartialFiles},
}

// startZipBomb: upload after upload whose compressed file is small (under
// --max-upload, so the server takes it) and whose body inflates far past
// --max-upload-inflated; each is refused whole by the merger, found while
// it streams, and nothing of it is merged. Then a file past --max-upload
// itself: 413 as it arrives, and nothing of it kept.
func startZipBomb(s *scene, bomb []byte) (func() (string, error), error) {
	ctx := context.Background()
	inflated, compressed := 0, 0 // the largest bomb's
	l := s.loop(1, 3, func(i int) error {
		st, err := s.eveSession(ctx)
		if err != nil {
			return err
		}
		defer s.eve.End(ctx, st.Session, "ok")
		n := st.LastMerged + 1
		body, size := []byte(nil), 4*capInflated
		if i == 0 && bomb != nil && n == 1 {
			body, size = bomb, bombInflated
		} else if body, err = zipBomb(n, size); err != nil {
			return err
		}
		if size > inflated {
			inflated, compressed = size, len(body)
		}
		if len(body) > capUpload/4 {
			return fmt.Errorf("the zip bomb is %d bytes compressed", len(body))
		}
		if ans, err := s.eve.Upload(ctx, st.Session, n, bytes.NewReader(body)); err != nil || ans.Number != n || ans.Duplicate {
			return fmt.Errorf("the zip bomb of %d compressed bytes, upload %d: %+v %v, want it taken for merging", len(body), n, ans, err)
		}
		reason, err := s.outcome(ctx, st.Session, n)
		if err != nil {
			return err
		}
		if want := fmt.Sprintf("upload %d: more than %d bytes once decompressed, over the limit", n, capInflated); reason != want {
			return fmt.Errorf("the zip bomb, upload %d: refused %q, want %q", n, reason, want)
		}
		big := make([]byte, capUpload+16<<10)
		rand.Read(big)
		_, err = s.eve.Upload(ctx, st.Session, n+1, bytes.NewReader(big))
		if err := refusal(err, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("upload larger than %d bytes", capUpload)); err != nil {
			return fmt.Errorf("an upload past --max-upload: %w", err)
		}
		if after, err := s.eve.State(ctx, st.Session); err != nil || after.LastReceived != n {
			return fmt.Errorf("after the refused upload %d the server holds up to %d (%v), want %d", n+1, after.LastReceived, err, n)
		}
		if k := s.inboxTemps(); k > 0 {
			return fmt.Errorf("%d pieces of refused uploads left in the server inbox", k)
		}
		return nil
	})
	return func() (string, error) {
		n, err := l.end()
		return fmt.Sprintf("zip bombs refused: %d, the largest %d bytes inflating to %d MiB; uploads past --max-upload refused: %d", n, compressed, inflated>>20, n), err
	}, nil
}

// startChangeFlood: uploads of five times --max-upload-changes new
// contacts on eve's own account, each refused whole from its trailer.
func startChangeFlood(s *scene, _ []byte) (func() (string, error), error) {
	ctx := context.Background()
	const changes = 5 * capChanges
	l := s.loop(1, 3, func(int) error {
		st, err := s.eveSession(ctx)
		if err != nil {
			return err
		}
		defer s.eve.End(ctx, st.Session, "ok")
		n := st.LastMerged + 1
		body, err := uploadFile(n, func(i int) (fieldsync.Txn, bool) {
			id := fmt.Sprintf("eve-flood-%d-%d", n, i)
			return ins("contact", id, map[string]any{"account_id": "evecorp", "first_name": "Flo"}), i < changes
		})
		if err != nil {
			return err
		}
		if ans, err := s.eve.Upload(ctx, st.Session, n, bytes.NewReader(body)); err != nil || ans.Number != n {
			return fmt.Errorf("an upload of %d changes (%d bytes): %+v %v, want it taken for merging", changes, len(body), ans, err)
		}
		reason, err := s.outcome(ctx, st.Session, n)
		if err != nil {
			return err
		}
		if want := fmt.Sprintf("upload %d: %d transactions, over the limit of %d", n, changes, capChanges); reason != want {
			return fmt.Errorf("an upload of %d changes: refused %q, want %q", changes, reason, want)
		}
		return nil
	})
	return func() (string, error) {
		n, err := l.end()
		return fmt.Sprintf("uploads of %d changes refused: %d", changes, n), err
	}, nil
}

// startNewsFlood: sixteen news long-polls at once, about an outbox file
// that never comes: --node-news of them wait, the others are refused at
// once, and so is every further poll while those wait.
func startNewsFlood(s *scene, _ []byte) (func() (string, error), error) {
	ctx, cancel := context.WithCancel(context.Background())
	const flood = 16
	const never = 1 << 40
	want := fmt.Sprintf("node %s has %d news requests waiting, its limit: retry once one is done", attacker, capNews)
	answers := make(chan error, flood)
	for range flood {
		go func() { _, err := s.eve.News(ctx, never); answers <- err }()
	}
	var errs errList
	for range flood - capNews {
		select {
		case err := <-answers:
			errs.add(refusal(err, http.StatusTooManyRequests, "node_limit", want))
		case <-time.After(30 * time.Second):
			errs.add(fmt.Errorf("of %d news polls at once, fewer than %d refused within 30 s", flood, flood-capNews))
		}
		if errs.err() != nil {
			cancel()
			return nil, errs.err()
		}
	}
	l := s.loop(5, 2000, func(int) error {
		_, err := s.eve.News(ctx, never)
		if ctx.Err() != nil {
			return nil
		}
		return refusal(err, http.StatusTooManyRequests, "node_limit", want)
	})
	return func() (string, error) {
		close(l.stop)
		cancel()
		<-l.done
		errs.add(l.err)
		for range capNews {
			err := <-answers
			if err != nil && !errors.Is(err, context.Canceled) {
				errs.add(fmt.Errorf("a waiting news poll ended with %v", err))
			}
		}
		return fmt.Sprintf("%d news polls at once, %d waited; %d more refused while they waited", flood, capNews, l.tries), errs.err()
	}, nil
}

// startSessionFlood: twelve sessions started one after another, then
// bursts of twelve at once; the node keeps --node-sessions of them (each
// newer one ends its least recently used, even one started at the same
// moment), those of a burst past --node-requests are refused, and once
// each of the open sessions has a request running, a further one is
// refused.
func startSessionFlood(s *scene, _ []byte) (func() (string, error), error) {
	ctx := context.Background()
	const flood, bursts = 12, 20
	var errs errList
	var started []string
	next := int64(0) // the node's next upload
	for range flood {
		st, err := s.eve.Start(ctx, 0)
		if err != nil {
			return nil, fmt.Errorf("a session started after the node's others: %w", err)
		}
		started, next = append(started, st.Session), st.LastMerged+1
	}
	busy := fmt.Sprintf("node %s has %d requests in flight, its limit: retry once one is done", attacker, capRequests)
	for range bursts {
		ids := make(chan string, flood)
		for range flood {
			go func() {
				st, err := s.eve.Start(ctx, 0)
				if err != nil {
					errs.add(refusal(err, http.StatusTooManyRequests, "node_limit", busy))
				}
				ids <- st.Session
			}()
		}
		for range flood {
			if id := <-ids; id != "" {
				started = append(started, id)
			}
		}
	}
	var alive []string
	for _, id := range started {
		_, err := s.eve.State(ctx, id)
		if err == nil {
			alive = append(alive, id)
			continue
		}
		errs.add(refusal(err, http.StatusConflict, "no_session", "no open session: start one with POST "+syncproto.SessionsPath))
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	if len(alive) != capSessions {
		return nil, fmt.Errorf("of %d sessions started, %d are open, want the node's limit of %d", len(started), len(alive), capSessions)
	}
	// A request running in each: the node cannot end one to make room.
	var held []*stalled
	for _, id := range alive {
		held = append(held, s.stallUpload(id, next))
	}
	release := func() error {
		for _, h := range held {
			h.release()
		}
		err := waitUntil("the held uploads end on the server", func() bool { return s.inboxTemps() == 0 })
		for _, id := range alive {
			s.eve.End(ctx, id, "ok")
		}
		return err
	}
	if err := waitUntil("the server reads the held uploads", func() bool { return s.inboxTemps() == len(held) }); err != nil {
		release()
		return nil, err
	}
	want := fmt.Sprintf("node %s has %d sessions open, its limit, all in use: end one first", attacker, capSessions)
	l := s.loop(3, 2000, func(int) error {
		st, err := s.eve.Start(ctx, 0)
		if err == nil {
			s.eve.End(ctx, st.Session, "ok")
			return fmt.Errorf("a session past the node's limit, all in use, was started")
		}
		return refusal(err, http.StatusTooManyRequests, "node_limit", want)
	})
	return func() (string, error) {
		n, err := l.end()
		return fmt.Sprintf("%d sessions started, %d kept open; %d more refused while both were in use", len(started), len(alive), n), errors.Join(err, release())
	}, nil
}

// stalledFlood is how many stalled uploads the attacker sends at once.
const stalledFlood = 32

// startStalledUploads: thirty-two uploads at once whose bodies stop after
// a kilobyte, to hold the server's connections, goroutines and files:
// --node-requests of them are read (and held until the attacker lets
// go), the others refused at once with their connections closed, and so
// is every further request of the node meanwhile. The server's open files
// come back to a few per held upload.
func startStalledUploads(s *scene, _ []byte) (func() (string, error), error) {
	ctx := context.Background()
	st, err := s.eveSession(ctx)
	if err != nil {
		return nil, err
	}
	base := s.srv.openFiles(s.tb)
	want := fmt.Sprintf("node %s has %d requests in flight, its limit: retry once one is done", attacker, capRequests)
	var held []*stalled
	for range stalledFlood {
		held = append(held, s.stallUpload(st.Session, st.LastMerged+1))
	}
	answered := func() int {
		n := 0
		for _, h := range held {
			if h.answered() {
				n++
			}
		}
		return n
	}
	stop := func() error {
		for _, h := range held {
			h.release()
		}
		err := waitUntil("the stalled uploads end on the server", func() bool { return s.inboxTemps() == 0 })
		if _, e := s.eve.End(ctx, st.Session, "ok"); e != nil {
			err = errors.Join(err, e)
		}
		// Nothing of them was kept: the node's next session finds the
		// server holding the uploads it held before.
		var next syncproto.State
		err = errors.Join(err, waitUntil("the node starts a session again", func() bool {
			var e error
			next, e = s.eve.Start(ctx, 0)
			return e == nil
		}))
		if next.Session != "" {
			s.eve.End(ctx, next.Session, "ok")
			if next.LastReceived != st.LastReceived {
				err = errors.Join(err, fmt.Errorf("after the stalled uploads the server holds uploads up to %d, want %d", next.LastReceived, st.LastReceived))
			}
		}
		return err
	}
	peak := base
	var errs errList
	errs.add(waitUntil(fmt.Sprintf("%d of %d stalled uploads answered", stalledFlood-capRequests, stalledFlood), func() bool {
		peak = max(peak, s.srv.openFiles(s.tb))
		return answered() >= stalledFlood-capRequests
	}))
	for _, h := range held {
		if h.answered() {
			errs.add(refusal(h.answer, http.StatusTooManyRequests, "node_limit", want))
			h.release()
		}
	}
	if n := answered(); n != stalledFlood-capRequests {
		errs.add(fmt.Errorf("%d of %d stalled uploads answered, want all but the node's limit of %d", n, stalledFlood, capRequests))
	}
	if errs.err() == nil {
		errs.add(waitUntil(fmt.Sprintf("the server reads %d uploads of the node", capRequests), func() bool { return s.inboxTemps() == capRequests }))
		// A connection and a file per held upload, and a few in passing.
		errs.add(waitUntil(fmt.Sprintf("the server's open files come back to %d and a few per held upload", base), func() bool {
			n := s.srv.openFiles(s.tb)
			peak = max(peak, n)
			return n <= base+3*capRequests
		}))
	}
	if err := errs.err(); err != nil {
		return nil, errors.Join(err, stop())
	}
	l := s.loop(3, 2000, func(int) error {
		_, err := s.eve.State(ctx, st.Session)
		return refusal(err, http.StatusTooManyRequests, "node_limit", want)
	})
	return func() (string, error) {
		n, err := l.end()
		return fmt.Sprintf("%d stalled uploads at once, %d held; %d more requests refused meanwhile; server open files %d before, %d at most",
			stalledFlood, capRequests, n, base, peak), errors.Join(err, stop())
	}, nil
}

// startPartialFiles: attachment file uploads left unfinished: two of 100
// KiB, then a third whose whole size would pass --node-partial-bytes
// (refused), then small ones up to --node-partial-files, and past it
// (refused, one after another). The server holds no more of them than the
// limits.
func startPartialFiles(s *scene, _ []byte) (func() (string, error), error) {
	ctx := context.Background()
	st, err := s.eveSession(ctx)
	if err != nil {
		return nil, err
	}
	piece := func(ref fieldsync.FileRef, n int) error {
		ans, err := s.eve.UploadFile(ctx, st.Session, ref, 0, bytes.NewReader(make([]byte, n)))
		if err == nil && (ans.Have != int64(n) || ans.Stored) {
			err = fmt.Errorf("a piece of %d bytes of %s: the server holds %d, stored %v", n, ref, ans.Have, ans.Stored)
		}
		return err
	}
	fail := func(err error) (func() (string, error), error) {
		s.eve.End(ctx, st.Session, "ok")
		return nil, err
	}
	// The node's share is filled once: a later run on the same server (a
	// benchmark's) finds it full, as the uploads last --partial-expire.
	if n, _ := s.partials(); n == 0 {
		if err := fillPartials(piece); err != nil {
			return fail(err)
		}
	}
	held, size := s.partials()
	if held != capPartials || size != partialBytes {
		return fail(fmt.Errorf("the server holds %d unfinished file uploads of %s, %d bytes; want %d, %d bytes", held, attacker, size, capPartials, partialBytes))
	}
	want := fmt.Sprintf("node %s has %d unfinished file uploads, its limit: finish them first (each is dropped %s after its last piece)",
		attacker, capPartials, time.Hour)
	l := s.loop(5, 2000, func(int) error {
		return refusal(piece(randomRef(smallPartial), 100), http.StatusTooManyRequests, "node_limit", want)
	})
	return func() (string, error) {
		tries, err := l.end()
		s.eve.End(ctx, st.Session, "ok")
		n, b := s.partials()
		if n != capPartials || b != partialBytes {
			err = errors.Join(err, fmt.Errorf("the server holds %d unfinished file uploads of %s, %d bytes; want %d, %d bytes",
				n, attacker, b, capPartials, partialBytes))
		}
		return fmt.Sprintf("%d unfinished file uploads held (%d bytes), one refused for its bytes, %d for their count", n, b, tries), err
	}, nil
}

// The attacker's unfinished file uploads: two big ones sent but for their
// last byte, then small ones of 100 bytes up to the node's limit.
const (
	bigPartial   = 100 << 10
	smallPartial = 1000
	partialBytes = 2*(bigPartial-1) + (capPartials-2)*100
)

// fillPartials leaves the attacker's unfinished file uploads on the server,
// and checks that one whose whole size would pass the node's bytes is
// refused.
func fillPartials(piece func(fieldsync.FileRef, int) error) error {
	for range 2 {
		if err := piece(randomRef(bigPartial), bigPartial-1); err != nil {
			return fmt.Errorf("an unfinished file upload within the limits: %w", err)
		}
	}
	over := randomRef(bigPartial)
	err := refusal(piece(over, bigPartial-1), http.StatusTooManyRequests, "node_limit", fmt.Sprintf(
		"node %s holds %d bytes of unfinished file uploads: with file %s that would pass its limit of %d bytes; finish the others first",
		attacker, 2*(bigPartial-1), over, capPartialBytes))
	if err != nil {
		return fmt.Errorf("an unfinished file upload past --node-partial-bytes: %w", err)
	}
	for range capPartials - 2 {
		if err := piece(randomRef(smallPartial), 100); err != nil {
			return fmt.Errorf("an unfinished file upload within the limits: %w", err)
		}
	}
	return nil
}

// TestResourceAttacks runs each resource attack of a hostile node, one
// after another, against the real server binary while a victim node keeps
// synchronizing: the attacker gets the documented refusal (status, code,
// one-line message), nothing of an attack is applied, every sync of the
// victim succeeds and its changes and the server's reach the other side,
// the server's peak resident memory stays under memoryBound, and the
// server stops cleanly afterwards.
func TestResourceAttacks(t *testing.T) {
	bin := buildServer(t)
	// The first zip bomb is made once, for both backends, while the first
	// server starts: the dx writer takes a few seconds for it under -race.
	type made struct {
		file []byte
		err  error
	}
	making := make(chan made, 1)
	go func() {
		b, err := zipBomb(1, bombInflated)
		making <- made{b, err}
	}()
	var bomb *made
	first := func() ([]byte, error) {
		if bomb == nil {
			m := <-making
			bomb = &m
		}
		return bomb.file, bomb.err
	}
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) { testResourceAttacks(t, b, bin, first) })
}

func testResourceAttacks(t *testing.T, b testutil.Backend, bin string, firstBomb func() ([]byte, error)) {
	ctx := context.Background()
	s := newScene(t, bin, b.DB(t))
	bomb, err := firstBomb()
	if err != nil {
		t.Fatalf("make the zip bomb: %v", err)
	}
	peak, _ := s.srv.memory(t)
	t.Logf("server after setup: VmHWM %.1f MiB, %d open files", mib(peak), s.srv.openFiles(t))
	var all []time.Duration
	attached := map[string][]byte{}
	for i, a := range resourceAttacks {
		before := s.rows()
		// A change on the server side during the attack, for the victim.
		if _, err := s.admin.Create(ctx, "contact", map[string]any{"id": fmt.Sprintf("srv-%d", i), "account_id": "acme", "first_name": "Sam"}); err != nil {
			t.Fatal(err)
		}
		stop, err := a.start(s, bomb)
		if err != nil {
			t.Fatalf("%s (%s): %v", a.name, a.what, err)
		}
		var took []time.Duration
		for k := range 4 {
			if a.attach && k == 0 {
				notes := bytes.Repeat([]byte("visit notes "), 3<<10)
				took = append(took, s.victimSync(true, notes))
				attached[fmt.Sprintf("v-att-%d-0", s.made)] = notes
				continue
			}
			took = append(took, s.victimSync(true))
		}
		did, err := stop()
		if err != nil {
			t.Errorf("%s (%s): %v", a.name, a.what, err)
		}
		s.sameRows(a.name, before)
		all = append(all, took...)
		peak, now := s.srv.memory(t)
		t.Logf("%s: %s; victim syncs %v; server VmHWM %.1f MiB, VmRSS %.1f MiB", a.name, did, took, mib(peak), mib(now))
	}

	// Everything the victim did reached the server, and the server's
	// changes made during the attacks reached the victim.
	for k := 1; k <= s.made; k++ {
		if _, err := s.admin.Get(ctx, "contact", fmt.Sprintf("v-%d", k)); err != nil {
			t.Errorf("the victim's contact v-%d on the server: %v", k, err)
		}
	}
	for id, content := range attached {
		var got bytes.Buffer
		if _, err := s.admin.Fetch(ctx, "attachment", id, &got, 0); err != nil || !bytes.Equal(got.Bytes(), content) {
			t.Errorf("the victim's file %s on the server: %d bytes, %v", id, got.Len(), err)
		}
	}
	missing := func() []string {
		var out []string
		for i := range resourceAttacks {
			id := fmt.Sprintf("srv-%d", i)
			if _, err := s.victim.Get(ctx, "contact", id); err != nil {
				out = append(out, id)
			}
		}
		return out
	}
	if err := waitUntil("the victim gets the server's contacts", func() bool { s.victimSync(false); return len(missing()) == 0 }); err != nil {
		t.Errorf("%v: it lacks %v", err, missing())
	}

	peak, _ = s.srv.memory(t)
	t.Logf("victim syncs during the attacks: %d, p50 %.1f ms, max %.1f ms; server peak resident memory (VmHWM) %.1f MiB",
		len(all), ms(percentile(all, 50)), ms(percentile(all, 100)), mib(peak))
	if peak >= memoryBound {
		t.Errorf("the server's peak resident memory is %.1f MiB, over the bound of %.0f MiB", mib(peak), mib(memoryBound))
	}
	s.srv.stop(t)
}
