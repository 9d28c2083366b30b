package console

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/loginguard"
	"github.com/fieldsync/fieldsync/internal/webui"
)

// Store is what the console needs of the server database.
type Store interface {
	fieldsync.Writer
	fieldsync.Reader
	fieldsync.Nodes
	fieldsync.Tokens
	fieldsync.Users
	fieldsync.History
	Activity
	Schema() *fieldsync.Schema
}

// Options configures the console.
type Options struct {
	// Status returns the pipeline view (nil: the pipeline page says so).
	Status func(ctx context.Context) (fieldsync.Status, error)
	// Context, when it ends, stops the pipeline chart's sampler (nil:
	// it stops only when no one looked at the chart for an hour).
	Context context.Context
	// Files is the server's file store (nil: records show no files).
	Files Files
	// Extract takes a node's Database Extract; RequestExtract asks a
	// Database Extract process for it (either may be nil).
	Extract        func(ctx context.Context, node string) (any, error)
	RequestExtract func(ctx context.Context, node string) error
	// TLS says the console is served over TLS (cookies are then Secure).
	TLS bool
	// SessionTTL is how long a session lasts (default 8 hours).
	SessionTTL time.Duration
	// Logins says how failed sign-ins are slowed, by remote address.
	Logins         loginguard.Config
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
}

// Base is the path the console lives under.
const Base = "/ui/"

// maxFormBytes bounds a posted form.
const maxFormBytes = 64 << 10

//go:embed templates
var files embed.FS

// Console is the console's http.Handler.
type Console struct {
	st     Store
	opts   Options
	log    *slog.Logger
	logins *loginguard.Guard
	tmpl   *template.Template
	mux    *http.ServeMux
	chart  *sampler

	mu       sync.Mutex
	sessions map[string]*session
}

// New returns the console, to be mounted at Base.
func New(st Store, opts Options) (*Console, error) {
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 8 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	tmpl, err := webui.Template(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	c := &Console{st: st, opts: opts, log: opts.Logger.With("component", "console"),
		logins: loginguard.New(opts.Logins), tmpl: tmpl, sessions: map[string]*session{}}
	if opts.Status != nil {
		c.chart = newSampler(opts.Context, opts.Status)
	}
	c.routes()
	return c, nil
}

func (c *Console) routes() {
	m := http.NewServeMux()
	m.Handle("GET /ui/assets/", http.StripPrefix("/ui/assets/", webui.Assets()))
	m.HandleFunc("GET /ui/signin", c.signinPage)
	m.HandleFunc("POST /ui/signin", c.signin)
	m.Handle("POST /ui/signout", c.user(c.signout))
	m.Handle("GET /ui/{$}", c.user(c.home))
	m.Handle("GET /ui/t/{$}", c.user(c.tables))
	m.Handle("GET /ui/t/{table}/{$}", c.user(c.browse))
	m.Handle("GET /ui/t/{table}/new", c.user(c.newRecord))
	m.Handle("POST /ui/t/{table}/new", c.user(c.createRecord))
	m.Handle("GET /ui/t/{table}/r/{id}", c.user(c.record))
	m.Handle("POST /ui/t/{table}/r/{id}", c.user(c.updateRecord))
	m.Handle("GET /ui/pick/{table}", c.user(c.pick))
	m.Handle("GET /ui/admin/nodes", c.admin(c.nodes))
	m.Handle("POST /ui/admin/nodes", c.admin(c.addNode))
	m.Handle("POST /ui/admin/nodes/{name}/{verb}", c.admin(c.nodeVerb))
	m.Handle("GET /ui/admin/pipeline", c.admin(c.pipeline))
	m.Handle("GET /ui/admin/users", c.admin(c.users))
	m.Handle("POST /ui/admin/users", c.admin(c.addUser))
	m.Handle("POST /ui/admin/users/{login}/{verb}", c.admin(c.userVerb))
	m.Handle("GET /ui/admin/conflicts", c.admin(c.conflicts))
	m.Handle("GET /ui/admin/refusals", c.admin(c.refusals))
	m.Handle("GET /ui/admin/sessions", c.admin(c.syncSessions))
	m.HandleFunc(attachPattern, c.attachRoute)
	m.Handle("GET /ui/t/{table}/r/{id}/file", c.user(c.download))
	m.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, nil, http.StatusNotFound, "message", "Not found", "There is no page "+r.URL.Path+".")
	})
	c.mux = m
}

// ServeHTTP serves the console's pages.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, c.bodyLimit(r))
	c.mux.ServeHTTP(w, r)
}

// handlerFunc is a page handler of a signed-in session.
type handlerFunc func(w http.ResponseWriter, r *http.Request, s *session) error

// user requires a live session of a user who is still enabled, and the
// session's CSRF token on every POST.
func (c *Console) user(h handlerFunc) http.Handler { return c.guard(false, h) }

// admin is user, for administrators only.
func (c *Console) admin(h handlerFunc) http.Handler { return c.guard(true, h) }

func (c *Console) guard(admin bool, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := c.current(r)
		if s == nil {
			http.Redirect(w, r, Base+"signin", http.StatusSeeOther)
			return
		}
		if admin && !s.admin {
			c.render(w, r, s, http.StatusForbidden, "message", "Forbidden", "Only administrators may open this page.")
			return
		}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				c.render(w, r, s, http.StatusRequestEntityTooLarge, "message", "Refused", "The form could not be read: "+err.Error())
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.csrf)) != 1 {
				c.log.Warn("form without its CSRF token refused", "user", s.login, "path", r.URL.Path)
				c.render(w, r, s, http.StatusForbidden, "message", "Refused", "The form is stale or was not sent from this console: reload the page and try again.")
				return
			}
		}
		ctx := r.Context()
		if s.login != "" {
			ctx = fieldsync.WithUser(ctx, s.login)
		}
		if err := h(w, r.WithContext(ctx), s); err != nil {
			c.fail(w, r, s, err)
		}
	})
}

// fail shows an error page with the status its kind says.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, fieldsync.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, fieldsync.ErrInvalid), errors.Is(err, fieldsync.ErrExists):
		status = http.StatusBadRequest
	case errors.Is(err, fieldsync.ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(err, fieldsync.ErrTooLarge):
		status = http.StatusRequestEntityTooLarge
	}
	if status == http.StatusInternalServerError {
		c.log.Error("console page failed", "path", r.URL.Path, "err", err)
	}
	c.render(w, r, s, status, "message", "Error", err.Error())
}

// message is the data of the "message" template.
type message struct{ Text string }

// render draws a page of template name with data (a string for "message").
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, name, title string, data any) {
	if text, ok := data.(string); ok {
		data = message{Text: text}
	}
	body, err := webui.Fragment(c.tmpl, name, data)
	if err != nil {
		c.log.Error("render page", "page", name, "err", err)
		http.Error(w, "render page", http.StatusInternalServerError)
		return
	}
	p := webui.Page{Title: title, Base: Base, Product: "fieldsync console", Body: body, Flash: r.URL.Query().Get("flash")}
	if s != nil {
		p.User, p.CSRF, p.Nav = s.label(), s.csrf, nav(s.admin)
	}
	webui.Render(w, status, p)
}

// nav is the navigation bar of a user or an administrator.
func nav(admin bool) []webui.Link {
	links := []webui.Link{{Label: "Records", Href: Base + "t/"}}
	if admin {
		links = append(links, webui.Link{Label: "Pipeline", Href: Base + "admin/pipeline"},
			webui.Link{Label: "Nodes", Href: Base + "admin/nodes"}, webui.Link{Label: "Users", Href: Base + "admin/users"},
			webui.Link{Label: "Sessions", Href: Base + "admin/sessions"}, webui.Link{Label: "Conflicts", Href: Base + "admin/conflicts"},
			webui.Link{Label: "Refusals", Href: Base + "admin/refusals"})
	}
	return links
}

func (c *Console) home(w http.ResponseWriter, r *http.Request, s *session) error {
	if s.admin {
		http.Redirect(w, r, Base+"admin/pipeline", http.StatusSeeOther)
	} else {
		http.Redirect(w, r, Base+"t/", http.StatusSeeOther)
	}
	return nil
}
