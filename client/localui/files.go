package localui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/fieldsync/fieldsync"
)

// formMemory is how much of an upload form is held in memory; the rest of
// the file goes to a temporary file until it is attached.
const formMemory = 32 << 10

// File states, as FileInfo.State says them.
const (
	FileNone      = "none"       // the row names no file
	FileHere      = "here"       // the file is in the node's folder
	FileOnRequest = "on_request" // the file comes only once requested
	FileRequested = "requested"  // requested: it comes at the next sync
	FileComing    = "coming"     // it comes at the next sync
)

// FileInfo is what the view knows of a row's attachment file.
type FileInfo struct {
	Table string `json:"table"`
	ID    string `json:"id"`
	// Name is the file's original name (the row's file_name), Mode its
	// attachment mode, Ref its reference (sha256:HEX:SIZE).
	Name   string `json:"name,omitempty"`
	Mode   string `json:"mode,omitempty"`
	Ref    string `json:"ref,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size"`
	// State is one of FileNone, FileHere, FileOnRequest, FileRequested,
	// FileComing; Note says it in a sentence.
	State string `json:"state"`
	Note  string `json:"note"`
}

// Here reports whether the file is in the node's folder.
func (f FileInfo) Here() bool { return f.State == FileHere }

// fileTable is the table of the request's path, when it carries files.
func (s *Server) fileTable(name string) (*fieldsync.Table, error) {
	t, err := s.c.Store().Schema().LookupTable(name)
	if err != nil {
		return nil, err
	}
	if t.FileColumn() == nil {
		return nil, fieldsync.Errorf(fieldsync.ErrInvalid, "table %s carries no files", name)
	}
	return t, nil
}

// describeFile says where the file of row (of table t) is, as `client
// files get` would.
func (s *Server) describeFile(ctx context.Context, t *fieldsync.Table, row fieldsync.Row) (FileInfo, error) {
	fi := FileInfo{Table: t.Name, ID: row.ID(), State: FileNone, Note: "No file attached."}
	fi.Name, _ = row[fieldsync.FileNameColumn].(string)
	fi.Mode, _ = row[fieldsync.ModeColumn].(string)
	v, _ := row[t.FileColumn().Name].(string)
	if v == "" {
		return fi, nil
	}
	ref, err := fieldsync.ParseFileRef(v)
	if err != nil {
		return fi, err
	}
	fi.Ref, fi.SHA256, fi.Size = ref.String(), ref.SHA256, ref.Size
	if _, err := os.Stat(s.c.FilePath(ref)); err == nil {
		fi.State, fi.Note = FileHere, "In the node's folder."
		return fi, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fi, err
	}
	local, err := s.c.Store().State(ctx)
	if err != nil {
		return fi, err
	}
	onRequest := fi.Mode == fieldsync.ModeRequested || local.FileLimit > 0 && ref.Size > local.FileLimit
	switch {
	case onRequest && slices.Contains(local.Requested, t.Name+"/"+fi.ID):
		fi.State, fi.Note = FileRequested, "Requested: it comes at the next sync."
	case onRequest:
		fi.State, fi.Note = FileOnRequest, "Not in the node's folder: it comes only on request (Request it, then sync)."
	default:
		fi.State, fi.Note = FileComing, "Not in the node's folder yet: it comes at the next sync."
	}
	return fi, nil
}

// rowFile is the table, row and file state of the request's path.
func (s *Server) rowFile(r *http.Request) (FileInfo, error) {
	t, err := s.fileTable(r.PathValue("table"))
	if err != nil {
		return FileInfo{}, err
	}
	row, err := s.c.Get(r.Context(), t.Name, r.PathValue("id"))
	if err != nil {
		return FileInfo{}, err
	}
	return s.describeFile(r.Context(), t, row)
}

func (s *Server) fileInfo(w http.ResponseWriter, r *http.Request) {
	fi, err := s.rowFile(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, fi)
}

// inlineTypes are the kinds of file the view lets a browser show in place;
// any other file (HTML, SVG, scripts) is only ever downloaded, so that it
// cannot run on the view's origin.
var inlineTypes = map[string]string{
	".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
	".gif": "image/gif", ".webp": "image/webp", ".txt": "text/plain; charset=utf-8", ".csv": "text/plain; charset=utf-8",
}

// fileBytes answers the row's file from the node's folder, checked against
// its reference first (a damaged copy is refused, not served); ?download=1
// asks for it as a download.
func (s *Server) fileBytes(w http.ResponseWriter, r *http.Request) {
	fi, err := s.rowFile(r)
	if err == nil && !fi.Here() {
		err = fieldsync.Errorf(fieldsync.ErrNotFound, "the file of %s %s: %s", fi.Table, fi.ID, strings.ToLower(fi.Note[:1])+fi.Note[1:])
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ref, _ := fieldsync.ParseFileRef(fi.Ref)
	f, err := os.Open(s.c.FilePath(ref))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	if err := verify(f, ref); err != nil {
		s.fail(w, r, fmt.Errorf("the node's copy of the file of %s %s: %w", fi.Table, fi.ID, err))
		return
	}
	info, err := f.Stat()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	name := fi.Name
	if name == "" {
		name = fi.ID
	}
	ctype, inline := inlineTypes[strings.ToLower(filepath.Ext(name))]
	disposition := "inline"
	if !inline || r.URL.Query().Get("download") != "" {
		ctype, disposition = "application/octet-stream", "attachment"
	}
	if cd := mime.FormatMediaType(disposition, map[string]string{"filename": name}); cd != "" {
		disposition = cd
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", disposition)
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox; frame-ancestors 'none'")
	h.Set("X-Fieldsync-File", fi.Ref)
	http.ServeContent(w, r, "", info.ModTime(), f)
}

// verify checks f's content against ref and rewinds it.
func verify(f *os.File, ref fieldsync.FileRef) error {
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if got := (fieldsync.FileRef{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}); got != ref {
		return fieldsync.Errorf(fieldsync.ErrDamagedFile, "damaged: content %s does not match its reference %s", got, ref)
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}

func (s *Server) fileRequest(w http.ResponseWriter, r *http.Request) {
	if err := s.c.Request(r.Context(), r.PathValue("table"), r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("file requested", "table", r.PathValue("table"), "id", r.PathValue("id"))
	s.fileInfo(w, r)
}

// fileUpload attaches the request body as the row's file:
// ?name=FILE_NAME&mode=MODE, as the server's API takes it.
func (s *Server) fileUpload(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	row, err := s.attach(r.Context(), r.PathValue("table"), r.PathValue("id"), q.Get("name"), q.Get("mode"), r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, row)
}

// attach keeps body as the file of a row through the client's attach
// path: the row changes locally and goes up, with its file, at the next
// sync.
func (s *Server) attach(ctx context.Context, table, id, name, mode string, body io.Reader) (fieldsync.Row, error) {
	if _, err := s.fileTable(table); err != nil {
		return nil, err
	}
	if mode != "" && !fieldsync.ValidMode(mode) {
		return nil, fieldsync.Errorf(fieldsync.ErrInvalid, "mode %q: want published, requested or broadcast", mode)
	}
	if _, err := s.c.Get(ctx, table, id); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "fieldsync-attach-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, safeName(name))
	if err := copyTo(path, body); err != nil {
		return nil, err
	}
	row, err := s.c.Attach(ctx, table, id, path, mode)
	if err != nil {
		return nil, err
	}
	s.log.Info("file attached", "table", table, "id", id, "file", row[fieldsync.FileNameColumn])
	return row, nil
}

func copyTo(path string, body io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			return fieldsync.Errorf(fieldsync.ErrTooLarge, "the file is larger than the view's limit of %d bytes", tooBig.Limit-multipartSlack)
		}
		return fmt.Errorf("receive the file: %w", err)
	}
	return f.Close()
}

// safeName is a file name as the row keeps it: no folders, no control
// characters, at most 200 bytes; "file" when nothing is left.
func safeName(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '/' {
			return -1
		}
		return r
	}, name)
	for len(name) > 200 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || name == "." || name == ".." {
		return "file"
	}
	return name
}

// formError makes a refused upload form a clear one-line error.
func formError(err error) error {
	if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
		return fieldsync.Errorf(fieldsync.ErrTooLarge, "the file is larger than the view's limit of %d bytes", tooBig.Limit-multipartSlack)
	}
	return fieldsync.Errorf(fieldsync.ErrInvalid, "upload form: %v", err)
}

// attachForm attaches the file of the record page's upload form.
func (s *Server) attachForm(w http.ResponseWriter, r *http.Request) {
	table, id := r.PathValue("table"), r.PathValue("id")
	err := r.ParseMultipartForm(formMemory)
	if err != nil {
		err = formError(err)
	} else if file, hdr, ferr := r.FormFile("file"); ferr != nil {
		err = fieldsync.Errorf(fieldsync.ErrInvalid, "choose a file to attach")
	} else {
		defer file.Close()
		var row fieldsync.Row
		if row, err = s.attach(r.Context(), table, id, hdr.Filename, r.PostFormValue("mode"), file); err == nil {
			msg := fmt.Sprintf("Attached %s; it goes to the server at the next sync.", row[fieldsync.FileNameColumn])
			http.Redirect(w, r, "/records/"+table+"/"+url.PathEscape(id)+"?flash="+url.QueryEscape(msg), http.StatusSeeOther)
			return
		}
	}
	s.recordAfter(w, r, err)
}

// requestForm asks for the record's file from its page.
func (s *Server) requestForm(w http.ResponseWriter, r *http.Request) {
	table, id := r.PathValue("table"), r.PathValue("id")
	if err := s.c.Request(r.Context(), table, id); err != nil {
		s.recordAfter(w, r, err)
		return
	}
	s.log.Info("file requested", "table", table, "id", id)
	msg := "Requested: the file comes at the next sync."
	http.Redirect(w, r, "/records/"+table+"/"+url.PathEscape(id)+"?flash="+url.QueryEscape(msg), http.StatusSeeOther)
}
