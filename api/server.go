package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/filestore"
	"github.com/fieldsync/fieldsync/status"
)

// Store is what the API needs of the server database.
type Store interface {
	fieldsync.Writer
	fieldsync.Reader
	fieldsync.Nodes
	fieldsync.Tokens
	Schema() *fieldsync.Schema
	// Conflicts returns the conflicts the Transaction Merger recorded, of
	// one node or ("") of all.
	Conflicts(ctx context.Context, node string) ([]fieldsync.Conflict, error)
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
	// Files is the server's file store; nil disables attachments.
	Files *filestore.Store
	// Status returns the administrator's view. Nil disables the endpoint.
	Status func(ctx context.Context) (status.Status, error)
	Logger *slog.Logger
}

// DefaultMaxBodyBytes is the default request body limit.
const DefaultMaxBodyBytes = 1 << 20

type handler struct {
	st   Store
	opts Options
	log  *slog.Logger
}

// area is a group of endpoints that a token's role may or may not use.
type area int

const (
	areaRecords area = iota // a connected user's records
	areaAdmin               // nodes, extracts, status
	areaFiles               // a connected user's attachment files (records, with a file's own size limit)
)

// allowed says whether a token of the role may use an area. The
// administrator's is the only role so far; a connected user's role would
// get areaRecords alone.
func allowed(role string, a area) bool {
	return role == fieldsync.RoleAdmin
}

// New returns the API's http.Handler.
func New(st Store, opts Options) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{st: st, opts: opts, log: opts.Logger.With("component", "api")}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("POST /api/v1/records/{table}", h.auth(areaRecords, h.create))
	mux.Handle("GET /api/v1/records/{table}", h.auth(areaRecords, h.list))
	mux.Handle("GET /api/v1/records/{table}/{id}", h.auth(areaRecords, h.get))
	mux.Handle("PATCH /api/v1/records/{table}/{id}", h.auth(areaRecords, h.update))
	mux.Handle("DELETE /api/v1/records/{table}/{id}", h.auth(areaRecords, h.delete))
	mux.Handle("POST /api/v1/admin/nodes", h.auth(areaAdmin, h.addNode))
	mux.Handle("GET /api/v1/admin/nodes", h.auth(areaAdmin, h.listNodes))
	mux.Handle("GET /api/v1/admin/nodes/{name}", h.auth(areaAdmin, h.getNode))
	mux.Handle("POST /api/v1/admin/nodes/{name}/deactivate", h.auth(areaAdmin, h.deactivate))
	mux.Handle("POST /api/v1/admin/nodes/{name}/reextract", h.auth(areaAdmin, h.reextract))
	mux.Handle("POST /api/v1/admin/reextract", h.auth(areaAdmin, h.reextractAll))
	mux.Handle("GET /api/v1/admin/status", h.auth(areaAdmin, h.status))
	mux.Handle("PUT /api/v1/records/{table}/{id}/file", h.auth(areaFiles, h.attach))
	mux.Handle("GET /api/v1/records/{table}/{id}/file", h.auth(areaFiles, h.fetch))
	mux.Handle("GET /api/v1/admin/conflicts", h.auth(areaAdmin, h.conflicts))
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
		if err := h.authorize(r, a); err != nil {
			h.fail(w, r, err)
			return
		}
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

func (h *handler) authorize(r *http.Request, a area) error {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return fieldsync.Errorf(fieldsync.ErrUnauthorized, "missing bearer token (send Authorization: Bearer TOKEN)")
	}
	token, ok := strings.CutPrefix(authz, "Bearer ")
	if !ok || token == "" {
		return fieldsync.Errorf(fieldsync.ErrUnauthorized, "malformed Authorization header (expected Bearer TOKEN)")
	}
	role, err := h.st.TokenRole(r.Context(), fieldsync.HashSecret(token))
	if err != nil {
		if !errors.Is(err, fieldsync.ErrUnauthorized) {
			h.log.Error("token check failed", "err", err)
		}
		return fieldsync.Errorf(fieldsync.ErrUnauthorized, "invalid token")
	}
	if !allowed(role, a) {
		return fieldsync.Errorf(fieldsync.ErrForbidden, "a %s token may not use %s", role, r.URL.Path)
	}
	return nil
}

// fail answers with the status and code of the error's kind, and its
// message. Errors of no known kind are logged, and answered with a generic
// message.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	k := kindOf(err)
	msg := err.Error()
	if k.status == http.StatusInternalServerError {
		h.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error (see the server log)"
	}
	writeJSON(w, k.status, errorBody{Error: msg, Code: k.code})
}

// errorBody is the JSON of an error answer.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

// kind ties an error kind of the root package to its HTTP status and to
// the code error answers carry, so that clients get the kind back exactly
// (errors.Is) where one status stands for several kinds.
type kind struct {
	err    error
	status int
	code   string
	// refines is the more general kind this one is a case of, if any.
	refines error
}

// kinds lists the error kinds the API answers with, the more specific
// before the more general.
var kinds = []kind{
	{fieldsync.ErrInvalid, http.StatusBadRequest, "invalid", nil},
	{fieldsync.ErrNodeUnknown, http.StatusNotFound, "node_unknown", fieldsync.ErrNotFound},
	{fieldsync.ErrNotFound, http.StatusNotFound, "not_found", nil},
	{fieldsync.ErrExists, http.StatusConflict, "exists", nil},
	{fieldsync.ErrInUse, http.StatusConflict, "in_use", nil},
	{fieldsync.ErrUnauthorized, http.StatusUnauthorized, "unauthorized", nil},
	{fieldsync.ErrNodeDeactivated, http.StatusForbidden, "node_deactivated", fieldsync.ErrForbidden},
	{fieldsync.ErrForbidden, http.StatusForbidden, "forbidden", nil},
	{fieldsync.ErrTooLarge, http.StatusRequestEntityTooLarge, "too_large", nil},
}

var internal = kind{nil, http.StatusInternalServerError, "internal", nil}

func kindOf(err error) kind {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k
		}
	}
	return internal
}

// StatusOf maps an error's kind to an HTTP status: 500 for errors of no
// known kind.
func StatusOf(err error) int { return kindOf(err).status }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) // the client went away, or v cannot fail: nothing to do
}

// readObject decodes a JSON object body into v, keeping numbers exact.
// Struct targets refuse unknown fields.
func readObject(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
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

func (h *handler) create(w http.ResponseWriter, r *http.Request) error {
	var vals map[string]any
	if err := readObject(r, &vals); err != nil {
		return err
	}
	table := r.PathValue("table")
	txns, err := h.st.Apply(r.Context(), "", fieldsync.Change{Op: fieldsync.OpInsert, Table: table, Values: vals})
	if err != nil {
		return err
	}
	if len(txns) == 0 {
		return fmt.Errorf("insert into %s logged no transaction", table)
	}
	row, err := h.st.Get(r.Context(), table, txns[0].RowID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, row)
	return nil
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) error {
	row, err := h.st.Get(r.Context(), r.PathValue("table"), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, row)
	return nil
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) error {
	q := fieldsync.Query{Where: map[string]any{}}
	for k, vs := range r.URL.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "_after":
			q.After = v
		case "_limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fieldsync.Errorf(fieldsync.ErrInvalid, "_limit %q is not a positive number", v)
			}
			q.Limit = n
		case "_null":
			for _, c := range strings.Split(v, ",") {
				if c = strings.TrimSpace(c); c != "" {
					if _, dup := r.URL.Query()[c]; dup {
						return fieldsync.Errorf(fieldsync.ErrInvalid, "column %q is filtered both by value and as null", c)
					}
					q.Where[c] = nil
				}
			}
		default:
			if strings.HasPrefix(k, "_") {
				return fieldsync.Errorf(fieldsync.ErrInvalid, "unknown query parameter %q (filters are column=value; also _after, _limit, _null)", k)
			}
			q.Where[k] = v
		}
	}
	page, err := h.st.List(r.Context(), r.PathValue("table"), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (h *handler) update(w http.ResponseWriter, r *http.Request) error {
	var vals map[string]any
	if err := readObject(r, &vals); err != nil {
		return err
	}
	table, id := r.PathValue("table"), r.PathValue("id")
	if _, err := h.st.Apply(r.Context(), "", fieldsync.Change{Op: fieldsync.OpUpdate, Table: table, ID: id, Values: vals}); err != nil {
		return err
	}
	row, err := h.st.Get(r.Context(), table, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, row)
	return nil
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request) error {
	table, id := r.PathValue("table"), r.PathValue("id")
	txns, err := h.st.Apply(r.Context(), "", fieldsync.Change{Op: fieldsync.OpDelete, Table: table, ID: id})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": id, "rows": len(txns)})
	return nil
}

// NewNode is the body of a node registration.
type NewNode struct {
	Name       string `json:"name"`
	EmployeeID string `json:"employee_id"`
}

// AddedNode is the answer to a node registration: the secret is shown
// this once; the server keeps only its hash.
type AddedNode struct {
	Node    fieldsync.Node `json:"node"`
	Secret  string         `json:"secret"`
	Extract any            `json:"extract,omitempty"`
	// ExtractError says why the extract taken at registration failed.
	ExtractError string `json:"extract_error,omitempty"`
}

func (h *handler) addNode(w http.ResponseWriter, r *http.Request) error {
	var req NewNode
	if err := readObject(r, &req); err != nil {
		return err
	}
	if req.Name == "" || req.EmployeeID == "" {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "a node needs a name and an employee_id")
	}
	secret := fieldsync.NewSecret()
	n, err := h.st.AddNode(r.Context(), fieldsync.Node{Name: req.Name, EmployeeID: req.EmployeeID}, fieldsync.HashSecret(secret))
	if err != nil {
		return err
	}
	h.log.Info("node added", "node", n.Name, "employee", n.EmployeeID)
	out := AddedNode{Node: n, Secret: secret}
	if h.opts.Extract == nil && h.opts.RequestExtract != nil {
		if err := h.opts.RequestExtract(r.Context(), n.Name); err != nil {
			out.ExtractError = fmt.Sprintf("could not ask for the node's extract (%v); ask with fieldsync admin node reextract %s", err, n.Name)
		} else {
			out.Extract = map[string]any{"node": n.Name, "requested": true}
		}
	}
	if h.opts.Extract != nil {
		res, err := h.opts.Extract(r.Context(), n.Name)
		if err != nil {
			// The node exists and its secret is shown only now: answer with
			// it, and say the extract comes later (the Database Extract
			// tries again).
			h.log.Error("extract at registration failed", "node", n.Name, "err", err)
			out.ExtractError = fmt.Sprintf("the node's extract failed (%v); it is tried again in the background (see fieldsync admin status, or take it with fieldsync admin node reextract %s)", err, n.Name)
		} else {
			out.Extract = res
		}
		if n2, _, err := h.st.Node(r.Context(), n.Name); err == nil {
			out.Node = n2
		}
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (h *handler) listNodes(w http.ResponseWriter, r *http.Request) error {
	nodes, err := h.st.ListNodes(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": nodes})
	return nil
}

func (h *handler) getNode(w http.ResponseWriter, r *http.Request) error {
	n, _, err := h.st.Node(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

func (h *handler) deactivate(w http.ResponseWriter, r *http.Request) error {
	n, err := h.st.DeactivateNode(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	h.log.Info("node deactivated", "node", n.Name)
	writeJSON(w, http.StatusOK, n)
	return nil
}

func (h *handler) reextract(w http.ResponseWriter, r *http.Request) error {
	n, _, err := h.st.Node(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if h.opts.Extract == nil {
		if h.opts.RequestExtract == nil {
			return fieldsync.Errorf(fieldsync.ErrForbidden, "this server does not run the Database Extract")
		}
		if !n.Active {
			return fieldsync.Errorf(fieldsync.ErrNodeDeactivated, "node %q is deactivated", n.Name)
		}
		if err := h.opts.RequestExtract(r.Context(), n.Name); err != nil {
			return err
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"node": n.Name, "requested": true})
		return nil
	}
	res, err := h.opts.Extract(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// reextractAll asks the Database Extract for a new extract of every active
// node (after a change of the schema's visibility rules or tables, say).
func (h *handler) reextractAll(w http.ResponseWriter, r *http.Request) error {
	if h.opts.RequestExtract == nil {
		return fieldsync.Errorf(fieldsync.ErrForbidden, "this server does not run the Database Extract")
	}
	nodes, err := h.st.ListNodes(r.Context())
	if err != nil {
		return err
	}
	requested := []string{}
	for _, n := range nodes {
		if !n.Active {
			continue
		}
		if err := h.opts.RequestExtract(r.Context(), n.Name); err != nil {
			return err
		}
		requested = append(requested, n.Name)
	}
	h.log.Info("extracts of every active node requested", "nodes", len(requested))
	writeJSON(w, http.StatusAccepted, map[string]any{"requested": requested})
	return nil
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) error {
	if h.opts.Status == nil {
		return fieldsync.Errorf(fieldsync.ErrForbidden, "this server does not report status")
	}
	s, err := h.opts.Status(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

func (h *handler) conflicts(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.st.Conflicts(r.Context(), r.URL.Query().Get("node"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"conflicts": cs})
	return nil
}

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
	for _, c := range t.Columns {
		if c.Type == fieldsync.TypeFile {
			return t, c, nil
		}
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
