package syncmgr

import (
	"errors"
	"io"
	"net/http"
	"os"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/durable"
	"github.com/fieldsync/fieldsync/syncproto"
)

// upload takes one upload file into the node's server inbox: verified
// whole (checksum, header naming this node and number) before it is kept.
// Only the next UploadsAhead numbers past the last merged are taken.
func (m *Manager) upload(w http.ResponseWriter, r *http.Request, n fieldsync.Node, s *session) error {
	num, ok := docking.ParseNumber(r.PathValue("number"))
	if !ok {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "upload number %q is not a positive number", r.PathValue("number"))
	}
	last, err := m.st.LastMerged(r.Context(), n.Name)
	if err != nil {
		return err
	}
	if err := m.uploadWindow(n.Name, num, last); err != nil {
		return err
	}
	if num > last {
		if err := m.dailyLimits(r.Context(), n.Name); err != nil {
			return err
		}
	}
	dir := m.docking.Inbox(n.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	af, err := durable.Create(dir, docking.FileName(num))
	if err != nil {
		return err
	}
	defer af.Abort()
	body := http.MaxBytesReader(w, r.Body, m.opts.MaxUploadBytes)
	size, err := io.Copy(af, body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return fieldsync.Errorf(fieldsync.ErrTooLarge, "upload larger than %d bytes", tooBig.Limit)
	} else if err != nil {
		return err
	}
	if num <= last {
		writeJSON(w, http.StatusOK, syncproto.UploadAnswer{Number: num, Duplicate: true})
		return nil
	}
	f, err := os.Open(af.TempPath())
	if err != nil {
		return err
	}
	rd, err := dx.Open(f, size, dx.Limits{MaxFileBytes: m.opts.MaxUploadBytes})
	if err == nil {
		hdr := rd.Header()
		if hdr.Kind != dx.KindUpload || hdr.Node != n.Name || int64(hdr.Number) != num {
			err = fieldsync.Errorf(fieldsync.ErrInvalid, "upload %d: the file is a %s file for node %q numbered %d", num, hdr.Kind, hdr.Node, hdr.Number)
		}
		rd.Close()
	}
	f.Close()
	if err != nil {
		return err
	}
	if err := af.Commit(); err != nil {
		return err
	}
	if err := m.st.NoteUpload(r.Context(), n.Name, num); err != nil {
		return err // the node sends the file again at its next sync
	}
	m.transferred(s, TransferUpload, true, size)
	if m.opts.Uploaded != nil {
		m.opts.Uploaded(n.Name)
	}
	writeJSON(w, http.StatusOK, syncproto.UploadAnswer{Number: num})
	return nil
}
