package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/syncproto"
)

// download brings every outbox file the node has not applied into its
// inbox, each verified and fsynced before it takes its name. The server
// keeps them until ack: an inbox file found damaged before it is applied
// is downloaded again (damagedNotListed deals with one the server no
// longer has).
func (s *session) download(ctx context.Context) error {
	c, st := s.c, s.st
	if err := os.MkdirAll(c.path("inbox"), 0o700); err != nil {
		return err
	}
	local, err := c.st.State(ctx)
	if err != nil {
		return err
	}
	damaged, err := c.damagedInbox(ctx, local)
	if err != nil {
		return err
	}
	if damaged != nil {
		if err := s.damagedNotListed(ctx, damaged, local); err != nil {
			return err
		}
	}
	// The inbox is listed once: a stat per outbox file would cost more than
	// the file, small as most are.
	if s.inbox, err = inboxNames(c.path("inbox")); err != nil {
		return err
	}
	var todo []syncproto.OutboxFile
	var todoBytes int64
	for _, f := range st.Outbox {
		if _, held := s.held[f.Number]; held || f.Number <= local.InboxApplied {
			continue
		}
		if s.inbox[docking.FileName(f.Number)] {
			continue // here already (an earlier sync downloaded it)
		}
		todo = append(todo, f)
		todoBytes += f.Size
	}
	var m *meter
	if len(todo) > 0 {
		m = newMeter(s.progress, "download", len(todo), todoBytes)
	}
	for i := 0; i < len(todo); i++ {
		if n, err := s.fetchBatch(ctx, todo[i:], m); err != nil {
			return err
		} else if n > 0 {
			i += n - 1
			continue
		}
		f := todo[i]
		err := s.fetchOutboxFile(ctx, f, m)
		if errors.Is(err, fieldsync.ErrDamagedFile) {
			err = s.fetchOutboxFile(ctx, f, m) // once more: the damage may have been in transit
		}
		if errors.Is(err, fieldsync.ErrDamagedFile) {
			if err := s.damagedOnServer(ctx, f.Number, err, local); err != nil {
				return err
			}
			break // the files after it wait for the new extract
		}
		if errors.Is(err, fieldsync.ErrNotFound) {
			// Listed at the session's start and gone since: a new extract of
			// the node superseded it meanwhile.
			return fmt.Errorf("%w: %w", errOutboxGone, err)
		}
		if err != nil {
			return err
		}
		if damaged != nil && f.Number == damaged.Number {
			c.recordRecovery(ctx, s.sum, fmt.Sprintf("inbox file %d was damaged (%s): downloaded again from the server", f.Number, damaged.Reason))
		}
	}
	// The inbox folder is not fsynced: the server keeps every file until the
	// node acknowledges it applied, so one a power loss took is fetched again.
	return c.st.RecordServer(ctx, st.RoutedSeq, st.FileLimit)
}

// inboxNames lists the names in the inbox folder.
func inboxNames(dir string) (map[string]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[e.Name()] = true
	}
	return names, nil
}

// errOutboxGone: an outbox file listed at the session's start is no longer
// on the server, superseded by a new Database Extract of the node taken
// while the session ran; a new session takes the extract.
var errOutboxGone = errors.New("an outbox file was superseded by a new Database Extract during the sync")

// fetchOutboxFile downloads one outbox file into the inbox: resumably into
// a part file, verified whole, then renamed into place.
func (s *session) fetchOutboxFile(ctx context.Context, f syncproto.OutboxFile, m *meter) error {
	final := s.c.path("inbox", docking.FileName(f.Number))
	part := final + ".part"
	if _, err := os.Stat(part); f.Size <= smallOutboxFile && errors.Is(err, os.ErrNotExist) {
		return s.fetchSmallOutboxFile(ctx, f, final, m) // (a broken earlier download resumes below)
	}
	n, err := s.rc.Download(ctx, s.st.Session, syncproto.OutboxFilePath(f.Number), part, nil, m)
	if err != nil {
		return fmt.Errorf("download outbox file %d: %w", f.Number, err)
	}
	if _, _, err := dx.ReadFileAs(part, "the downloaded copy", dx.Limits{}); err != nil {
		os.Remove(part)
		return fmt.Errorf("download outbox file %d: %w", f.Number, err)
	}
	if err := os.Rename(part, final); err != nil {
		return err
	}
	m.done()
	s.sum.DownFiles++
	s.sum.DownBytes += n
	return nil
}

// ack notes the last outbox file the node has applied: the session's end
// acknowledges the files up to it (syncproto.EndRequest.AckUpto), and the
// server deletes them. Files downloaded and not yet applied stay on the
// server, so a damaged copy can be had again. An end that does not get
// through leaves them listed: the next sync skips them (they are at or
// below the last applied number) and acknowledges them.
func (s *session) ack(ctx context.Context) error {
	local, err := s.c.st.State(ctx)
	if err != nil {
		return err
	}
	for _, f := range s.st.Outbox {
		if f.Number <= local.InboxApplied {
			s.ackUpto = max(s.ackUpto, f.Number)
		}
	}
	return nil
}

// smallOutboxFile: outbox files up to this size are fetched whole in one
// request into memory (most are: one per routed txnproc file).
const smallOutboxFile = 1 << 20

// fetchSmallOutboxFile fetches a small outbox file whole, verifies it and
// puts it in the inbox without fsync: the server keeps it until the node
// acknowledges it applied, so an inbox file a power loss took away or
// damaged is downloaded again.
func (s *session) fetchSmallOutboxFile(ctx context.Context, f syncproto.OutboxFile, final string, m *meter) error {
	resp, err := s.rc.Do(ctx, http.MethodGet, syncproto.OutboxFilePath(f.Number), s.st.Session, nil, nil)
	if err != nil {
		return fmt.Errorf("download outbox file %d: %w", f.Number, err)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, smallOutboxFile+1))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("download outbox file %d: %w", f.Number, err)
	}
	if _, err := dx.Open(bytes.NewReader(data), int64(len(data)), dx.Limits{}); err != nil {
		return fmt.Errorf("download outbox file %d: the downloaded copy: %w", f.Number, err)
	}
	part := final + ".part"
	if err := os.WriteFile(part, data, 0o600); err != nil {
		return err
	}
	if err := os.Rename(part, final); err != nil {
		return err
	}
	m.Moved(int64(len(data)))
	m.done()
	s.sum.DownFiles++
	s.sum.DownBytes += int64(len(data))
	return nil
}
