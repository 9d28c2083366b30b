package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/syncproto"
)

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

// packageUploads writes the pending local transactions into the next
// upload file and records them as packaged (the local log keeps them until
// the server merged them). It returns how many. When the local database
// knows its schema version, the file begins with a schema marker naming it
// (no schema text): the version the changes were made under.
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
	// A crash between writing the file and recording it: finish it. It was
	// never sent; a damaged one is packaged again from the log.
	if path := c.path("upload", docking.FileName(next)); exists(path) {
		_, txns, err := dx.ReadFile(path, dx.Limits{})
		switch {
		case errors.Is(err, fieldsync.ErrDamagedFile):
			c.log.Warn("an upload file not recorded yet was damaged: packaged again", "upload", next, "err", err)
			if err := os.Remove(path); err != nil {
				return 0, err
			}
		case err != nil:
			return 0, err
		default:
			if err := c.st.RecordUpload(ctx, next, txns); err != nil {
				return 0, err
			}
			next++
		}
	}
	ls, err := c.st.LogState(ctx)
	if err != nil {
		return 0, err
	}
	txns, err := c.st.ReadLog(ctx, ls.Trimmed, 1_000_000)
	if err != nil || len(txns) == 0 {
		return 0, err
	}
	// The log's changes read under the schema version the database holds
	// (a migration made the older ones do): the upload says which.
	body := txns
	if v := c.st.SchemaVersion(); v > 0 {
		body = append([]fieldsync.Txn{fieldsync.SchemaMarker(fieldsync.SchemaVersion{Version: v})}, txns...)
	}
	hdr := dx.Header{Kind: dx.KindUpload, Node: c.cfg.Node, Number: uint64(next)}
	if err := dx.WriteFile(c.path("upload"), docking.FileName(next), hdr, body, nil); err != nil {
		return 0, err
	}
	return len(txns), c.st.RecordUpload(ctx, next, body)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// uploadFiles sends the files that the node's pending changes refer to
// (attached offline), before the changes themselves, so the server has
// every file its rows name.
func (c *Client) uploadFiles(ctx context.Context, rc *syncproto.Client, session string, txns []fieldsync.Txn, progress func(Progress)) (int, int64, error) {
	n, total := 0, int64(0)
	sent := map[string]bool{}
	for _, t := range txns {
		tb := c.st.Schema().Table(t.Table)
		if tb == nil || !tb.HasFile() {
			continue
		}
		for _, ref := range tb.FileRefs(t.Values) {
			if sent[ref.SHA256] {
				continue
			}
			f, err := os.Open(c.FilePath(ref))
			if errors.Is(err, os.ErrNotExist) {
				continue // a file the node got from the server: the server has it
			} else if err != nil {
				return n, total, err
			}
			sentBytes, err := c.uploadFile(ctx, rc, session, ref, f, progress)
			f.Close()
			if err != nil {
				return n, total, fmt.Errorf("upload file %s (the next sync resumes it): %w", ref, err)
			}
			sent[ref.SHA256] = true
			if sentBytes > 0 {
				n++
				total += sentBytes
			}
		}
	}
	return n, total, nil
}

// uploadFile sends what the server lacks of a file: it asks how much it
// holds and sends the rest from there.
func (c *Client) uploadFile(ctx context.Context, rc *syncproto.Client, session string, ref fieldsync.FileRef, f *os.File, progress func(Progress)) (int64, error) {
	have, err := rc.FileHave(ctx, session, ref)
	if err != nil {
		return 0, err
	}
	if have >= ref.Size {
		return 0, nil
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return 0, err
	}
	m := newMeter(progress, "upload file", 1, ref.Size)
	m.moved(have)
	if _, err := rc.UploadFile(ctx, session, ref, have, metered(io.LimitReader(f, ref.Size-have), m)); err != nil {
		return 0, err
	}
	m.done()
	return ref.Size - have, nil
}

// upload packages the pending local transactions into the next upload
// file, settles the uploads the server merged or refused, and sends the
// others, each after the files its rows name. When it sent any, it asks
// the server for the outcome of their merge (waiting a few seconds at
// most), so that this sync reports their conflicts and refusals and puts
// back what was refused.
func (s *session) upload(ctx context.Context) error {
	n, err := s.c.packageUploads(ctx)
	if err != nil {
		return err
	}
	s.sum.Uploaded = n
	lost, err := s.c.repairUploads(ctx, s.sum)
	if err != nil {
		return err
	}
	if len(lost) > 0 && s.fail == nil {
		s.fail = errors.New(lost[0])
	}
	if err := os.MkdirAll(s.c.path("upload", "merged"), 0o700); err != nil {
		return err
	}
	ups, err := s.settleUploads(ctx)
	if err != nil {
		return err
	}
	upMeter := s.uploadMeter(ups)
	sent := int64(0)
	for _, u := range ups {
		if u <= s.st.LastMerged {
			continue
		}
		if s.st.UploadsAhead > 0 && u > s.st.LastMerged+int64(s.st.UploadsAhead) {
			break // the server takes these once the earlier ones are merged: a later sync sends them
		}
		if err := s.send(ctx, u, upMeter); err != nil {
			return err
		}
		sent = u
	}
	if sent == 0 {
		return nil
	}
	return s.awaitMerge(ctx, sent)
}

// settleUploads deals with the uploads the server says it merged or
// refused, and returns the numbers of the upload files the node holds.
func (s *session) settleUploads(ctx context.Context) ([]int64, error) {
	c, st := s.c, s.st
	ups, err := docking.Numbers(c.path("upload"))
	if err != nil {
		return nil, err
	}
	refused := map[int64]bool{}
	for _, r := range st.Refused {
		refused[r.Number] = true
	}
	firstSeq := map[int64]int64{}
	for _, m := range st.Merged {
		firstSeq[m.Number] = m.FirstSeq
	}
	for _, u := range ups {
		if u <= st.LastMerged {
			if err := c.settleUpload(ctx, s.rc, st, u, refused[u], firstSeq); err != nil {
				return nil, err
			}
		}
	}
	return ups, nil
}

// awaitMerge asks the server for the node's state once its uploads up to
// last are merged, takes it as the session's, and settles the uploads it
// merged meanwhile. A server that does not finish in time leaves them to
// the next sync.
func (s *session) awaitMerge(ctx context.Context, last int64) error {
	// What the start told the server holds still: since counts the merged
	// uploads kept in upload/merged too, and conflicts are handled after
	// this step.
	st, err := s.rc.Settled(ctx, s.st.Session, s.started.since, last, s.started.conflictsSeen)
	if err != nil {
		return fmt.Errorf("the outcome of upload %d: %w", last, err)
	}
	st.Session = s.st.Session
	s.st = st
	_, err = s.settleUploads(ctx)
	return err
}

// uploadMeter counts the upload files the server has not merged yet.
func (s *session) uploadMeter(ups []int64) *meter {
	if s.progress == nil {
		return nil
	}
	files, bytes := 0, int64(0)
	for _, u := range ups {
		if info, err := os.Stat(s.c.path("upload", docking.FileName(u))); err == nil && u > s.st.LastMerged {
			files, bytes = files+1, bytes+info.Size()
		}
	}
	if files == 0 {
		return nil
	}
	return newMeter(s.progress, "upload", files, bytes)
}

// send uploads one upload file, after the attachment files its rows name.
func (s *session) send(ctx context.Context, u int64, m *meter) error {
	path := s.c.path("upload", docking.FileName(u))
	txns, err := s.c.readUpload(ctx, u, path)
	if err != nil {
		return err
	}
	nf, fb, err := s.c.uploadFiles(ctx, s.rc, s.st.Session, txns, s.progress)
	s.sum.UpFiles += nf
	s.sum.UpBytes += fb
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if _, err := s.rc.Upload(ctx, s.st.Session, u, metered(f, m)); err != nil {
		return fmt.Errorf("upload %d: %w", u, err)
	}
	m.done()
	s.sum.UpFiles++
	s.sum.UpBytes += info.Size()
	return nil
}
