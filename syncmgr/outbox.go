package syncmgr

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/syncproto"
)

func (m *Manager) extract(w http.ResponseWriter, r *http.Request, n fieldsync.Node, s *session) error {
	path := m.docking.Extract(n.Name)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return fieldsync.Errorf(fieldsync.ErrNotFound, "node %q has no extract yet (one may be being taken: try again shortly, or ask an administrator to run fieldsync admin node reextract %s)", n.Name, n.Name)
	} else if err != nil {
		return err
	}
	return m.serve(w, r, s, f, docking.ExtractName, TransferExtract)
}

func (m *Manager) outbox(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	nr, err := m.st.NodeRouting(r.Context(), n.Name)
	if err != nil {
		return err
	}
	files, err := m.outboxFiles(n.Name, nr.OutboxNext)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, files)
	return nil
}

func (m *Manager) outboxFile(w http.ResponseWriter, r *http.Request, n fieldsync.Node, s *session) error {
	num, ok := docking.ParseNumber(r.PathValue("number"))
	if !ok {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "outbox file number %q is not a positive number", r.PathValue("number"))
	}
	nr, err := m.st.NodeRouting(r.Context(), n.Name)
	if err != nil {
		return err
	}
	if num >= nr.OutboxNext { // written by a router that has not saved it (yet)
		return fieldsync.Errorf(fieldsync.ErrNotFound, "outbox file %d of node %s is not there yet", num, n.Name)
	}
	f, err := os.Open(m.docking.OutboxFile(n.Name, num))
	if errors.Is(err, os.ErrNotExist) {
		return fieldsync.Errorf(fieldsync.ErrNotFound, "outbox file %d of node %s is not there (acknowledged already?)", num, n.Name)
	} else if err != nil {
		return err
	}
	return m.serve(w, r, s, f, docking.FileName(num), TransferOutbox)
}

// ack deletes the outbox files up to the number the client has stored,
// after answering (acknowledged).
func (m *Manager) ack(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	var body syncproto.AckRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil || body.Upto < 0 {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "acknowledge with {\"upto\": N}")
	}
	files, err := m.outboxFiles(n.Name, body.Upto+1)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, syncproto.AckAnswer{Deleted: len(files)})
	m.acknowledged(n.Name, body.Upto, files)
	return nil
}

// serve sends a file of kind (ranged: a broken download resumes),
// counting it in the session, and closes it.
func (m *Manager) serve(w http.ResponseWriter, r *http.Request, s *session, f *os.File, name, kind string) error {
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	m.transferred(s, kind, false, info.Size())
	http.ServeContent(w, r, name, info.ModTime(), f)
	return nil
}

// outboxFiles lists the node's outbox files the router has committed to
// (numbers below its saved next number), in order.
func (m *Manager) outboxFiles(node string, next int64) ([]syncproto.OutboxFile, error) {
	m.removed(node)
	files, err := docking.List(m.docking.Outbox(node))
	if err != nil {
		return nil, err
	}
	out := []syncproto.OutboxFile{}
	for _, f := range files {
		if f.Number < next {
			out = append(out, f)
		}
	}
	return out, nil
}
