package webui

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"strconv"
)

//go:embed assets templates
var files embed.FS

// templates are the package's own templates (layout, form, list).
var templates = template.Must(parseBase())

// parseBase parses the package's templates afresh: a template set that has
// executed cannot be cloned, so each caller's set starts from its own.
func parseBase() (*template.Template, error) {
	return template.New("webui").Funcs(template.FuncMap{"value": FormatValue}).ParseFS(files, "templates/*.html")
}

// Assets serves the embedded style sheet and script (webui.css, picker.js).
// Mount it under the Page's Base + "assets/".
func Assets() http.Handler {
	sub, err := fs.Sub(files, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	fsrv := http.FileServer(http.FS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}

// Link is one entry of a page's navigation bar.
type Link struct {
	Label string
	Href  string
}

// Page is what the layout template draws around a page's content.
type Page struct {
	// Title is the page's heading and the window title.
	Title string
	// Base is the path the pages live under ("/ui/"); assets come from
	// Base + "assets/".
	Base string
	// Product names the application in the header ("fieldsync console").
	Product string
	// Nav lists the navigation bar's links.
	Nav []Link
	// User is who is signed in ("" shows no sign-out form).
	User string
	// CSRF is the token the sign-out form (and every form of Body) carries.
	CSRF string
	// Flash is a one-line message shown above the content; FlashBad marks it an error.
	Flash    string
	FlashBad bool
	// Body is the page's content, already rendered (RenderForm, RenderList, Fragment).
	Body template.HTML
}

// Render writes the page inside the layout, with the headers every page
// carries (no framing, no sniffing, scripts only from the page's own origin).
func Render(w http.ResponseWriter, status int, p Page) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, "layout", p); err != nil {
		http.Error(w, "render page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	SecurityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// SecurityHeaders sets the headers of every page: a content security policy
// that allows nothing but the page's own origin, no framing, no sniffing,
// no caching of pages that hold records.
func SecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// Fragment renders one of the package's named templates, or a template of
// the caller's (parsed with Template), to HTML for a Page's Body.
func Fragment(t *template.Template, name string, data any) (template.HTML, error) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	return template.HTML(buf.String()), nil // #nosec: html/template escaped it
}

// Template parses page templates of a caller's own, with the package's
// functions ("value") and its named templates ("form", "list") available to
// them.
func Template(fsys fs.FS, patterns ...string) (*template.Template, error) {
	t, err := parseBase()
	if err != nil {
		return nil, err
	}
	return t.ParseFS(fsys, patterns...)
}

// FormatValue writes a canonical value the way a form field or list cell
// shows it: "" for null, decimal numbers, true/false.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	default:
		return fmt.Sprint(x)
	}
}

// write executes a package template to w (used by the Render* helpers).
func write(w io.Writer, name string, data any) error {
	return templates.ExecuteTemplate(w, name, data)
}
