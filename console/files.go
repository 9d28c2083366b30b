package console

import (
	"crypto/subtle"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/admin"
)

// Files is what the console needs of the server's attachment file store.
type Files interface {
	// Put stores what r holds and returns its reference.
	Put(r io.Reader, want fieldsync.FileRef) (fieldsync.FileRef, error)
	// Open opens the stored file of a reference.
	Open(ref fieldsync.FileRef) (*os.File, error)
	// MaxSize is the size limit of one file.
	MaxSize() int64
}

// attachPattern is the route of a record's file upload, the one request
// whose body may be larger than a form (up to the file store's limit).
const attachPattern = "POST /ui/t/{table}/r/{id}/file"

// maxFileName bounds the file name an upload keeps.
const maxFileName = 255

// bodyLimit is how large the body of a request may be.
func (c *Console) bodyLimit(r *http.Request) int64 {
	if c.opts.Files != nil {
		if _, pattern := c.mux.Handler(r); pattern == attachPattern {
			return c.opts.Files.MaxSize() + maxFormBytes
		}
	}
	return maxFormBytes
}

// attachmentData is the file section of a record's page.
type attachmentData struct {
	Action   string
	Download string
	CSRF     string
	Column   string
	Ref      *fieldsync.FileRef
	// HashParts is the file's SHA-256 in pieces a narrow page may
	// break between.
	HashParts []string
	Name      string
	Mode      string
	Modes     []string
	MaxBytes  int64
	MaxSize   string
	Error     string
}

// attachment is the file section of a record of t, nil when t carries no
// files or the server keeps none.
func (c *Console) attachment(t *fieldsync.Table, row fieldsync.Row, s *session) *attachmentData {
	col := t.FileColumn()
	if col == nil || c.opts.Files == nil {
		return nil
	}
	path := Base + "t/" + url.PathEscape(t.Name) + "/r/" + url.PathEscape(row.ID()) + "/file"
	d := &attachmentData{Action: path, Download: path, CSRF: s.csrf, Column: col.Name, MaxBytes: c.opts.Files.MaxSize(),
		MaxSize: sizeLabel(c.opts.Files.MaxSize())}
	if v, _ := row[col.Name].(string); v != "" {
		if ref, err := fieldsync.ParseFileRef(v); err == nil {
			d.Ref = &ref
			for i := 0; i < len(ref.SHA256); i += 16 {
				d.HashParts = append(d.HashParts, ref.SHA256[i:i+16])
			}
		} else {
			d.Error = err.Error()
		}
	}
	d.Name, _ = row[fieldsync.FileNameColumn].(string)
	if t.Column(fieldsync.ModeColumn) != nil {
		d.Mode, _ = row[fieldsync.ModeColumn].(string)
		d.Modes = []string{fieldsync.ModePublished, fieldsync.ModeRequested, fieldsync.ModeBroadcast}
	}
	return d
}

// fileRecord returns the request's table, its file column and row.
func (c *Console) fileRecord(r *http.Request) (*fieldsync.Table, *fieldsync.Column, fieldsync.Row, error) {
	if c.opts.Files == nil {
		return nil, nil, nil, fieldsync.Errorf(fieldsync.ErrForbidden, "this server keeps no files")
	}
	t, err := c.table(r)
	if err != nil {
		return nil, nil, nil, err
	}
	col := t.FileColumn()
	if col == nil {
		return nil, nil, nil, fieldsync.Errorf(fieldsync.ErrInvalid, "table %s carries no files", t.Name)
	}
	row, err := c.st.Get(r.Context(), t.Name, r.PathValue("id"))
	return t, col, row, err
}

// attachRoute serves attachPattern: a multipart form whose first part is
// the session's CSRF token, then the mode (when the table has one), then
// the file, which streams into the file store.
func (c *Console) attachRoute(w http.ResponseWriter, r *http.Request) {
	s := c.current(r)
	if s == nil {
		http.Redirect(w, r, Base+"signin", http.StatusSeeOther)
		return
	}
	if s.login != "" {
		r = r.WithContext(fieldsync.WithUser(r.Context(), s.login))
	}
	if err := c.attach(w, r, s); err != nil {
		c.fail(w, r, s, err)
	}
}

// attach stores the uploaded file and sets the row's file column to it,
// with its name and mode when the table has those columns.
func (c *Console) attach(w http.ResponseWriter, r *http.Request, s *session) error {
	mr, err := r.MultipartReader()
	if err != nil {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "the upload is not a multipart form: %v", err)
	}
	csrf, err := formPart(mr, "csrf")
	if err != nil || subtle.ConstantTimeCompare([]byte(csrf), []byte(s.csrf)) != 1 {
		c.log.Warn("upload without its CSRF token refused", "user", s.label(), "path", r.URL.Path)
		return fieldsync.Errorf(fieldsync.ErrForbidden, "the form is stale or was not sent from this console: reload the page and try again")
	}
	t, col, _, err := c.fileRecord(r)
	if err != nil {
		return err
	}
	vals := map[string]any{}
	part, err := mr.NextPart()
	if err == nil && part.FormName() == "mode" {
		mode, err := readSmall(part, "mode")
		if err != nil {
			return err
		}
		if mode != "" && t.Column(fieldsync.ModeColumn) != nil {
			if !fieldsync.ValidMode(mode) {
				return fieldsync.Errorf(fieldsync.ErrInvalid, "mode %q is not %s, %s or %s", mode, fieldsync.ModePublished, fieldsync.ModeRequested, fieldsync.ModeBroadcast)
			}
			vals[fieldsync.ModeColumn] = mode
		}
		part, err = mr.NextPart()
	}
	if err != nil || part.FormName() != "file" || part.FileName() == "" {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "the upload holds no file: choose one in the field \"File\"")
	}
	ref, err := c.opts.Files.Put(part, fieldsync.FileRef{})
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fieldsync.Errorf(fieldsync.ErrTooLarge, "file larger than the limit of %d bytes", c.opts.Files.MaxSize())
		}
		return err
	}
	vals[col.Name] = ref.String()
	if name := fileName(part.FileName()); name != "" && t.Column(fieldsync.FileNameColumn) != nil {
		vals[fieldsync.FileNameColumn] = name
	}
	id := r.PathValue("id")
	if _, err := admin.Update(r.Context(), c.st, t.Name, id, vals); err != nil {
		return err
	}
	c.log.Info("file attached", "user", s.label(), "table", t.Name, "id", id, "file", ref.String())
	msg := "Attached " + strconv.FormatInt(ref.Size, 10) + " bytes (sha256 " + ref.SHA256[:12] + "…)."
	http.Redirect(w, r, Base+"t/"+url.PathEscape(t.Name)+"/r/"+url.PathEscape(id)+"?flash="+url.QueryEscape(msg), http.StatusSeeOther)
	return nil
}

// formPart reads the next part of a multipart form, which must be the
// small field name.
func formPart(mr *multipart.Reader, name string) (string, error) {
	part, err := mr.NextPart()
	if err != nil {
		return "", err
	}
	if part.FormName() != name {
		return "", fieldsync.Errorf(fieldsync.ErrInvalid, "the form's first field is %q, not %q", part.FormName(), name)
	}
	return readSmall(part, name)
}

// readSmall reads a form field of at most 1 KiB.
func readSmall(r io.Reader, name string) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1025))
	if err != nil {
		return "", fieldsync.Errorf(fieldsync.ErrInvalid, "read field %s: %v", name, err)
	}
	if len(b) > 1024 {
		return "", fieldsync.Errorf(fieldsync.ErrInvalid, "field %s is longer than 1024 bytes", name)
	}
	return strings.TrimSpace(string(b)), nil
}

// fileName is the base name a browser gave an uploaded file, kept valid
// UTF-8 without control characters and at most maxFileName bytes.
func fileName(s string) string {
	s = filepath.Base(strings.ReplaceAll(s, "\\", "/"))
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	for len(s) > maxFileName {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	if s == "." || s == "/" {
		return ""
	}
	return s
}

// download serves a record's file as an attachment, ranged.
func (c *Console) download(w http.ResponseWriter, r *http.Request, s *session) error {
	t, col, row, err := c.fileRecord(r)
	if err != nil {
		return err
	}
	v, _ := row[col.Name].(string)
	if v == "" {
		return fieldsync.Errorf(fieldsync.ErrNotFound, "%s %q has no file", t.Name, row.ID())
	}
	ref, err := fieldsync.ParseFileRef(v)
	if err != nil {
		return err
	}
	f, err := c.opts.Files.Open(ref)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	name, _ := row[fieldsync.FileNameColumn].(string)
	if name = fileName(name); name == "" {
		name = row.ID()
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Fieldsync-File", ref.String())
	http.ServeContent(w, r, "", info.ModTime(), f)
	return nil
}

// sizeLabel writes a byte count in the largest binary unit it fills
// whole ("1 GiB"), or in bytes.
func sizeLabel(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + " " + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
