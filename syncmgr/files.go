package syncmgr

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/syncproto"
	"github.com/fieldsync/fieldsync/visibility"
)

// Files is what the Synchronization Manager serves attachment files from.
type Files interface {
	Open(ref fieldsync.FileRef) (*os.File, error)
}

// file serves an attachment file to a node that sees a row carrying it
// (or a row in broadcast mode), ranged so that a broken download resumes.
func (m *Manager) file(w http.ResponseWriter, r *http.Request, n fieldsync.Node, s *session) error {
	if m.opts.Files == nil {
		return fieldsync.Errorf(fieldsync.ErrNotFound, "this server keeps no files")
	}
	ref, err := fieldsync.ParseFileRef(r.PathValue("ref"))
	if err != nil {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "%v", err)
	}
	ok, err := m.mayHaveFile(r.Context(), n, ref)
	if err != nil {
		return err
	}
	if !ok {
		return fieldsync.Errorf(fieldsync.ErrNotFound, "node %s sees no row carrying file %s", n.Name, ref)
	}
	f, err := m.opts.Files.Open(ref)
	if err != nil {
		return err
	}
	return m.serve(w, r, s, f, ref.SHA256, TransferFile)
}

// mayHaveFile reports whether a node sees a row carrying the file, or the
// row is in broadcast mode.
func (m *Manager) mayHaveFile(ctx context.Context, n fieldsync.Node, ref fieldsync.FileRef) (bool, error) {
	s := m.st.Schema()
	for _, t := range s.Tables {
		for _, c := range t.Columns {
			if c.Type != fieldsync.TypeFile {
				continue
			}
			p, err := m.st.List(ctx, t.Name, fieldsync.Query{Where: map[string]any{c.Name: ref.String()}, Limit: 100})
			if err != nil {
				return false, err
			}
			for _, row := range p.Rows {
				if t.Broadcast(row) {
					return true, nil
				}
				ok, err := visibility.Sees(ctx, m.st, s, n.EmployeeID, t.Name, row.ID())
				if err != nil || ok {
					return ok, err
				}
			}
		}
	}
	return false, nil
}

// FileStore is where nodes' uploaded attachment files go.
type FileStore interface {
	Files
	Have(key string, ref fieldsync.FileRef) int64
	UploadedSince(key string, since time.Time) (int64, error)
	Resume(key string, ref fieldsync.FileRef, offset int64, r io.Reader) (bool, error)
}

// uploadFile takes (a piece of) an attachment file a node created offline,
// from byte syncproto.HeaderOffset on: a broken upload resumes from what the
// server holds (GET .../upload tells). The whole file is checked against
// its reference before it is kept.
func (m *Manager) uploadFile(w http.ResponseWriter, r *http.Request, n fieldsync.Node, s *session) error {
	fs, ref, err := m.fileUpload(r)
	if err != nil {
		return err
	}
	offset, _ := strconv.ParseInt(r.Header.Get(syncproto.HeaderOffset), 10, 64)
	if offset == 0 {
		if err := m.dailyLimits(r.Context(), n.Name); err != nil {
			return err
		}
	}
	done, err := fs.Resume(n.Name, ref, offset, r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fieldsync.Errorf(fieldsync.ErrTooLarge, "upload larger than %d bytes", tooBig.Limit)
		}
		if errors.Is(err, fieldsync.ErrNodeLimit) {
			return m.refuse(n.Name, "unfinished file uploads", err)
		}
		return err
	}
	have := fs.Have(n.Name, ref)
	m.transferred(s, TransferFile, true, have-offset)
	writeJSON(w, http.StatusOK, syncproto.FileUploaded{File: ref.String(), Have: have, Stored: done})
	return nil
}

// fileHave tells how much of a file the server holds from a node's upload.
func (m *Manager) fileHave(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	fs, ref, err := m.fileUpload(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, syncproto.FileHave{File: ref.String(), Have: fs.Have(n.Name, ref)})
	return nil
}

func (m *Manager) fileUpload(r *http.Request) (FileStore, fieldsync.FileRef, error) {
	fs, ok := m.opts.Files.(FileStore)
	if !ok {
		return nil, fieldsync.FileRef{}, fieldsync.Errorf(fieldsync.ErrNotFound, "this server keeps no files")
	}
	ref, err := fieldsync.ParseFileRef(r.PathValue("ref"))
	if err != nil {
		return nil, ref, fieldsync.Errorf(fieldsync.ErrInvalid, "%v", err)
	}
	return fs, ref, nil
}
