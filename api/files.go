package api

import (
	"errors"
	"net/http"

	"github.com/fieldsync/fieldsync"
)

// fileColumn returns the file column of a table, or an error saying the
// table carries no files.
func (h *handler) fileColumn(table string) (*fieldsync.Table, *fieldsync.Column, error) {
	if h.opts.Files == nil {
		return nil, nil, fieldsync.Errorf(fieldsync.ErrForbidden, "this server keeps no files")
	}
	t, err := h.st.Schema().LookupTable(table)
	if err != nil {
		return nil, nil, err
	}
	if c := t.FileColumn(); c != nil {
		return t, c, nil
	}
	return nil, nil, fieldsync.Errorf(fieldsync.ErrInvalid, "table %s carries no files", table)
}

// attach stores the request body in the file store and sets the row's file
// column to it (and file_name and mode, when the table has them).
func (h *handler) attach(w http.ResponseWriter, r *http.Request) error {
	t, col, err := h.fileColumn(r.PathValue("table"))
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := h.st.Get(r.Context(), t.Name, id); err != nil {
		return err
	}
	ref, err := h.opts.Files.Put(r.Body, fieldsync.FileRef{})
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fieldsync.Errorf(fieldsync.ErrTooLarge, "file larger than the limit of %d bytes", tooBig.Limit)
		}
		return err
	}
	vals := map[string]any{col.Name: ref.String()}
	if name := r.URL.Query().Get("name"); name != "" && t.Column(fieldsync.FileNameColumn) != nil {
		vals[fieldsync.FileNameColumn] = name
	}
	if mode := r.URL.Query().Get("mode"); mode != "" {
		if !fieldsync.ValidMode(mode) {
			return fieldsync.Errorf(fieldsync.ErrInvalid, "mode %q is not %s, %s or %s", mode, fieldsync.ModePublished, fieldsync.ModeRequested, fieldsync.ModeBroadcast)
		}
		if t.Column(fieldsync.ModeColumn) != nil {
			vals[fieldsync.ModeColumn] = mode
		}
	}
	if _, err := h.st.Apply(r.Context(), "", fieldsync.Update(t.Name, id, vals)); err != nil {
		return err
	}
	row, err := h.st.Get(r.Context(), t.Name, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, row)
	return nil
}

// fetch serves a row's file, ranged (a broken download resumes).
func (h *handler) fetch(w http.ResponseWriter, r *http.Request) error {
	t, col, err := h.fileColumn(r.PathValue("table"))
	if err != nil {
		return err
	}
	row, err := h.st.Get(r.Context(), t.Name, r.PathValue("id"))
	if err != nil {
		return err
	}
	v, _ := row[col.Name].(string)
	if v == "" {
		return fieldsync.Errorf(fieldsync.ErrNotFound, "%s %q has no file", t.Name, r.PathValue("id"))
	}
	ref, err := fieldsync.ParseFileRef(v)
	if err != nil {
		return err
	}
	f, err := h.opts.Files.Open(ref)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	w.Header().Set("X-Fieldsync-File", ref.String())
	http.ServeContent(w, r, ref.SHA256, info.ModTime(), f)
	return nil
}
