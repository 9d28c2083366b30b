package localui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/httperr"
	"github.com/fieldsync/fieldsync/internal/webui"
)

// MaxBody is the largest request body the local API reads, but for an
// attachment file's upload (see Server.MaxFile).
const MaxBody = 1 << 20

// DefaultMaxFile is the default size limit of one attached file (the
// server's own default limit).
const DefaultMaxFile = 1 << 30

// multipartSlack is what an upload form may carry beside the file's bytes
// (part headers, the CSRF and mode fields).
const multipartSlack = 64 << 10

// CookieName is the cookie that carries the token after the first visit.
const CookieName = "fieldsync_ui"

// CSRFHeader is the header a cookie-authenticated write must carry, with
// the value of CSRF (pages put it in their forms as the field "csrf").
const CSRFHeader = "X-Fieldsync-CSRF"

// Server serves one node's folder on loopback. Its sync goroutine is
// owned by the Server: Close cancels and waits for it.
type Server struct {
	// MaxFile is the largest file an upload may attach (DefaultMaxFile
	// unless changed before Handler is called).
	MaxFile int64

	c     *client.Client
	log   *slog.Logger
	token string
	csrf  string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	state   SyncState
	changed chan struct{} // closed and replaced at every change of state
}

// New makes the field user's view of c's folder with a fresh random token.
func New(c *client.Client, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.Default()
	}
	tok, err := randomHex(24)
	if err != nil {
		return nil, err
	}
	csrf, err := randomHex(24)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{MaxFile: DefaultMaxFile, c: c, log: logger.With("component", "localui", "node", c.Node()), token: tok, csrf: csrf,
		ctx: ctx, cancel: cancel, changed: make(chan struct{})}, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Token is the secret every request must carry.
func (s *Server) Token() string { return s.token }

// CSRF is the value cookie-authenticated writes must send in CSRFHeader
// (or the form field "csrf").
func (s *Server) CSRF() string { return s.csrf }

// Close stops a running sync and waits for it; sync watchers get their
// answer at once. It may be called more than once.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
}

// CheckListen refuses an address that is not on loopback.
func CheckListen(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: want HOST:PORT on loopback, such as 127.0.0.1:7171", addr)
	}
	if !loopbackName(host) {
		return fmt.Errorf("--listen %q: the field user's view listens on loopback only (127.0.0.1, ::1 or localhost)", addr)
	}
	return nil
}

func loopbackName(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Handler is the view's HTTP handler: the JSON API under /api/v1/ and the
// pages, behind the host, token and body checks.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status", s.status)
	mux.HandleFunc("GET /api/v1/conflicts", s.conflicts)
	mux.HandleFunc("GET /api/v1/records/{table}", s.list)
	mux.HandleFunc("POST /api/v1/records/{table}", s.create)
	mux.HandleFunc("GET /api/v1/records/{table}/{id}", s.get)
	mux.HandleFunc("PATCH /api/v1/records/{table}/{id}", s.update)
	mux.HandleFunc("DELETE /api/v1/records/{table}/{id}", s.remove)
	mux.HandleFunc("GET /api/v1/records/{table}/{id}/file", s.fileBytes)
	mux.HandleFunc("PUT /api/v1/records/{table}/{id}/file", s.fileUpload)
	mux.HandleFunc("GET /api/v1/records/{table}/{id}/file/info", s.fileInfo)
	mux.HandleFunc("POST /api/v1/records/{table}/{id}/file/request", s.fileRequest)
	mux.HandleFunc("GET /api/v1/pick/{table}", s.pick)
	mux.HandleFunc("POST /api/v1/sync", s.startSync)
	mux.HandleFunc("GET /api/v1/sync", s.watchSync)
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("POST /sync", s.syncForm)
	mux.HandleFunc("GET /records/{table}", s.records)
	mux.HandleFunc("GET /records/{table}/{id}", s.record)
	mux.HandleFunc("POST /records/{table}/{id}", s.save)
	mux.HandleFunc("POST /records/{table}/{id}/file", s.attachForm)
	mux.HandleFunc("POST /records/{table}/{id}/request", s.requestForm)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", webui.Assets()))
	// The field view's own picker script (a keyboard-driven combobox) takes
	// the place of the shared one the layout loads.
	mux.Handle("GET /assets/picker.js", http.StripPrefix("/assets/", http.FileServerFS(staticFS())))
	mux.Handle("GET /field/", http.StripPrefix("/field/", http.FileServerFS(staticFS())))
	return s.guard(mux)
}

// guard checks the Host header (against DNS rebinding), the token (bearer,
// cookie, or ?token= on a page visit, which sets the cookie), the CSRF
// value on cookie-authenticated writes, and bounds the body.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if !loopbackName(host) {
			s.fail(w, r, fieldsync.Errorf(fieldsync.ErrForbidden, "host %q is not a loopback name", r.Host))
			return
		}
		webui.SecurityHeaders(w.Header())
		if q := r.URL.Query().Get("token"); q != "" && r.Method == http.MethodGet && s.same(q) {
			http.SetCookie(w, &http.Cookie{Name: CookieName, Value: s.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			u := *r.URL
			q := u.Query()
			q.Del("token")
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.bodyLimit(r))
		if err := s.authorize(r); err != nil {
			s.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bodyLimit is MaxBody, or the file limit for an attachment's upload.
func (s *Server) bodyLimit(r *http.Request) int64 {
	if (r.Method == http.MethodPut || r.Method == http.MethodPost) && strings.HasSuffix(r.URL.Path, "/file") {
		return s.MaxFile + multipartSlack
	}
	return MaxBody
}

func (s *Server) same(v string) bool {
	return subtle.ConstantTimeCompare([]byte(v), []byte(s.token)) == 1
}

func (s *Server) authorize(r *http.Request) error {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && h[:7] == "Bearer " && s.same(h[7:]) {
			return nil
		}
		return fieldsync.Errorf(fieldsync.ErrUnauthorized, "wrong token")
	}
	ck, err := r.Cookie(CookieName)
	if err != nil {
		return fieldsync.Errorf(fieldsync.ErrUnauthorized, "no token: open the URL `fieldsync client ui` printed, or send Authorization: Bearer TOKEN")
	}
	if !s.same(ck.Value) {
		return fieldsync.Errorf(fieldsync.ErrUnauthorized, "wrong token")
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	v := r.Header.Get(CSRFHeader)
	ct := r.Header.Get("Content-Type")
	switch {
	case v != "":
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		if err := r.ParseForm(); err != nil {
			return err
		}
		v = r.PostForm.Get("csrf")
	case strings.HasPrefix(ct, "multipart/form-data"):
		if err := r.ParseMultipartForm(formMemory); err != nil {
			return formError(err)
		}
		v = r.PostForm.Get("csrf")
	}
	if subtle.ConstantTimeCompare([]byte(v), []byte(s.csrf)) != 1 {
		return fieldsync.Errorf(fieldsync.ErrForbidden, "missing or wrong CSRF value")
	}
	return nil
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	httperr.Write(w, r, s.log, err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) // the caller went away: nothing to do
}

// readValues decodes a body that is one JSON object of column values.
func readValues(r *http.Request) (map[string]any, error) {
	var vals map[string]any
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&vals); err != nil {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			return nil, err
		}
		return nil, fieldsync.Errorf(fieldsync.ErrInvalid, "body: want one JSON object of column values: %v", err)
	}
	if vals == nil {
		return nil, fieldsync.Errorf(fieldsync.ErrInvalid, "body: want one JSON object of column values")
	}
	for k, v := range vals {
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				vals[k] = i
			} else if f, err := n.Float64(); err == nil {
				vals[k] = f
			}
		}
	}
	return vals, nil
}

func atoiOr(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fieldsync.Errorf(fieldsync.ErrInvalid, "%q is not a count", s)
	}
	return n, nil
}
