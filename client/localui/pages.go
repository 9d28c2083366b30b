package localui

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/httperr"
	"github.com/fieldsync/fieldsync/internal/webui"
)

//go:embed static
var static embed.FS

var pageTemplates = template.Must(template.New("field").Parse(`
{{define "home"}}<section aria-labelledby="sync-h"><h2 id="sync-h">Sync</h2>
<p id="status">Node {{.St.Node}}. Last sync: {{if .St.LastSync}}{{.St.LastSync}} ({{.St.LastResult}}){{else}}never{{end}}.
Pending changes: {{.St.PendingChanges}}. Pending uploads: {{.St.PendingUploads}}. Conflicts: {{len .St.Conflicts}}.</p>
<form id="sync-form" method="post" action="/sync"><input type="hidden" name="csrf" value="{{.CSRF}}">
<button type="submit" id="sync">Sync now</button></form>
<p id="sync-progress" role="status" aria-live="polite"></p><script src="/field/sync.js" defer></script></section>
<section aria-labelledby="tables-h"><h2 id="tables-h">Records</h2><ul>
{{range .Tables}}<li><a href="/records/{{.}}">{{.}}</a></li>{{end}}</ul></section>
{{if .St.Conflicts}}<section aria-labelledby="conf-h"><h2 id="conf-h">Conflicts and refusals</h2><ul>
{{range .St.Conflicts}}<li>{{.Kind}} {{.Table}} {{.RowID}} {{.Column}}: kept {{.Winner}}, not {{.Loser}}</li>{{end}}</ul></section>{{end}}
{{end}}
{{define "search"}}<form method="get" role="search"><label for="q">Search</label>
<input id="q" name="q" value="{{.Q}}"> <button type="submit">Search</button>
<a href="/records/{{.Table}}/new">New {{.Table}}</a></form>
{{if .Q}}<p id="matching" data-q="{{.Q}}">{{.N}} record(s) matching “{{.Q}}”{{if .Paged}} on this page{{end}}.</p>{{end}}{{.List}}
{{if .Paged}}<nav class="pages" aria-label="Pages of {{.Table}}"><span id="page-no">Page {{.Page}}</span>
{{if .First}}<a id="page-first" href="{{.First}}">First page</a>{{end}}
{{if .Next}}<a id="page-next" rel="next" href="{{.Next}}">Next page</a>{{end}}</nav>{{end}}{{end}}
{{define "attachment"}}<section class="attachment" aria-labelledby="file-h" id="attachment" data-state="{{.F.State}}"><h2 id="file-h">Attached file</h2>
{{if .F.Ref}}<p id="file-state"><b id="file-name">{{or .F.Name "(no name)"}}</b>, {{.Size}}{{if .F.Mode}}, {{.F.Mode}}{{end}}. {{.F.Note}}</p>
{{if .F.Here}}<p class="file-links"><a id="file-open" href="{{.Href}}" target="_blank" rel="noopener">Open</a>
<a id="file-download" href="{{.Href}}?download=1">Download</a></p>{{end}}
{{if eq .F.State "on_request"}}<form method="post" action="/records/{{.F.Table}}/{{.F.ID}}/request"><input type="hidden" name="csrf" value="{{.CSRF}}">
<button type="submit" id="file-request">Request the file</button></form>{{end}}
{{else}}<p id="file-state">{{.F.Note}}</p>{{end}}
<form class="record" method="post" action="/records/{{.F.Table}}/{{.F.ID}}/file" enctype="multipart/form-data">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<div class="field"><label for="file-input">Attach a file</label><input type="file" id="file-input" name="file" required aria-describedby="file-hint">
<p class="hint" id="file-hint">at most {{.Max}}; it replaces the file above and goes to the server at the next sync</p></div>
{{if .Modes}}<div class="field"><label for="file-mode">Who gets the file</label><select id="file-mode" name="mode">
<option value="">as the table decides</option><option value="published">published: every node that sees the row</option>
<option value="requested">requested: nodes that ask for it</option></select></div>{{end}}
<div><button type="submit" id="file-attach">Attach</button></div></form></section>{{end}}
`))

// staticFS is the view's own script, served under /field/.
func staticFS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// tableNames are the schema's tables, for the navigation.
func (s *Server) tableNames() []string {
	var out []string
	for _, t := range s.c.Store().Schema().Tables {
		out = append(out, t.Name)
	}
	return out
}

func (s *Server) page(w http.ResponseWriter, status int, title string, body template.HTML, flash string, bad bool) {
	webui.Render(w, status, webui.Page{Title: title, Base: "/", Product: "fieldsync — " + s.c.Node(),
		Nav: []webui.Link{{Label: "Home", Href: "/"}}, CSRF: s.csrf, Flash: flash, FlashBad: bad,
		Body: `<link rel="stylesheet" href="/field/field.css">` + body})
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	st, err := s.c.Status(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := webui.Fragment(pageTemplates, "home", map[string]any{"St": st, "CSRF": s.csrf, "Tables": s.tableNames()})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.page(w, http.StatusOK, "Node "+s.c.Node(), body, r.URL.Query().Get("flash"), false)
}

// syncForm starts a sync from the page without script and goes back home.
func (s *Server) syncForm(w http.ResponseWriter, r *http.Request) {
	s.StartSync()
	http.Redirect(w, r, "/?flash="+url.QueryEscape("Sync started."), http.StatusSeeOther)
}

// pageRows is how many rows a page of a record list shows.
const pageRows = 50

// errPageFull stops a scan once a page is full and one more row is seen.
var errPageFull = errors.New("page full")

// records lists one page of a table's rows (?after=ID for the next ones),
// those with a value containing ?q= when given.
func (s *Server) records(w http.ResponseWriter, r *http.Request) {
	t, err := s.c.Store().Schema().LookupTable(r.PathValue("table"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	after := r.URL.Query().Get("after")
	pageNo, _ := atoiOr(r.URL.Query().Get("page"), 1)
	var rows []fieldsync.Row
	more := false
	err = fieldsync.Each(r.Context(), s.c, t.Name, fieldsync.Query{After: after}, func(row fieldsync.Row) error {
		if q != "" && !rowMatches(row, q) {
			return nil
		}
		if len(rows) == pageRows {
			more = true
			return errPageFull
		}
		rows = append(rows, row)
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		s.fail(w, r, err)
		return
	}
	data := map[string]any{"Q": q, "N": len(rows), "Table": t.Name, "Page": max(pageNo, 1), "Paged": more || after != ""}
	if after != "" {
		data["First"] = pageLink(t.Name, q, "", 1)
	}
	if more {
		data["Next"] = pageLink(t.Name, q, rows[len(rows)-1].ID(), max(pageNo, 1)+1)
	}
	list, err := webui.RenderList(webui.NewList(t, rows, "/records/"+t.Name+"/"))
	if err == nil {
		data["List"] = list
		var body template.HTML
		body, err = webui.Fragment(pageTemplates, "search", data)
		if err == nil {
			s.page(w, http.StatusOK, t.Name, body, "", false)
			return
		}
	}
	s.fail(w, r, err)
}

// pageLink is the address of a page of a record list.
func pageLink(table, q, after string, page int) string {
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	if after != "" {
		v.Set("after", after)
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/records/" + table
	}
	return "/records/" + table + "?" + v.Encode()
}

func rowMatches(row fieldsync.Row, q string) bool {
	q = strings.ToLower(q)
	for _, v := range row {
		if strings.Contains(strings.ToLower(webui.FormatValue(v)), q) {
			return true
		}
	}
	return false
}

// record shows the schema-built form of one row ("new" for a new one).
func (s *Server) record(w http.ResponseWriter, r *http.Request) {
	s.showRecord(w, r, http.StatusOK, r.URL.Query().Get("flash"), false)
}

// recordAfter shows the record page again after a refused file action,
// the refusal as its message; errors that are no refusal are answered as
// such.
func (s *Server) recordAfter(w http.ResponseWriter, r *http.Request, err error) {
	k := httperr.Of(err)
	if k.Status >= 500 {
		s.fail(w, r, err)
		return
	}
	s.showRecord(w, r, k.Status, "Not done: "+err.Error(), true)
}

func (s *Server) showRecord(w http.ResponseWriter, r *http.Request, status int, flash string, bad bool) {
	t, err := s.c.Store().Schema().LookupTable(r.PathValue("table"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var row fieldsync.Row
	if id := r.PathValue("id"); id != "new" {
		if row, err = s.c.Get(r.Context(), t.Name, id); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	f := s.newForm(t, row)
	s.showForm(w, r, status, t, f, row, flash, bad)
}

// newForm is the record form of the field view: foreign keys get a picker
// of the node's local rows, and the file column is shown, not edited
// (the attachment section below the form changes it).
func (s *Server) newForm(t *fieldsync.Table, row fieldsync.Row) *webui.Form {
	f := webui.NewForm(t, row, "/api/v1/pick/")
	for i := range f.Fields {
		if f.Fields[i].Type == fieldsync.TypeFile {
			f.Fields[i].ReadOnly = true
		}
	}
	return f
}

func (s *Server) showForm(w http.ResponseWriter, r *http.Request, status int, t *fieldsync.Table, f *webui.Form, row fieldsync.Row, flash string, bad bool) {
	f.CSRF = s.csrf
	f.Action = "/records/" + t.Name + "/" + f.ID
	title := t.Name + " " + f.ID
	if name := f.Field("name"); name != nil && name.Value != "" {
		title = t.Name + ": " + name.Value // an id is too long a heading at phone width
	}
	if f.ID == "" {
		f.Action, title = "/records/"+t.Name+"/new", "New "+t.Name
	}
	body, err := webui.RenderForm(f)
	if err == nil && f.ID != "" && row != nil && t.FileColumn() != nil {
		var section template.HTML
		section, err = s.attachmentSection(r, t, row)
		body += section
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.page(w, status, title, body, flash, bad)
}

// attachmentSection draws a row's file: its name, size and state, Open and
// Download when it is here, Request when it comes only on request, and the
// form that attaches a file.
func (s *Server) attachmentSection(r *http.Request, t *fieldsync.Table, row fieldsync.Row) (template.HTML, error) {
	fi, err := s.describeFile(r.Context(), t, row)
	if err != nil {
		return "", err
	}
	modes := t.Column(fieldsync.ModeColumn) != nil
	return webui.Fragment(pageTemplates, "attachment", map[string]any{"F": fi, "Size": sizeText(fi.Size), "Max": sizeText(s.MaxFile),
		"Href": "/api/v1/records/" + t.Name + "/" + url.PathEscape(fi.ID) + "/file", "CSRF": s.csrf, "Modes": modes})
}

// sizeText writes a byte count for people: 512 bytes, 2.9 kB, 1.5 MB.
func sizeText(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d bytes", n)
	case n < 1_000_000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1_000_000_000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	default:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	}
}

// save writes a posted form through the local write path; refused values
// come back next to their fields.
func (s *Server) save(w http.ResponseWriter, r *http.Request) {
	t, err := s.c.Store().Schema().LookupTable(r.PathValue("table"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, err)
		return
	}
	id, vals, errs := webui.ParseForm(t, r.PostForm)
	for _, c := range t.Columns {
		if c.Type == fieldsync.TypeFile {
			delete(vals, c.Name) // changed by attaching a file only
		}
	}
	ch := fieldsync.Update(t.Name, r.PathValue("id"), vals)
	if r.PathValue("id") == "new" {
		ch = fieldsync.Insert(t.Name, vals)
		ch.ID = id
	}
	var row fieldsync.Row
	if len(errs) == 0 {
		txns, err := s.c.Apply(r.Context(), ch)
		if err == nil {
			if ch.ID == "" && len(txns) > 0 {
				ch.ID = txns[0].RowID
			}
			http.Redirect(w, r, "/records/"+t.Name+"/"+url.PathEscape(ch.ID)+"?flash="+url.QueryEscape("Saved; it goes to the server at the next sync."), http.StatusSeeOther)
			return
		}
		if !errors.Is(err, fieldsync.ErrInvalid) && !errors.Is(err, fieldsync.ErrForbidden) && !errors.Is(err, fieldsync.ErrNotFound) {
			s.fail(w, r, err)
			return
		}
		errs = map[string]string{"": err.Error()}
	}
	if ch.Op == fieldsync.OpUpdate {
		row = fieldsync.Row{"id": ch.ID}
	}
	f := s.newForm(t, row)
	f.SetValues(r.PostForm)
	f.SetErrors(errs)
	s.showForm(w, r, http.StatusUnprocessableEntity, t, f, nil, fmt.Sprintf("Not saved: %d problem(s).", len(errs)), true)
}
