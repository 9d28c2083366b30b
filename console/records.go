package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/admin"
	"github.com/fieldsync/fieldsync/internal/webui"
)

// browseLimit is how many rows a browse or search page reads at most.
const browseLimit = 500

// table returns the request's table of the schema, or ErrNotFound.
func (c *Console) table(r *http.Request) (*fieldsync.Table, error) {
	return c.st.Schema().LookupTable(r.PathValue("table"))
}

func (c *Console) tables(w http.ResponseWriter, r *http.Request, s *session) error {
	c.render(w, r, s, http.StatusOK, "tables", "Records", c.st.Schema().Tables)
	return nil
}

// browseData is what a table's page shows.
type browseData struct {
	Table *fieldsync.Table
	Q     string
	List  *webui.List
	More  bool
}

// browse lists a table's rows, those whose any value holds q when a
// search is given.
func (c *Console) browse(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.table(r)
	if err != nil {
		return err
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	rows, more, err := c.search(r, t, q, browseLimit)
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "browse", t.Name, browseData{Table: t, Q: q,
		List: webui.NewList(t, rows, Base+"t/"+t.Name+"/r/"), More: more})
	return nil
}

// search returns up to limit rows of t holding q (case-insensitive) in
// any column, and whether the table has more rows than were read.
func (c *Console) search(r *http.Request, t *fieldsync.Table, q string, limit int) ([]fieldsync.Row, bool, error) {
	page, err := c.st.List(r.Context(), t.Name, fieldsync.Query{Limit: browseLimit})
	if err != nil {
		return nil, false, err
	}
	q = strings.ToLower(q)
	var out []fieldsync.Row
	for _, row := range page.Rows {
		if q == "" || matches(row, q) {
			out = append(out, row)
			if len(out) == limit {
				break
			}
		}
	}
	return out, page.Next != "", nil
}

// matches reports whether any value of row holds q (lower case).
func matches(row fieldsync.Row, q string) bool {
	for _, v := range row {
		if strings.Contains(strings.ToLower(webui.FormatValue(v)), q) {
			return true
		}
	}
	return false
}

// recordData is what a record's page shows: its form, and the rows of the
// tables that point at it (an opportunity's sales team, its activities).
type recordData struct {
	Form     *webui.Form
	Related  []related
	Existing bool
	History  []historyLine
	File     *attachmentData
}

// related is the rows of one table whose Column points at the record.
type related struct {
	Table  string
	Column string
	List   *webui.List
	AddURL string
}

func (c *Console) newRecord(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.table(r)
	if err != nil {
		return err
	}
	f := c.form(t, nil, s)
	f.Action = Base + "t/" + t.Name + "/new"
	for _, fd := range t.ForeignKeys() { // pre-filled from a related list's "add" link
		if v := r.URL.Query().Get(fd.Name); v != "" {
			f.Field(fd.Name).Value = v
		}
	}
	c.render(w, r, s, http.StatusOK, "record", "New "+t.Name, recordData{Form: f})
	return nil
}

// form is the form of t for row, with pickers and the session's token.
func (c *Console) form(t *fieldsync.Table, row fieldsync.Row, s *session) *webui.Form {
	f := webui.NewForm(t, row, Base+"pick/")
	f.CSRF = s.csrf
	return f
}

func (c *Console) createRecord(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.table(r)
	if err != nil {
		return err
	}
	id, vals, errs := webui.ParseForm(t, r.PostForm)
	if id != "" {
		vals["id"] = id
	}
	var row fieldsync.Row
	if len(errs) == 0 {
		row, err = admin.Create(r.Context(), c.st, t.Name, vals)
		if err != nil {
			errs = fieldErrors(t, err)
		}
	}
	if len(errs) > 0 {
		f := c.form(t, nil, s)
		f.Action = Base + "t/" + t.Name + "/new"
		f.SetValues(r.PostForm)
		f.SetErrors(errs)
		c.render(w, r, s, http.StatusUnprocessableEntity, "record", "New "+t.Name, recordData{Form: f})
		return nil
	}
	c.log.Info("record created", "user", s.label(), "table", t.Name, "id", row.ID())
	http.Redirect(w, r, Base+"t/"+t.Name+"/r/"+url.PathEscape(row.ID())+"?flash="+url.QueryEscape("Saved "+row.ID()+"."), http.StatusSeeOther)
	return nil
}

// fieldErrors puts a refused write's message next to the column it names,
// or on the form when it names none.
func fieldErrors(t *fieldsync.Table, err error) map[string]string {
	var fe *fieldsync.Error
	if !errors.As(err, &fe) {
		return map[string]string{"": err.Error()}
	}
	msg := fe.Msg
	for _, col := range t.Columns {
		n := col.Name
		if strings.Contains(msg, "column "+n+" ") || strings.Contains(msg, " "+n+"=") || strings.HasSuffix(msg, "column "+n) ||
			strings.Contains(msg, ": "+n+"=") || strings.Contains(msg, "("+n+")") {
			return map[string]string{n: msg}
		}
	}
	return map[string]string{"": msg}
}

func (c *Console) record(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.table(r)
	if err != nil {
		return err
	}
	row, err := c.st.Get(r.Context(), t.Name, r.PathValue("id"))
	if err != nil {
		return err
	}
	return c.showRecord(w, r, s, t, row, nil, http.StatusOK)
}

// showRecord draws a record's page, with the refused values and errors of
// a save when errs is not empty.
func (c *Console) showRecord(w http.ResponseWriter, r *http.Request, s *session, t *fieldsync.Table, row fieldsync.Row, errs map[string]string, status int) error {
	f := c.form(t, row, s)
	f.Action = Base + "t/" + t.Name + "/r/" + url.PathEscape(row.ID())
	if len(errs) > 0 {
		f.SetValues(r.PostForm)
		f.SetErrors(errs)
	}
	data := recordData{Form: f, Existing: true, File: c.attachment(t, row, s)}
	hist, err := c.history(r, t.Name, row.ID())
	if err != nil {
		return err
	}
	data.History = hist
	for _, ref := range c.st.Schema().ReferencesTo(t.Name) {
		page, err := c.st.List(r.Context(), ref.Table.Name, fieldsync.Query{Where: map[string]any{ref.Column.Name: row.ID()}, Limit: 100})
		if err != nil {
			return err
		}
		data.Related = append(data.Related, related{Table: ref.Table.Name, Column: ref.Column.Name,
			List:   webui.NewList(ref.Table, page.Rows, Base+"t/"+ref.Table.Name+"/r/"),
			AddURL: Base + "t/" + ref.Table.Name + "/new?" + url.Values{ref.Column.Name: {row.ID()}}.Encode()})
	}
	sort.SliceStable(data.Related, func(i, j int) bool { return len(data.Related[i].List.Rows) > len(data.Related[j].List.Rows) })
	c.render(w, r, s, status, "record", t.Name+" "+row.ID(), data)
	return nil
}

func (c *Console) updateRecord(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.table(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	row, err := c.st.Get(r.Context(), t.Name, id)
	if err != nil {
		return err
	}
	form := r.PostForm
	form.Del("id")
	_, vals, errs := webui.ParseForm(t, form)
	if len(errs) == 0 {
		if _, err := admin.Update(r.Context(), c.st, t.Name, id, vals); err != nil {
			errs = fieldErrors(t, err)
		}
	}
	if len(errs) > 0 {
		return c.showRecord(w, r, s, t, row, errs, http.StatusUnprocessableEntity)
	}
	c.log.Info("record updated", "user", s.label(), "table", t.Name, "id", id)
	http.Redirect(w, r, Base+"t/"+t.Name+"/r/"+url.PathEscape(id)+"?flash="+url.QueryEscape("Saved "+id+"."), http.StatusSeeOther)
	return nil
}

// choice is one row a foreign-key picker offers.
type choice struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// pick answers a picker: up to 20 rows of the table matching q, labelled
// by their first text column after the id.
func (c *Console) pick(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := c.table(r)
	if err != nil {
		return err
	}
	rows, _, err := c.search(r, t, r.URL.Query().Get("q"), 20)
	if err != nil {
		return err
	}
	out := []choice{}
	for _, row := range rows {
		label := ""
		for _, col := range t.Columns[1:] {
			if v, ok := row[col.Name].(string); ok && col.References == "" {
				label = v
				break
			}
		}
		out = append(out, choice{ID: row.ID(), Label: label})
	}
	webui.SecurityHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(out)
}
