package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/internal/durable"
	"github.com/fieldsync/fieldsync/internal/httperr"
	"github.com/fieldsync/fieldsync/localdb"
	"github.com/fieldsync/fieldsync/syncproto"
)

// remote returns the client of the server's Synchronization Manager.
func (c *Client) remote() *syncproto.Client {
	rc := syncproto.NewClient(c.cfg.Server, c.cfg.Node, c.cfg.Secret, c.cfg.HTTP)
	rc.Folder = c.cfg.Folder
	return rc
}

// Error is an error answer of the server: its status, code and message.
// It unwraps to the fieldsync error of its kind (errors.Is).
type Error = httperr.Error

// ErrBusy is the server's "busy, retry later".
var ErrBusy = fieldsync.ErrBusy

// startedWith is what a session's start told the server: the number
// below the oldest upload the client holds, and the last conflict it saw.
type startedWith struct{ since, conflictsSeen int64 }

// startSession starts a session, telling the server which merged uploads
// the client still wants to hear about and the last conflict it saw.
func (c *Client) startSession(ctx context.Context, rc *syncproto.Client) (syncproto.State, startedWith, error) {
	var w startedWith
	var err error
	if w.since, err = c.uploadsSince(); err != nil {
		return syncproto.State{}, w, err
	}
	if c.st != nil {
		local, err := c.st.State(ctx)
		if err != nil {
			return syncproto.State{}, w, err
		}
		w.conflictsSeen = local.ConflictsSeen
		if quiet, err := c.quiet(ctx, local); err != nil {
			return syncproto.State{}, w, err
		} else if quiet {
			st, err := rc.Probe(ctx, w.since, w.conflictsSeen, local.ExtractSeq)
			return st, w, err
		}
	}
	st, err := rc.StartAfter(ctx, w.since, w.conflictsSeen)
	return st, w, err
}

// quiet reports whether the folder has nothing to send and nothing left
// undone: no local change or upload waiting, no inbox file to apply, no
// damaged file, every file it should have here, and its last sync ok. Its
// sync then probes (syncproto.Client.Probe): when the server has nothing
// new either, the sync is one round trip.
func (c *Client) quiet(ctx context.Context, local localdb.State) (bool, error) {
	if local.LastResult != "ok" || local.InboxDamaged != nil {
		return false, nil
	}
	for _, dir := range []string{"upload", "inbox"} {
		if nums, err := docking.Numbers(c.path(dir)); err != nil || len(nums) > 0 {
			return false, err
		}
	}
	ls, err := c.st.LogState(ctx)
	if err != nil || ls.Pending > 0 {
		return false, err
	}
	want, err := c.wantedFiles(ctx, nil)
	if err != nil {
		return false, err
	}
	for sha := range want {
		if _, err := os.Stat(c.path("files", sha)); err != nil {
			return false, nil
		}
	}
	return true, nil
}

// Begin and Moved make a meter count a download (syncproto.Meter): when
// the step's total is unknown, the download's own comes with its answer.
func (m *meter) Begin(have, rest int64) {
	if m != nil && m.p.TotalBytes == 0 && rest > 0 {
		m.p.TotalBytes = have + rest
	}
	m.moved(have)
}

// Moved counts bytes that arrived.
func (m *meter) Moved(n int64) { m.moved(n) }

// Summary is what one synchronization did.
type Summary struct {
	UpFiles, DownFiles int
	UpBytes, DownBytes int64
	Uploaded           int // local transactions sent
	Conflicts          []fieldsync.Conflict
	Refused            []string
	Applied            int // inbox files applied (with SyncOptions.Apply)
	Files              int // attachment files fetched
	FileBytes          int64
	// Reextracted: the local data was rebuilt from a new Database Extract.
	Reextracted bool
	// Recovered says, one line each, what the sync did about damaged files
	// in the node's folder (downloaded again, rebuilt from the local log).
	Recovered []string
	Took      time.Duration
}

// SyncOptions tunes Sync.
type SyncOptions struct {
	// Apply applies the downloaded inbox before Sync returns. Without it,
	// the inbox waits for ApplyInbox, which the caller runs when it likes
	// (the local database stays usable meanwhile; `fieldsync client sync`
	// applies in a process of its own after the connection closes).
	Apply bool
	// Progress, when not nil, is called as files and bytes move.
	Progress func(Progress)
}

// Sync synchronizes with the server in one session: it uploads the
// pending local transactions (and the files they name), settles what the
// server merged or refused, takes a new Database Extract if an
// administrator asked for one, downloads the outbox into the inbox and the
// attachment files the node should have, with opts.Apply applies the
// inbox, acknowledges the outbox files applied, and disconnects. Only one
// Sync of a folder runs at a time, across processes.
//
// Outbox files are acknowledged (and so deleted on the server) only once
// applied: with opts.Apply in the same session, otherwise at the next
// sync. So a damaged inbox file is downloaded again (in the same session
// with opts.Apply).
func (c *Client) Sync(ctx context.Context, opts SyncOptions) (Summary, error) {
	start := time.Now()
	if err := c.writable("sync"); err != nil {
		return Summary{}, err
	}
	sum, err := c.syncSession(ctx, opts)
	if errors.Is(err, errOutboxGone) {
		c.log.Info("a new Database Extract of the node was taken during the sync: syncing again to take it", "error", err)
		sum, err = c.syncSession(ctx, opts)
	}
	sum.Took = time.Since(start)
	return sum, err
}

// syncSession runs one session and records its outcome in the local state.
func (c *Client) syncSession(ctx context.Context, opts SyncOptions) (Summary, error) {
	var sum Summary
	unlock, err := c.lockSync()
	if err != nil {
		return sum, err
	}
	defer unlock()
	rc := c.remote()
	st, started, err := c.startSession(ctx, rc)
	if err != nil {
		err = c.writeFailure("sync", err)
		c.recordSync(ctx, "failed: "+oneLine(err.Error()))
		return sum, err
	}
	if st.NothingNew && c.otherIncarnation(ctx, st) { // restored.go: a real session catches up
		st, err = rc.StartAfter(ctx, started.since, started.conflictsSeen)
		if err != nil {
			err = c.writeFailure("sync", err)
			c.recordSync(ctx, "failed: "+oneLine(err.Error()))
			return sum, err
		}
	}
	if st.NothingNew { // no session: nothing to do, nothing to end
		if local, err := c.st.State(ctx); err == nil && local.FileLimit != st.FileLimit {
			if err := c.st.RecordServer(ctx, st.RoutedSeq, st.FileLimit); err != nil {
				return sum, err
			}
		}
		c.recordSync(ctx, "ok")
		return sum, nil
	}
	s := &session{c: c, rc: rc, st: st, started: started, sum: &sum, progress: opts.Progress, apply: opts.Apply}
	result := "ok"
	since := c.lastSyncEnd(ctx)
	defer func() {
		rc.EndWith(context.WithoutCancel(ctx), st.Session, syncproto.EndRequest{Result: result,
			Recovered: c.recoveriesSince(context.WithoutCancel(ctx), since), AckUpto: s.ackUpto})
	}()
	if err := s.run(ctx); err != nil {
		err = c.writeFailure("sync", err)
		result = "failed: " + oneLine(err.Error())
		c.recordSync(ctx, result)
		return sum, err
	}
	c.recordSync(ctx, result)
	return sum, nil
}

// lastSyncEnd is when the folder's previous sync ended (zero: never, or
// unknown).
func (c *Client) lastSyncEnd(ctx context.Context) time.Time {
	local, err := c.st.State(ctx)
	if err != nil {
		return time.Time{}
	}
	return local.LastSync
}

// recoveriesSince lists the damaged files the client recovered from since
// the given time (in this session, or applying the inbox after the last
// one), newest first, for the server's administrators to see.
func (c *Client) recoveriesSince(ctx context.Context, since time.Time) []string {
	local, err := c.st.State(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for i := len(local.Recoveries) - 1; i >= 0 && len(out) < syncproto.MaxEndRecoveries; i-- {
		if r := local.Recoveries[i]; r.At.After(since) {
			out = append(out, r.What)
		}
	}
	return out
}

func (c *Client) recordSync(ctx context.Context, result string) {
	c.st.RecordSync(context.WithoutCancel(ctx), time.Now(), result)
}

// session is one synchronization session with the server: the state the
// server answered its start with, and what the session did so far.
type session struct {
	c        *Client
	rc       *syncproto.Client
	st       syncproto.State
	started  startedWith
	sum      *Summary
	progress func(Progress)
	apply    bool // apply the inbox in the session
	// asked: this session asked the server for a new extract for a lost
	// file (its state, read at its start, does not show the request).
	asked bool
	// fail is a failure found on the way that does not stop the session's
	// other steps (a damaged file that cannot be had again): Sync reports it.
	fail error
	// noBatch: the server answers no outbox batches (fetchBatch).
	noBatch bool
	// held are outbox files a session that applies downloaded and verified
	// and keeps in memory to apply, by number, instead of writing them to
	// the inbox first (fetchBatch); heldBytes is what they came to.
	held      map[int64]heldFile
	heldBytes int64
	// inbox is the names in the inbox folder when the download began.
	inbox map[string]bool
	// ackUpto is the last outbox file the session's end acknowledges (ack).
	ackUpto int64
}

// run takes the session's steps in order; each is in a file of its own.
func (s *session) run(ctx context.Context) error {
	restored, err := s.serverRestored(ctx) // restored.go
	if err != nil {
		return err
	}
	if err := s.upload(ctx); err != nil { // upload.go
		return err
	}
	if err := s.settle(ctx); err != nil { // refusals.go
		return err
	}
	if restored {
		if goOn, err := s.restoredExtract(ctx); err != nil || !goOn {
			return err
		}
	} else if err := s.reextract(ctx); err != nil { // reextract.go
		return err
	}
	if err := s.download(ctx); err != nil { // download.go
		return err
	}
	if err := s.files(ctx); err != nil { // files.go
		return err
	}
	if s.apply {
		if err := s.applyInbox(ctx); err != nil { // apply.go
			return err
		}
	}
	if err := s.ack(ctx); err != nil { // download.go
		return err
	}
	return s.fail
}

// ErrSyncRunning: another synchronization of the same folder is under way.
var ErrSyncRunning = errors.New("a synchronization of this folder is already running")

// lockSync makes sure only one synchronization of a folder runs at a time,
// across processes: an exclusive lock on DIR/sync.lock, released by the
// kernel if the process dies.
func (c *Client) lockSync() (func(), error) {
	release, err := durable.TryLock(c.path("sync.lock"))
	if errors.Is(err, durable.ErrLocked) {
		return nil, fmt.Errorf("%w (%s): wait for it to finish", ErrSyncRunning, c.cfg.Dir)
	}
	return release, err
}
