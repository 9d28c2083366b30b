package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/localdb"
	"github.com/fieldsync/fieldsync/syncproto"
)

// Damaged files in the node's folder are recovered from, without losing
// anything:
//
//   - an inbox file is set aside (inbox/damaged/) and downloaded again: the
//     server still has it, as the client acknowledges outbox files only
//     once they are applied; the files after it wait meanwhile. One the
//     server no longer has (acknowledged by an earlier version of the
//     client) fails every sync, loudly, until a newer Database Extract of
//     the node holds its changes.
//   - an upload file (upload/, upload/merged/) is rebuilt from the local
//     log, which keeps the node's changes until the server merged them.
//
// Each is logged and recorded for client status (Status.Recoveries).

// inboxDamage is the error of an inbox apply stopped at a damaged file.
type inboxDamage struct {
	d    localdb.DamagedInbox
	node string
}

func (e *inboxDamage) Error() string {
	switch {
	case e.d.Lost && e.d.ExtractAsked:
		return fmt.Sprintf("inbox file %d is damaged (%s) and the server no longer has it: a new Database Extract of the node was asked for, and a later sync rebuilds the local data from it (the files after it wait until then; nothing not yet sent from here is lost)",
			e.d.Number, e.d.Reason)
	case e.d.Lost:
		return fmt.Sprintf("inbox file %d is damaged (%s) and the server no longer has it: its changes are missing here and the files after it wait until the node is re-extracted (asked for at a later sync, or an administrator runs fieldsync admin node reextract %s)",
			e.d.Number, e.d.Reason, e.node)
	}
	return fmt.Sprintf("inbox file %d is damaged (%s): set aside; the next sync downloads it again (the files after it wait)", e.d.Number, e.d.Reason)
}

// Unwrap makes the error a fieldsync.ErrDamagedFile.
func (e *inboxDamage) Unwrap() error { return fieldsync.ErrDamagedFile }

func (c *Client) damageErr(d *localdb.DamagedInbox) error {
	return &inboxDamage{d: *d, node: c.cfg.Node}
}

// recordRecovery logs and records what the client did about a damaged
// file, and adds it to the summary of the sync under way (sum may be nil).
func (c *Client) recordRecovery(ctx context.Context, sum *Summary, what string) {
	c.log.Warn("damaged file", "what", what)
	c.st.RecordRecovery(context.WithoutCancel(ctx), localdb.Recovery{At: time.Now(), What: what})
	if sum != nil {
		sum.Recovered = append(sum.Recovered, what)
	}
}

// damagedInbox returns the inbox file found damaged and not recovered yet
// (nil: none), adopting one an earlier version of the client set aside.
func (c *Client) damagedInbox(ctx context.Context, local localdb.State) (*localdb.DamagedInbox, error) {
	d := local.InboxDamaged
	if d != nil && d.Number <= local.InboxApplied {
		return nil, c.st.SetInboxDamaged(ctx, nil) // applied since
	}
	if d != nil {
		return d, nil
	}
	aside, err := docking.Numbers(c.path("inbox", "damaged"))
	if err != nil {
		return nil, err
	}
	for _, n := range aside {
		if n <= local.InboxApplied { // applied since: not needed any more
			os.Remove(filepath.Join(c.path("inbox", "damaged"), docking.FileName(n)))
			continue
		}
		d = &localdb.DamagedInbox{Number: n, Reason: "set aside by an earlier version of the client", At: time.Now(), ExtractSeq: local.ExtractSeq}
		return d, c.st.SetInboxDamaged(ctx, d)
	}
	return nil, nil
}

// setAsideInbox moves a damaged inbox file to inbox/damaged and records it:
// the next download fetches it again.
func (c *Client) setAsideInbox(ctx context.Context, n int64, path string, damage error, local localdb.State, sum *Summary) error {
	aside := c.path("inbox", "damaged")
	if err := os.MkdirAll(aside, 0o700); err != nil {
		return err
	}
	if err := os.Rename(path, filepath.Join(aside, docking.FileName(n))); err != nil {
		return err
	}
	d := &localdb.DamagedInbox{Number: n, Reason: oneLine(damage.Error()), At: time.Now(), ExtractSeq: local.ExtractSeq}
	if err := c.st.SetInboxDamaged(ctx, d); err != nil {
		return err
	}
	c.recordRecovery(ctx, sum, fmt.Sprintf("inbox file %d was damaged (%s): set aside in %s, to be downloaded again", n, d.Reason, aside))
	return c.damageErr(d)
}

// inboxRecovered forgets the damaged inbox file once it is applied (or a
// newer extract holds its changes).
func (c *Client) inboxRecovered(ctx context.Context, d *localdb.DamagedInbox) error {
	os.Remove(filepath.Join(c.path("inbox", "damaged"), docking.FileName(d.Number)))
	return c.st.SetInboxDamaged(ctx, nil)
}

// damagedNotListed deals with a damaged inbox file the server no longer
// lists: a newer extract of the node holds its changes (a re-extract
// deletes the outbox files it holds), or it is lost, which fails the sync
// until one does.
func (s *session) damagedNotListed(ctx context.Context, d *localdb.DamagedInbox, local localdb.State) error {
	if _, err := os.Stat(s.c.path("inbox", docking.FileName(d.Number))); err == nil {
		return nil // downloaded again already
	}
	for _, f := range s.st.Outbox {
		if f.Number == d.Number {
			return nil // downloaded again below
		}
	}
	if held, err := s.coalescedOver(ctx, d, local); err != nil || held {
		return err
	}
	switch {
	case local.ExtractSeq > d.ExtractSeq && local.ExtractSeq >= s.st.ExtractSeq:
		s.c.recordRecovery(ctx, s.sum, fmt.Sprintf("inbox file %d was damaged (%s): the node's newer Database Extract holds its changes", d.Number, d.Reason))
		return s.c.inboxRecovered(ctx, d)
	case s.st.ExtractSeq > local.ExtractSeq:
		return nil // a newer extract is on its way: it may hold them
	case d.ExtractAsked && !s.asked && !s.st.ExtractPending:
		// The extract asked for in an earlier session is taken, and it is
		// the one the local data comes from: taken at the same sequence
		// number, it shows the file held only transactions it holds.
		s.c.recordRecovery(ctx, s.sum, fmt.Sprintf("inbox file %d was damaged (%s): the node's Database Extract taken since holds its changes", d.Number, d.Reason))
		return s.c.inboxRecovered(ctx, d)
	case !d.Lost:
		d.Lost = true
		if err := s.c.st.SetInboxDamaged(ctx, d); err != nil {
			return err
		}
		s.c.recordRecovery(ctx, s.sum, s.c.damageErr(d).Error())
	}
	if err := s.askExtract(ctx, d); err != nil {
		return err
	}
	s.fail = s.c.damageErr(d)
	return nil
}

// coalescedOver reports whether the first outbox file listed after the
// damaged inbox file d holds its transactions, the server having
// coalesced the files while the node was away (docs/sync.md): it is
// downloaded into the inbox, and d is forgotten, that file taking its
// place and that of the inbox files between them.
func (s *session) coalescedOver(ctx context.Context, d *localdb.DamagedInbox, local localdb.State) (bool, error) {
	i := slices.IndexFunc(s.st.Outbox, func(f syncproto.OutboxFile) bool { return f.Number > d.Number })
	if i < 0 || d.Number <= local.InboxApplied {
		return false, nil
	}
	f := s.st.Outbox[i]
	if err := s.fetchOutboxFile(ctx, f, nil); err != nil {
		return false, nil // the download step deals with it
	}
	h, err := readInboxFile(s.c.path("inbox", docking.FileName(f.Number)))
	if err != nil || !slices.ContainsFunc(h.parts, func(p dx.Part) bool { return int64(p.Number) == d.Number }) {
		return false, nil
	}
	// The inbox files after d that f holds too go: f is applied in their
	// place, or d's part would be skipped as theirs were applied.
	for _, p := range h.parts {
		if n := int64(p.Number); n > d.Number && n < f.Number {
			if err := os.Remove(s.c.path("inbox", docking.FileName(n))); err != nil && !errors.Is(err, os.ErrNotExist) {
				return false, err
			}
		}
	}
	s.c.recordRecovery(ctx, s.sum, fmt.Sprintf("inbox file %d was damaged (%s): outbox file %d, coalesced from it and others, holds its changes", d.Number, d.Reason, f.Number))
	return true, s.c.inboxRecovered(ctx, d)
}

// damagedOnServer deals with an outbox file that arrives damaged twice:
// the server's copy is. The server is told, checks its copy, sets it aside
// and asks for a new Database Extract of the node, which will hold its
// changes; meanwhile the file is recorded as damaged and lost here, so the
// files after it wait, as for a lost inbox file (damagedNotListed).
func (s *session) damagedOnServer(ctx context.Context, n int64, damage error, local localdb.State) error {
	d := &localdb.DamagedInbox{Number: n, Reason: oneLine(damage.Error()), At: time.Now(), ExtractSeq: local.ExtractSeq, Lost: true}
	ans, err := s.rc.Lost(ctx, s.st.Session, n, d.Reason)
	if err != nil {
		return fmt.Errorf("outbox file %d arrives damaged and the server could not be told: %w", n, err)
	}
	d.ExtractAsked = ans.ExtractWanted
	s.asked = true
	if err := s.c.st.SetInboxDamaged(ctx, d); err != nil {
		return err
	}
	s.c.recordRecovery(ctx, s.sum, fmt.Sprintf("outbox file %d is damaged on the server: a new Database Extract of the node was asked for", n))
	s.fail = fmt.Errorf("outbox file %d is damaged on the server (%s): a new Database Extract of the node was asked for, and a later sync rebuilds the local data from it (the files after it wait until then; nothing not yet sent from here is lost): %w",
		n, d.Reason, fieldsync.ErrDamagedFile)
	return nil
}

// askExtract tells the server that the damaged inbox file is lost, which
// asks for a new Database Extract of the node (the server refuses to take
// one more often than syncmgr.LostCooldown: then a later sync asks again).
func (s *session) askExtract(ctx context.Context, d *localdb.DamagedInbox) error {
	if d.ExtractAsked {
		return nil
	}
	ans, err := s.rc.Lost(ctx, s.st.Session, d.Number, d.Reason)
	if err != nil {
		s.c.log.Warn("could not ask for a new extract for a lost inbox file", "file", d.Number, "err", err)
		return nil // asked again at the next sync
	}
	if !ans.ExtractWanted {
		return nil
	}
	d.ExtractAsked = true
	s.asked = true
	if err := s.c.st.SetInboxDamaged(ctx, d); err != nil {
		return err
	}
	s.c.recordRecovery(ctx, s.sum, fmt.Sprintf("inbox file %d is lost: a new Database Extract of the node was asked for", d.Number))
	return nil
}

// readUpload returns the changes of an upload file, without the schema
// marker it may begin with; when the file is damaged, those the local log
// keeps for it (the next sync rebuilds the file itself: repairUploads).
func (c *Client) readUpload(ctx context.Context, number int64, path string) ([]fieldsync.Txn, error) {
	_, txns, err := c.readUploadFile(ctx, number, path)
	return txns, err
}

// readUploadFile is readUpload that also returns the file's schema marker
// (nil: none), so that a file written again keeps it.
func (c *Client) readUploadFile(ctx context.Context, number int64, path string) (*fieldsync.Txn, []fieldsync.Txn, error) {
	_, txns, err := dx.ReadFile(path, dx.Limits{})
	if errors.Is(err, fieldsync.ErrDamagedFile) {
		kept, _, ok, lerr := c.st.UploadChanges(ctx, number)
		if lerr != nil {
			return nil, nil, lerr
		}
		if !ok {
			return nil, nil, fmt.Errorf("upload %d: %w (and the local log does not keep its changes)", number, err)
		}
		txns, err = kept, nil
	}
	if err != nil {
		return nil, nil, err
	}
	marker, changes := splitUpload(txns)
	return marker, changes, nil
}

// splitUpload separates the schema marker an upload begins with (nil:
// none) from its changes.
func splitUpload(txns []fieldsync.Txn) (*fieldsync.Txn, []fieldsync.Txn) {
	if len(txns) > 0 && fieldsync.IsSchemaMarker(txns[0]) {
		return &txns[0], txns[1:]
	}
	return nil, txns
}

// uploadFile is an upload file the client keeps: in upload/, or in
// upload/merged/ once merged.
type uploadFile struct {
	number    int64
	dir, name string
	merged    bool
}

func (f uploadFile) path() string { return filepath.Join(f.dir, f.name) }

// keptUploads lists the upload files the client keeps.
func (c *Client) keptUploads() ([]uploadFile, error) {
	ups, err := docking.Numbers(c.path("upload"))
	if err != nil {
		return nil, err
	}
	var out []uploadFile
	for _, u := range ups {
		out = append(out, uploadFile{number: u, dir: c.path("upload"), name: docking.FileName(u)})
	}
	merged, err := c.mergedUploads()
	if err != nil {
		return nil, err
	}
	for _, m := range merged {
		out = append(out, uploadFile{number: m.number, dir: filepath.Dir(m.path), name: filepath.Base(m.path), merged: true})
	}
	return out, nil
}

// repairUploads checks every upload file the client keeps and rebuilds the
// damaged ones from the local log. It returns the losses it could not
// avoid (files an earlier version of the client packaged, whose changes
// the log no longer keeps), one line each.
func (c *Client) repairUploads(ctx context.Context, sum *Summary) ([]string, error) {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	files, err := c.keptUploads()
	if err != nil {
		return nil, err
	}
	var lost []string
	for _, f := range files {
		_, _, err := dx.ReadFile(f.path(), dx.Limits{})
		if err == nil {
			continue
		}
		if !errors.Is(err, fieldsync.ErrDamagedFile) {
			return lost, err
		}
		loss, err := c.repairUpload(ctx, f, oneLine(err.Error()), sum)
		if err != nil {
			return lost, fmt.Errorf("rebuild damaged upload %d: %w", f.number, err)
		}
		if loss != "" {
			lost = append(lost, loss)
		}
	}
	return lost, nil
}

// repairUpload rebuilds one damaged upload file from the local log. A
// merged one the log does not keep is dropped (the server has its
// changes); an unmerged one is kept aside in upload/damaged and replaced
// by an empty upload of its number, so the node's later uploads are
// merged: its changes are lost, which it returns.
func (c *Client) repairUpload(ctx context.Context, f uploadFile, reason string, sum *Summary) (string, error) {
	txns, _, ok, err := c.st.UploadChanges(ctx, f.number)
	if err != nil {
		return "", err
	}
	hdr := dx.Header{Kind: dx.KindUpload, Node: c.cfg.Node, Number: uint64(f.number)}
	switch {
	case ok:
		if err := dx.WriteFile(f.dir, f.name, hdr, txns, nil); err != nil {
			return "", err
		}
		c.recordRecovery(ctx, sum, fmt.Sprintf("upload %d was damaged (%s): rebuilt from the local log", f.number, reason))
		return "", nil
	case f.merged:
		if err := os.Remove(f.path()); err != nil {
			return "", err
		}
		c.recordRecovery(ctx, sum, fmt.Sprintf("merged upload %d was damaged (%s): dropped (the server has its changes)", f.number, reason))
		return "", nil
	}
	aside := c.path("upload", "damaged")
	if err := os.MkdirAll(aside, 0o700); err != nil {
		return "", err
	}
	if err := os.Rename(f.path(), filepath.Join(aside, f.name)); err != nil {
		return "", err
	}
	if err := dx.WriteFile(f.dir, f.name, hdr, nil, nil); err != nil {
		return "", err
	}
	loss := fmt.Sprintf("upload %d was damaged (%s) and packaged by an earlier version of the client, which did not keep its changes in the local log: they are lost (the damaged file is kept in %s)",
		f.number, reason, aside)
	c.recordRecovery(ctx, sum, loss)
	return loss, nil
}
