package client

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/localdb"
	"github.com/fieldsync/fieldsync/syncproto"
)

// restore puts back, as the server has them now, the rows a refused upload
// changed: rows the node does not see (or that are gone) are dropped.
// errExtractNotReady: the server has recorded a new extract of the node
// but not finished building its file.
var errExtractNotReady = errors.New("the node's new Database Extract is not ready yet")

// takeExtract rebuilds the local data from the node's newer Database
// Extract: the extract's rows, with the node's own changes it cannot hold
// (not merged yet, or merged after it was taken) laid over them, in one
// local transaction. An extract of another schema (version) is taken as
// well: the local database migrates to it in that transaction, and the
// node's pending changes lose the values of columns it lacks. Inbox applies wait meanwhile; local reads and writes
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
	seq := h.ExtractSeq
	otherSchema := h.SchemaFingerprint != c.st.Schema().Fingerprint() || h.SchemaVersion != c.st.SchemaVersion()
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
			txns, err := c.readUpload(ctx, m.number, m.path)
			if err != nil {
				return err
			}
			after = append(after, txns...)
		}
	}
	sch, err := h.Schema()
	if err != nil {
		return err
	}
	current, err := c.serverRows(ctx, rc, st.Session, after, sch)
	if err != nil {
		return err
	}
	// The node's changes the server has not merged yet stay over them all.
	pending, err := c.ownUploads(ctx, st.LastMerged, false)
	if err != nil {
		return err
	}
	// All that needs the network is done: one local transaction does the rest.
	if err := c.st.ReplaceData(ctx, part, current, pending); err != nil {
		return err
	}
	if otherSchema {
		c.log.Info("local data rebuilt from a new Database Extract, whose schema the local database took", "seq", seq,
			"schema_version", h.SchemaVersion, "schema", h.SchemaSource)
	} else {
		c.log.Info("local data rebuilt from a new Database Extract", "seq", seq)
	}
	return c.pruneFiles(ctx)
}

// reextract rebuilds the local data from a newer Database Extract, when an
// administrator re-extracted the node: the outbox goes on from it.
func (s *session) reextract(ctx context.Context) error {
	local, err := s.c.st.State(ctx)
	if err != nil || s.st.ExtractSeq <= local.ExtractSeq {
		return err
	}
	switch err := s.c.takeExtract(ctx, s.rc, s.st, s.progress); {
	case errors.Is(err, errExtractNotReady):
		// taken at a later sync; the outbox still holds what follows the old one
	case err != nil:
		return fmt.Errorf("take the node's new Database Extract: %w", err)
	default:
		s.sum.Reextracted = true
		return s.c.dropCovered(ctx, s.st.Outbox, s.sum)
	}
	return nil
}

// dropCovered removes, after the node took a new Database Extract, the
// inbox files the server no longer lists: the re-extract deleted them from
// the outbox because the extract holds their transactions (the client
// acknowledges a file only once applied, and an applied file leaves the
// inbox). Left, one found damaged later could not be had again; whole, its
// transactions would only be skipped.
func (c *Client) dropCovered(ctx context.Context, listed []syncproto.OutboxFile, sum *Summary) error {
	have := map[int64]bool{}
	for _, f := range listed {
		have[f.Number] = true
	}
	nums, err := docking.Numbers(c.path("inbox"))
	if err != nil {
		return err
	}
	for _, n := range nums {
		if !have[n] {
			if err := os.Remove(c.path("inbox", docking.FileName(n))); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	local, err := c.st.State(ctx)
	if err != nil {
		return err
	}
	if d := local.InboxDamaged; d != nil && !have[d.Number] {
		c.recordRecovery(ctx, sum, fmt.Sprintf("inbox file %d was damaged (%s): the node's new Database Extract holds its changes", d.Number, d.Reason))
		return c.inboxRecovered(ctx, d)
	}
	return nil
}
