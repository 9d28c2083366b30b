package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/internal/admin"
	"github.com/fieldsync/fieldsync/internal/loginguard"
)

// Store is what the API needs of the server database.
type Store interface {
	fieldsync.Writer
	fieldsync.Reader
	fieldsync.Nodes
	fieldsync.Tokens
	fieldsync.Conflicts
	fieldsync.Users
	fieldsync.History
	// ResumeMerging merges again the uploads of a node a refusal stopped;
	// MergeStopped says why they are not merged ("" when they are).
	ResumeMerging(ctx context.Context, node string) error
	MergeStopped(ctx context.Context, node string) (string, error)
	Operator
	admin.SchemaStore
}

// Options configures the API handler.
type Options struct {
	// MaxBodyBytes limits request bodies (default 1 MiB).
	MaxBodyBytes int64
	// Extract takes a node's Database Extract (on registration and on
	// request). Nil leaves nodes without one.
	Extract func(ctx context.Context, node string) (any, error)
	// RequestExtract, used when Extract is nil, asks a Database Extract
	// process for the node's extract instead of taking it here.
	RequestExtract func(ctx context.Context, node string) error
	// Docking is the server's docking folder, from which deleting a node
	// removes the node's folder ("": the folders are left alone).
	Docking docking.Folder
	// Files is the server's file store; nil disables attachments.
	Files Files
	// Status returns the administrator's view. Nil disables the endpoint.
	Status func(ctx context.Context) (fieldsync.Status, error)
	// Logins says how failed logins (unknown tokens) are slowed, by remote
	// address (zero: the defaults).
	Logins loginguard.Config
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// says the client's address (loginguard.ClientAddr); none: the header
	// is ignored.
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
	// Version is the server's version, which GET /health reports.
	Version string
}

// Files is what the API needs of the server's attachment file store.
type Files interface {
	// Put stores what r holds and returns its reference.
	Put(r io.Reader, want fieldsync.FileRef) (fieldsync.FileRef, error)
	// Open opens the stored file of a reference.
	Open(ref fieldsync.FileRef) (*os.File, error)
	// MaxSize is the size limit of one file.
	MaxSize() int64
}

// DefaultMaxBodyBytes is the default request body limit.
const DefaultMaxBodyBytes = 1 << 20

type handler struct {
	st     Store
	opts   Options
	log    *slog.Logger
	logins *loginguard.Guard
	users  *credCache // users' verified credentials
}

// area is a group of endpoints that a token's role may or may not use.
type area int

const (
	areaRecords area = iota // a connected user's records
	areaAdmin               // nodes, extracts, status
	areaFiles               // a connected user's attachment files (records, with a file's own size limit)
)

// allowed says whether a token or user of the role may use an area: the
// administrator every one, a connected user its records and files.
func allowed(role string, a area) bool {
	return role == fieldsync.RoleAdmin || role == fieldsync.RoleUser && (a == areaRecords || a == areaFiles)
}

// New returns the API's http.Handler.
func New(st Store, opts Options) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{st: st, opts: opts, log: opts.Logger.With("component", "api"), logins: loginguard.New(opts.Logins), users: newCredCache()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": opts.Version})
	})
	mux.Handle("GET /api/v1/schema", h.auth(areaRecords, h.schema))
	mux.Handle("POST /api/v1/records", h.auth(areaRecords, h.batch))
	mux.Handle("POST /api/v1/records/{table}", h.auth(areaRecords, h.create))
	mux.Handle("GET /api/v1/records/{table}", h.auth(areaRecords, h.list))
	mux.Handle("GET /api/v1/records/{table}/{id}", h.auth(areaRecords, h.get))
	mux.Handle("PATCH /api/v1/records/{table}/{id}", h.auth(areaRecords, h.update))
	mux.Handle("DELETE /api/v1/records/{table}/{id}", h.auth(areaRecords, h.delete))
	mux.Handle("POST /api/v1/admin/nodes", h.auth(areaAdmin, h.addNode))
	mux.Handle("GET /api/v1/admin/nodes", h.auth(areaAdmin, h.listNodes))
	mux.Handle("GET /api/v1/admin/nodes/{name}", h.auth(areaAdmin, h.getNode))
	mux.Handle("POST /api/v1/admin/nodes/{name}/deactivate", h.auth(areaAdmin, h.deactivate))
	mux.Handle("POST /api/v1/admin/nodes/{name}/resume", h.auth(areaAdmin, h.resume))
	mux.Handle("POST /api/v1/admin/nodes/{name}/reactivate", h.auth(areaAdmin, h.reactivate))
	mux.Handle("DELETE /api/v1/admin/nodes/{name}", h.auth(areaAdmin, h.deleteNode))
	mux.Handle("POST /api/v1/admin/nodes/{name}/reextract", h.auth(areaAdmin, h.reextract))
	mux.Handle("POST /api/v1/admin/nodes/{name}/secret", h.auth(areaAdmin, h.resetSecret))
	mux.Handle("POST /api/v1/admin/reextract", h.auth(areaAdmin, h.reextractAll))
	mux.Handle("GET /api/v1/admin/status", h.auth(areaAdmin, h.status))
	mux.Handle("GET /api/v1/admin/schema", h.auth(areaAdmin, h.showSchema))
	mux.Handle("POST /api/v1/admin/schema/plan", h.auth(areaAdmin, h.planSchema))
	mux.Handle("POST /api/v1/admin/schema", h.auth(areaAdmin, h.applySchema))
	mux.Handle("PUT /api/v1/records/{table}/{id}/file", h.auth(areaFiles, h.attach))
	mux.Handle("GET /api/v1/records/{table}/{id}/file", h.auth(areaFiles, h.fetch))
	mux.Handle("GET /api/v1/admin/conflicts", h.auth(areaAdmin, h.conflicts))
	mux.Handle("GET /api/v1/admin/sessions", h.auth(areaAdmin, h.sessions))
	mux.Handle("GET /api/v1/admin/refusals", h.auth(areaAdmin, h.refusals))
	mux.Handle("GET /api/v1/admin/nodes/{name}/why/{table}/{id}", h.auth(areaAdmin, h.why))
	mux.Handle("GET /api/v1/records/{table}/{id}/history", h.auth(areaRecords, h.history))
	h.userRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, fieldsync.Errorf(fieldsync.ErrNotFound, "no endpoint %s %s (see docs/api.md)", r.Method, r.URL.Path))
	})
	return h.logRequests(mux)
}

// logRequests logs every request at debug level.
func (h *handler) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		h.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "took", time.Since(start))
	})
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// auth requires a bearer token whose role may use the area, and limits
// the request body.
func (h *handler) auth(a area, next func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, err := h.authorize(r, a)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		r = r.WithContext(ctx)
		limit := h.opts.MaxBodyBytes
		if a == areaFiles && h.opts.Files != nil {
			limit = h.opts.Files.MaxSize() // a file's own limit
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if err := next(w, r); err != nil {
			h.fail(w, r, err)
		}
	})
}

// authorize checks the request's bearer token, or a user's login and
// password (HTTP Basic), and that its role may use the area. The context
// it returns says which user the request's writes are made for.
func (h *handler) authorize(r *http.Request, a area) (context.Context, error) {
	ctx := r.Context()
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return ctx, fieldsync.Errorf(fieldsync.ErrUnauthorized, "missing bearer token or user credentials (send Authorization: Bearer TOKEN, or a user's LOGIN:PASSWORD as Basic)")
	}
	token, ok := strings.CutPrefix(authz, "Bearer ")
	_, _, basic := r.BasicAuth()
	if !basic && (!ok || token == "") {
		return ctx, fieldsync.Errorf(fieldsync.ErrUnauthorized, "malformed Authorization header (expected Bearer TOKEN or Basic credentials)")
	}
	remote := loginguard.ClientAddr(r, h.opts.TrustedProxies)
	addr := loginguard.Addr(remote)
	if wait := h.logins.Wait(addr); wait > 0 {
		h.logFailure(h.logins.Refused(addr), "throttled", remote)
		return ctx, loginguard.Throttled(wait)
	}
	if basic {
		return h.authorizeUser(r, a, addr, remote)
	}
	role, err := h.st.TokenRole(ctx, fieldsync.HashSecret(token))
	if err != nil {
		if !errors.Is(err, fieldsync.ErrUnauthorized) {
			h.log.Error("token check failed", "err", err)
			return ctx, fieldsync.Errorf(fieldsync.ErrUnauthorized, "invalid token")
		}
		h.logFailure(h.logins.Fail(addr), "invalid token", remote)
		return ctx, fieldsync.Errorf(fieldsync.ErrUnauthorized, "invalid token")
	}
	h.logins.Succeed(addr)
	if !allowed(role, a) {
		return ctx, fieldsync.Errorf(fieldsync.ErrForbidden, "a %s token may not use %s", role, r.URL.Path)
	}
	return ctx, nil
}

// logFailure logs a refused token unless another line about its address
// was logged lately; the line counts those left unlogged since. remote is
// the client's address.
func (h *handler) logFailure(rep loginguard.Report, reason, remote string) {
	if rep.Log {
		h.log.Warn("refused login", "reason", reason, "remote", remote, "failures", rep.Failures, "suppressed", rep.Suppressed)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) // the client went away, or v cannot fail: nothing to do
}

// readObject decodes a JSON object body into v, keeping numbers exact.
// Struct targets refuse unknown fields. A body that is not UTF-8 is
// refused: JSON decoding would replace what is not, and store text other
// than what was sent.
func readObject(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fieldsync.Errorf(fieldsync.ErrTooLarge, "request body larger than %d bytes", tooBig.Limit)
		}
		return err
	}
	if !utf8.Valid(body) {
		i := 0
		for i < len(body) {
			r, n := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		return fieldsync.Errorf(fieldsync.ErrInvalid, "the request body is not UTF-8 (byte 0x%02x at byte %d)", body[i], i)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fieldsync.Errorf(fieldsync.ErrTooLarge, "request body larger than %d bytes", tooBig.Limit)
		}
		if errors.Is(err, io.EOF) {
			return fieldsync.Errorf(fieldsync.ErrInvalid, "the request body is empty; send a JSON object")
		}
		return fieldsync.Errorf(fieldsync.ErrInvalid, "the request body is not a valid JSON object: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "the request body holds more than one JSON value")
	}
	return nil
}
