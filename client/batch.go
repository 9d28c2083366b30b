package client

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"

	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/httperr"
	"github.com/fieldsync/fieldsync/syncproto"
)

// fetchBatch downloads the small outbox files at the head of todo, with
// no broken earlier download, in one request
// (syncproto.OutboxBatch), and reports how many it kept (keepBatched). It fetches
// nothing (0) when fewer than two files qualify, or when the server
// answers no batches (an older one); the caller then fetches the head
// file on its own, as it does a file the batch left out or found damaged.
func (s *session) fetchBatch(ctx context.Context, todo []syncproto.OutboxFile, m *meter) (int, error) {
	if s.noBatch {
		return 0, nil
	}
	n, size := 0, int64(0)
	for _, f := range todo {
		if n == syncproto.BatchMaxFiles || f.Size > smallOutboxFile || size+f.Size > syncproto.BatchMaxBytes {
			break
		}
		if s.inbox[docking.FileName(f.Number)+".part"] {
			break // a broken earlier download resumes on its own
		}
		n++
		size += f.Size
	}
	if n < 2 {
		return 0, nil
	}
	got := 0
	err := s.rc.OutboxBatch(ctx, s.st.Session, todo[0].Number, todo[n-1].Number, func(num int64, data []byte) error {
		if num != todo[got].Number {
			return errBatchGap // a listed file is gone: fetched on its own, it says why
		}
		if err := s.keepBatched(num, data); err != nil {
			return err
		}
		m.Moved(int64(len(data)))
		m.done()
		s.sum.DownFiles++
		s.sum.DownBytes += int64(len(data))
		got++
		return nil
	})
	var he *httperr.Error
	switch {
	case errors.As(err, &he) && (he.Status == http.StatusNotFound || he.Status == http.StatusMethodNotAllowed):
		s.noBatch = true // a server without batches: one file a request
	case err != nil && !errors.Is(err, errBatchDamaged) && !errors.Is(err, errBatchGap) && got == 0:
		return 0, err
	}
	return got, nil
}

// errBatchDamaged stops a batch at a file that does not verify, and
// errBatchGap at one listed that the answer leaves out.
var (
	errBatchDamaged = errors.New("damaged file in an outbox batch")
	errBatchGap     = errors.New("an outbox batch left out a listed file")
)

// maxHeld bounds the outbox files a session keeps in memory to apply.
const maxHeld = 64 << 20

// keepBatched verifies an outbox file of a batch and keeps it: in memory
// when the session applies the inbox and it fits in maxHeld (writing small
// files costs more than applying them), else in the inbox, not fsynced (the
// server keeps it until the node acknowledges it applied).
func (s *session) keepBatched(num int64, data []byte) error {
	h, txns, err := dx.ReadAll(bytes.NewReader(data), dx.Limits{})
	if err != nil {
		return errBatchDamaged // this one is fetched on its own, and checked again
	}
	if s.apply && s.heldBytes+int64(len(data)) <= maxHeld {
		if s.held == nil {
			s.held = map[int64]heldFile{}
		}
		s.held[num] = heldFile{txns: txns, parts: h.Parts}
		s.heldBytes += int64(len(data))
		return nil
	}
	final := s.c.path("inbox", docking.FileName(num))
	if err := os.WriteFile(final+".part", data, 0o600); err != nil {
		return err
	}
	return os.Rename(final+".part", final)
}
