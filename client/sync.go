package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/durable"
	"github.com/fieldsync/fieldsync/internal/httperr"
	"github.com/fieldsync/fieldsync/localdb"
	"github.com/fieldsync/fieldsync/syncproto"
)

// remote returns the client of the server's Synchronization Manager.
func (c *Client) remote() *syncproto.Client {
	return syncproto.NewClient(c.cfg.Server, c.cfg.Node, c.cfg.Secret, c.cfg.HTTP)
}

// Error is an error answer of the server: its status, code and message.
// It unwraps to the fieldsync error of its kind (errors.Is).
type Error = httperr.Error

// ErrBusy is the server's "busy, retry later".
var ErrBusy = fieldsync.ErrBusy

// startSession starts a session, telling the server which merged uploads
// the client still wants to hear about.
func (c *Client) startSession(ctx context.Context, rc *syncproto.Client) (syncproto.State, error) {
	since, err := c.uploadsSince()
	if err != nil {
		return syncproto.State{}, err
	}
	return rc.Start(ctx, since)
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

// uploadsSince is the number below the oldest upload file the client still
// holds: the server tells where the ones above were merged.
func (c *Client) uploadsSince() (int64, error) {
	if c.st == nil {
		return 0, nil
	}
	ups, err := docking.Numbers(c.path("upload"))
	if err != nil {
		return 0, err
	}
	low := int64(-1)
	for _, u := range ups {
		if low < 0 || u < low {
			low = u
		}
	}
	merged, err := c.mergedUploads()
	if err != nil {
		return 0, err
	}
	for _, m := range merged {
		if low < 0 || m.number < low {
			low = m.number
		}
	}
	if low < 0 {
		state, err := c.st.State(context.Background())
		return max(state.UploadNext-1, 0), err
	}
	return low - 1, nil
}

// Summary is what one synchronization did.
type Summary struct {
	UpFiles, DownFiles int
	UpBytes, DownBytes int64
	Uploaded           int // local transactions sent
	Conflicts          []fieldsync.Conflict
	Refused            []string
	Applied            int // inbox files applied (with Wait)
	Files              int // attachment files fetched
	FileBytes          int64
	// Reextracted: the local data was rebuilt from a new Database Extract.
	Reextracted bool
	Took        time.Duration
}

// SyncOptions tunes Sync.
type SyncOptions struct {
	// Wait applies the inbox before returning; otherwise it is applied in
	// the background (ApplyDone tells when) and the local database stays
	// usable meanwhile.
	Wait bool
	// ApplyDone, when not nil, receives the result of a background apply.
	ApplyDone chan<- error
	// Progress, when not nil, is called as files and bytes move.
	Progress func(Progress)
}

// Sync synchronizes with the server: upload pending local transactions,
// download the outbox into the inbox, acknowledge it, disconnect, then
// apply the inbox (before returning with Wait, in the background without).
func (c *Client) Sync(ctx context.Context, opts SyncOptions) (Summary, error) {
	sum, err := c.SyncOnly(ctx, opts)
	if err != nil {
		return sum, err
	}
	if opts.Wait {
		n, err := c.applyInbox(ctx, opts.Progress)
		sum.Applied = n
		if err != nil {
			c.recordSync(ctx, "apply failed: "+err.Error())
			return sum, err
		}
		return sum, nil
	}
	go func() {
		_, err := c.ApplyInbox(context.WithoutCancel(ctx))
		if opts.ApplyDone != nil {
			opts.ApplyDone <- err
		}
	}()
	return sum, nil
}

// SyncOnly is Sync without applying the inbox (ApplyInbox does that).
func (c *Client) SyncOnly(ctx context.Context, opts SyncOptions) (Summary, error) {
	start := time.Now()
	var sum Summary
	unlock, err := c.lockSync()
	if err != nil {
		return sum, err
	}
	defer unlock()
	rc := c.remote()
	st, err := c.startSession(ctx, rc)
	if err != nil {
		c.recordSync(ctx, "failed: "+err.Error())
		return sum, err
	}
	result := "ok"
	defer func() { rc.End(context.WithoutCancel(ctx), st.Session, result) }()
	if err := c.syncSession(ctx, rc, st, &sum, opts); err != nil {
		result = "failed: " + err.Error()
		c.recordSync(ctx, result)
		return sum, err
	}
	c.recordSync(ctx, result)
	sum.Took = time.Since(start)
	return sum, nil
}

func (c *Client) recordSync(ctx context.Context, result string) {
	c.st.RecordSync(context.WithoutCancel(ctx), time.Now(), result)
}

func (c *Client) syncSession(ctx context.Context, rc *syncproto.Client, st syncproto.State, sum *Summary, opts SyncOptions) error {
	// 1. Uploads: package pending local transactions, drop what the server
	// merged (or refused), send the rest.
	n, err := c.packageUploads(ctx)
	if err != nil {
		return err
	}
	sum.Uploaded = n
	ups, err := docking.Numbers(c.path("upload"))
	if err != nil {
		return err
	}
	refused := map[int64]bool{}
	for _, r := range st.Refused {
		refused[r.Number] = true
	}
	firstSeq := map[int64]int64{}
	for _, m := range st.Merged {
		firstSeq[m.Number] = m.FirstSeq
	}
	if err := os.MkdirAll(c.path("upload", "merged"), 0o700); err != nil {
		return err
	}
	var upMeter *meter
	if opts.Progress != nil {
		files, bytes := 0, int64(0)
		for _, u := range ups {
			if info, err := os.Stat(c.path("upload", docking.FileName(u))); err == nil && u > st.LastMerged {
				files, bytes = files+1, bytes+info.Size()
			}
		}
		if files > 0 {
			upMeter = newMeter(opts.Progress, "upload", files, bytes)
		}
	}
	for _, u := range ups {
		path := c.path("upload", docking.FileName(u))
		if u > st.LastMerged {
			// The files the upload's rows name go first.
			_, txns, err := dx.ReadFile(path, dx.Limits{})
			if err != nil {
				return err
			}
			nf, fb, err := c.uploadFiles(ctx, rc, st.Session, txns, opts.Progress)
			sum.UpFiles += nf
			sum.UpBytes += fb
			if err != nil {
				return err
			}
		}
		if u <= st.LastMerged {
			if err := c.settleUpload(ctx, rc, st, u, refused[u], firstSeq); err != nil {
				return err
			}
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		info, _ := f.Stat()
		_, err = rc.Upload(ctx, st.Session, u, metered(f, upMeter))
		f.Close()
		if err != nil {
			return fmt.Errorf("upload %d: %w", u, err)
		}
		upMeter.done()
		sum.UpFiles++
		sum.UpBytes += info.Size()
	}
	for _, r := range st.Refused {
		sum.Refused = append(sum.Refused, fmt.Sprintf("upload %d refused: %s", r.Number, r.Reason))
	}
	// 2. Conflicts the server met merging earlier uploads.
	if err := c.handleConflicts(ctx, st.Conflicts, sum); err != nil {
		return err
	}
	// 2b. A newer Database Extract (an administrator re-extracted the
	// node): the outbox goes on from it, so the local data is rebuilt from it.
	if local, err := c.st.State(ctx); err != nil {
		return err
	} else if st.ExtractSeq > local.ExtractSeq {
		switch err := c.takeExtract(ctx, rc, st, opts.Progress); {
		case errors.Is(err, errExtractNotReady):
			// taken at a later sync; the outbox still holds what follows the old one
		case err != nil:
			return fmt.Errorf("take the node's new Database Extract: %w", err)
		default:
			sum.Reextracted = true
		}
	}
	// 3. Downloads: every outbox file into the inbox, fsynced, then acknowledged.
	if err := os.MkdirAll(c.path("inbox"), 0o700); err != nil {
		return err
	}
	local, err := c.st.State(ctx)
	if err != nil {
		return err
	}
	applied := local.InboxApplied
	var upto int64
	var todo []syncproto.OutboxFile
	var todoBytes int64
	var downMeter *meter
	for _, f := range st.Outbox {
		if _, err := os.Stat(c.path("inbox", docking.FileName(f.Number))); err == nil || f.Number <= applied {
			upto = f.Number // here already (an earlier sync stopped before acknowledging)
			continue
		}
		todo = append(todo, f)
		todoBytes += f.Size
	}
	if len(todo) > 0 {
		downMeter = newMeter(opts.Progress, "download", len(todo), todoBytes)
	}
	for _, f := range todo {
		final := c.path("inbox", docking.FileName(f.Number))
		part := final + ".part"
		n, err := rc.Download(ctx, st.Session, syncproto.OutboxFilePath(f.Number), part, nil, downMeter)
		if err != nil {
			return fmt.Errorf("download outbox file %d: %w", f.Number, err)
		}
		if _, _, err := dx.ReadFile(part, dx.Limits{}); err != nil {
			os.Remove(part)
			return fmt.Errorf("download outbox file %d: %w", f.Number, err)
		}
		if err := os.Rename(part, final); err != nil {
			return err
		}
		downMeter.done()
		sum.DownFiles++
		sum.DownBytes += n
		upto = max(upto, f.Number)
	}
	if sum.DownFiles > 0 {
		if err := durable.SyncDir(c.path("inbox")); err != nil {
			return err
		}
	}
	if err := c.st.RecordServer(ctx, st.RoutedSeq, st.FileLimit); err != nil {
		return err
	}
	// Attachment files the node should have: published and broadcast ones,
	// and requested ones the user asked for.
	nf, fb, err := c.fetchFiles(ctx, rc, st.Session, opts.Progress)
	sum.Files, sum.FileBytes = nf, fb
	if err != nil {
		return err
	}
	if upto > 0 {
		if _, err := rc.Ack(ctx, st.Session, upto); err != nil {
			return fmt.Errorf("acknowledge outbox: %w", err)
		}
	}
	return nil
}

// handleConflicts acts on the conflicts the server reports for this node
// that it has not seen yet: a team row the server merged into its own is
// dropped locally (the server's row comes through the outbox).
func (c *Client) handleConflicts(ctx context.Context, conflicts []fieldsync.Conflict, sum *Summary) error {
	local, err := c.st.State(ctx)
	if err != nil {
		return err
	}
	seen, kept := local.ConflictsSeen, local.Conflicts
	for _, cf := range conflicts {
		if cf.ID <= seen {
			continue
		}
		sum.Conflicts = append(sum.Conflicts, cf)
		kept = append(kept, cf)
		if cf.Kind == fieldsync.ConflictTeamMerged {
			if err := c.st.Purge(ctx, cf.Table, cf.RowID); err != nil {
				return err
			}
		}
		seen = cf.ID
	}
	if len(kept) > 100 {
		kept = kept[len(kept)-100:]
	}
	return c.st.SetConflicts(ctx, seen, kept)
}

// packageUploads writes the pending local transactions into the next
// upload file and trims them from the local log. It returns how many.
func (c *Client) packageUploads(ctx context.Context) (int, error) {
	// Local log entries move into an upload file: an inbox apply, which
	// reads both, waits.
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	if err := os.MkdirAll(c.path("upload"), 0o700); err != nil {
		return 0, err
	}
	local, err := c.st.State(ctx)
	if err != nil {
		return 0, err
	}
	next := local.UploadNext
	// A crash between writing the file and trimming the log: finish it.
	if _, err := os.Stat(c.path("upload", docking.FileName(next))); err == nil {
		_, txns, err := dx.ReadFile(c.path("upload", docking.FileName(next)), dx.Limits{})
		if err != nil {
			return 0, err
		}
		if err := c.finishUpload(ctx, next, txns); err != nil {
			return 0, err
		}
		next++
	}
	ls, err := c.st.LogState(ctx)
	if err != nil {
		return 0, err
	}
	txns, err := c.st.ReadLog(ctx, ls.Trimmed, 1_000_000)
	if err != nil || len(txns) == 0 {
		return 0, err
	}
	hdr := dx.Header{Kind: dx.KindUpload, Node: c.cfg.Node, Number: uint64(next)}
	if err := dx.WriteFile(c.path("upload"), docking.FileName(next), hdr, txns, nil); err != nil {
		return 0, err
	}
	return len(txns), c.finishUpload(ctx, next, txns)
}

func (c *Client) finishUpload(ctx context.Context, number int64, txns []fieldsync.Txn) error {
	if len(txns) > 0 {
		if err := c.st.TrimLog(ctx, txns[len(txns)-1].Seq); err != nil {
			return err
		}
	}
	return c.st.SetUploadNext(ctx, number+1)
}

// Status is a node's local view.
type Status struct {
	Node           string `json:"node"`
	Server         string `json:"server"`
	LastSync       string `json:"last_sync"`
	LastResult     string `json:"last_sync_result"`
	PendingChanges int64  `json:"pending_changes"` // local transactions not yet packaged
	PendingUploads int    `json:"pending_uploads"` // upload files not yet known merged
	InboxFiles     int    `json:"inbox_files"`     // downloaded, not yet applied
	ExtractSeq     int64  `json:"extract_seq"`
	// Conflicts are the latest conflicts the server met merging this node's changes.
	Conflicts []fieldsync.Conflict `json:"conflicts"`
	// FilesPending are attachment files the node should have and has not
	// fetched yet; Requested are the rows whose requested file the user asked for.
	FilesPending int      `json:"files_pending"`
	Requested    []string `json:"requested"`
	// FilesToUpload are files attached offline that have not gone up yet.
	FilesToUpload int `json:"files_to_upload"`
}

// Status returns the node's local view.
func (c *Client) Status(ctx context.Context) (Status, error) {
	s := Status{Node: c.cfg.Node, Server: c.cfg.Server}
	local, err := c.st.State(ctx)
	if err != nil {
		return s, err
	}
	if !local.LastSync.IsZero() {
		s.LastSync = local.LastSync.UTC().Format(time.RFC3339Nano)
	}
	s.LastResult = local.LastResult
	ls, err := c.st.LogState(ctx)
	if err != nil {
		return s, err
	}
	s.PendingChanges = ls.Pending
	ups, _ := docking.Numbers(c.path("upload"))
	s.PendingUploads = len(ups)
	ins, _ := docking.Numbers(c.path("inbox"))
	s.InboxFiles = len(ins)
	s.ExtractSeq = local.ExtractSeq
	if s.Conflicts = local.Conflicts; s.Conflicts == nil {
		s.Conflicts = []fieldsync.Conflict{}
	}
	s.FilesPending, s.Requested, err = c.fileStatus(ctx)
	if s.Requested == nil {
		s.Requested = []string{}
	}
	if err != nil {
		return s, err
	}
	s.FilesToUpload, err = c.filesToUpload(ctx)
	return s, err
}

// restore puts back, as the server has them now, the rows a refused upload
// changed: rows the node does not see (or that are gone) are dropped.
// errExtractNotReady: the server has recorded a new extract of the node
// but not finished building its file.
var errExtractNotReady = errors.New("the node's new Database Extract is not ready yet")

// takeExtract rebuilds the local data from the node's newer Database
// Extract: the extract's rows, with the node's own changes it cannot hold
// (not merged yet, or merged after it was taken) laid over them, in one
// local transaction. Inbox applies wait meanwhile; local reads and writes
// go on (a write made meanwhile is in the local log, which stays).
func (c *Client) takeExtract(ctx context.Context, rc *syncproto.Client, st syncproto.State, progress func(Progress)) error {
	part := c.path("extract.db.part")
	clean := func() {
		for _, p := range []string{part, part + "-wal", part + "-shm", part + "-schema-upgrade.lock"} {
			os.Remove(p)
		}
	}
	clean() // a part left from an older extract must not be resumed
	defer clean()
	m := newMeter(progress, "extract", 1, 0)
	if _, err := rc.Download(ctx, st.Session, syncproto.ExtractPath, part, nil, m); err != nil {
		return err
	}
	m.done()
	h, err := localdb.ReadHeader(ctx, part)
	if err != nil {
		return err
	}
	if h.Node != c.cfg.Node {
		return fmt.Errorf("the extract is node %q's, not %q's", h.Node, c.cfg.Node)
	}
	if h.SchemaFingerprint != c.st.Schema().Fingerprint() {
		return fmt.Errorf("the server's schema changed since this folder was made: make a new folder with fieldsync client init (upload its pending changes first)")
	}
	seq := h.ExtractSeq
	if seq < st.ExtractSeq {
		// The server is still building it: the file is the previous one.
		c.log.Info("the node's new Database Extract is not ready yet", "seq", st.ExtractSeq)
		return errExtractNotReady
	}
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	// Rows the node changed in uploads merged after the extract was taken
	// are not in it, and their changes are not routed back to the node: the
	// server has them as they came out of the merge (a team row merged into
	// the server's own is gone, a conflict may have changed a value).
	merged, err := c.mergedUploads()
	if err != nil {
		return err
	}
	var after []fieldsync.Txn
	for _, m := range merged {
		if m.firstSeq > seq {
			_, txns, err := dx.ReadFile(m.path, dx.Limits{})
			if err != nil {
				return err
			}
			after = append(after, txns...)
		}
	}
	current, err := c.serverRows(ctx, rc, st.Session, after)
	if err != nil {
		return err
	}
	// The node's changes the server has not merged yet stay over them all.
	pending, err := c.ownUploads(st.LastMerged, false)
	if err != nil {
		return err
	}
	// All that needs the network is done: one local transaction does the rest.
	if err := c.st.ReplaceData(ctx, part, current, pending); err != nil {
		return err
	}
	c.log.Info("local data rebuilt from a new Database Extract", "seq", seq)
	return c.pruneFiles(ctx)
}

// serverRows fetches the rows txns name as the server has them now, as
// transactions that put them in a local database: an insert of the row,
// or a purge when the node does not see it.
func (c *Client) serverRows(ctx context.Context, rc *syncproto.Client, session string, txns []fieldsync.Txn) ([]fieldsync.Txn, error) {
	var out []fieldsync.Txn
	done := map[string]bool{}
	for _, t := range txns {
		key := t.Table + "\x00" + t.RowID
		tb := c.st.Schema().Table(t.Table)
		if done[key] || tb == nil {
			continue
		}
		done[key] = true
		row, err := rc.Row(ctx, session, t.Table, t.RowID)
		switch {
		case errors.Is(err, fieldsync.ErrNotFound):
			out = append(out, fieldsync.Txn{Op: fieldsync.OpPurge, Table: t.Table, RowID: t.RowID})
		case err != nil:
			return nil, err
		default:
			vals, err := tb.CoerceRow(row)
			if err != nil {
				return nil, err
			}
			out = append(out, fieldsync.Txn{Op: fieldsync.OpInsert, Table: t.Table, RowID: t.RowID, Values: vals})
		}
	}
	return out, nil
}

// settleUpload deals with an upload the server has merged or refused. A
// merged one is kept (in upload/merged) until everything routed before it
// is applied; a refused one's rows are put back as the server has them.
// Inbox applies wait meanwhile, as they read the upload files.
func (c *Client) settleUpload(ctx context.Context, rc *syncproto.Client, st syncproto.State, u int64, refused bool, firstSeq map[int64]int64) error {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	path := c.path("upload", docking.FileName(u))
	if refused {
		// None of it reached the server: put back the rows it changed.
		if err := c.restore(ctx, rc, st, path); err != nil {
			return fmt.Errorf("restore rows of refused upload %d: %w", u, err)
		}
	} else if fs, ok := firstSeq[u]; ok {
		return os.Rename(path, c.path("upload", "merged", fmt.Sprintf("%d-%d.dx", u, fs)))
	}
	return os.Remove(path)
}

// restore puts back the rows a refused upload changed, as the server has
// them, under the node's own changes the server has not seen yet (later
// uploads and the local log).
func (c *Client) restore(ctx context.Context, rc *syncproto.Client, st syncproto.State, path string) error {
	_, txns, err := dx.ReadFile(path, dx.Limits{})
	if err != nil {
		return err
	}
	return c.refetch(ctx, rc, st, txns)
}

// refetch puts the rows txns name back as the server has them now (gone if
// the node does not see them), under the node's own changes the server has
// not seen yet (uploads not merged, the local log).
func (c *Client) refetch(ctx context.Context, rc *syncproto.Client, st syncproto.State, txns []fieldsync.Txn) error {
	rows, err := c.serverRows(ctx, rc, st.Session, txns)
	if err != nil {
		return err
	}
	own, err := c.ownUploads(st.LastMerged, false)
	if err != nil {
		return err
	}
	for _, t := range rows {
		if err := c.st.Put(ctx, t.Table, t.RowID, t.Values, own); err != nil {
			return err
		}
	}
	return nil
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
