// Package httperr is the one table between fieldsync's error kinds (the
// sentinels of the root package) and what an HTTP answer carries: a status
// and a code. Servers (the API and the Synchronization Manager) answer
// errors with Write; clients (api.Client and syncproto.Client) turn error
// answers back into errors with Read, so errors.Is works on the client
// side as it does on the server.
package httperr

import (
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
)

// Kind ties an error kind of the root package to its HTTP status and to
// the code error answers carry, so that a client gets the kind back
// exactly where one status stands for several kinds.
type Kind struct {
	Err    error  // the root package's sentinel
	Code   string // the wire code: "not_found", "invalid", ...
	Status int    // the HTTP status
	// Refines is the more general kind this one is a case of, if any.
	Refines error
}

// table lists the kinds, the more specific before the more general, and,
// among the general kinds of one status, the one an answer without a
// known code stands for first.
var table = [...]Kind{
	{fieldsync.ErrSchemaMismatch, codeSchemaRefused, http.StatusBadRequest, fieldsync.ErrInvalid},
	{fieldsync.ErrInvalid, "invalid", http.StatusBadRequest, nil},
	{fieldsync.ErrDamagedFile, "damaged_file", http.StatusBadRequest, nil},
	{fieldsync.ErrNodeUnknown, "node_unknown", http.StatusNotFound, fieldsync.ErrNotFound},
	{fieldsync.ErrNotFound, "not_found", http.StatusNotFound, nil},
	{fieldsync.ErrExists, "exists", http.StatusConflict, nil},
	{fieldsync.ErrInUse, "in_use", http.StatusConflict, nil},
	{fieldsync.ErrNoSession, "no_session", http.StatusConflict, nil},
	{fieldsync.ErrSuperseded, "superseded", http.StatusConflict, nil},
	{fieldsync.ErrUnauthorized, "unauthorized", http.StatusUnauthorized, nil},
	{fieldsync.ErrNodeDeactivated, "node_deactivated", http.StatusForbidden, fieldsync.ErrForbidden},
	{fieldsync.ErrForbidden, "forbidden", http.StatusForbidden, nil},
	{fieldsync.ErrTooLarge, "too_large", http.StatusRequestEntityTooLarge, nil},
	{fieldsync.ErrNodeLimit, "node_limit", http.StatusTooManyRequests, fieldsync.ErrBusy},
	{fieldsync.ErrBusy, "busy", http.StatusServiceUnavailable, nil},
	{fieldsync.ErrThrottled, "throttled", http.StatusTooManyRequests, nil},
}

// Internal is the kind of every error of no known kind: its message stays
// in the server's log.
var Internal = Kind{nil, "internal", http.StatusInternalServerError, nil}

// InternalMessage is what an answer to an internal error says.
const InternalMessage = "internal error (see the server log)"

// RetryAfter is the Retry-After (seconds) of a "busy, retry later" answer.
const RetryAfter = "1"

// WithRetryAfter returns err to be answered with a Retry-After of d
// (rounded up to whole seconds, at least one).
func WithRetryAfter(err error, d time.Duration) error { return &retryAfter{err, d} }

type retryAfter struct {
	error
	after time.Duration
}

func (r *retryAfter) Unwrap() error { return r.error }

// retrySeconds is the Retry-After of a wait.
func retrySeconds(d time.Duration) string {
	return strconv.FormatInt(max(1, int64((d+time.Second-1)/time.Second)), 10)
}

// Kinds returns the table, the more specific kinds first.
func Kinds() []Kind { return table[:] }

// Of returns the kind of an error: the first of the table it is (with
// errors.Is), or Internal.
func Of(err error) Kind {
	for _, k := range table {
		if errors.Is(err, k.Err) {
			return k
		}
	}
	return Internal
}

// Body is the JSON of an error answer.
type Body struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

// UnreadBodyWait bounds how long the server goes on reading the body of a
// request it answered with an error.
const UnreadBodyWait = time.Second

// Write answers a request with an error: the status and code of its kind
// and its message. An *http.MaxBytesError (a body over its limit) is
// answered as too large. Errors of no known kind are logged on log, and
// answered with InternalMessage alone.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) && !errors.Is(err, fieldsync.ErrTooLarge) {
		err = fieldsync.Errorf(fieldsync.ErrTooLarge, "request body larger than %d bytes", tooBig.Limit)
	}
	k := Of(err)
	msg := err.Error()
	if k.Status == http.StatusInternalServerError {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = InternalMessage
	}
	var ra *retryAfter
	if errors.As(err, &ra) {
		w.Header().Set("Retry-After", retrySeconds(ra.after))
	} else if k.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", RetryAfter)
	}
	unread := r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
	if unread {
		// The body may be unread: net/http would read the rest of it before
		// answering, and after it, for as long as a client trickles it in.
		// The answer goes first and closes the connection; what is read of
		// the rest (so that an honest client sending it gets the answer, not
		// a reset) is read for at most UnreadBodyWait.
		w.Header().Set("Connection", "close")
		defer http.NewResponseController(w).SetReadDeadline(time.Now().Add(UnreadBodyWait))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(k.Status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(Body{Error: msg, Code: k.Code}) // the client went away: nothing to do
}

// Error is an error answer as a client receives it: its HTTP status, the
// code of its kind and its one-line message. It unwraps to the root
// package's sentinel of that kind (and the more general kind it refines),
// so errors.Is(err, fieldsync.ErrNotFound) works on the client side as on
// the server.
type Error struct {
	Status int
	Code   string // "not_found", "invalid", ...; see docs/api.md
	Msg    string
	// RetryAfter is the answer's Retry-After (busy, throttled), or 0.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the sentinel of the error's code, and the more general
// kind it refines: an unknown node's error is both fieldsync.ErrNodeUnknown
// and fieldsync.ErrNotFound. An answer without a known code (from a proxy,
// say) unwraps to the first general kind (one refining none) of its status
// in the table.
func (e *Error) Unwrap() []error {
	for _, k := range table {
		if k.Code == e.Code {
			if k.Refines != nil {
				return []error{k.Err, k.Refines}
			}
			return []error{k.Err}
		}
	}
	for _, k := range table {
		if k.Status == e.Status && k.Refines == nil {
			return []error{k.Err}
		}
	}
	return nil
}

// Failed reports whether a response is an error answer (a status of 300
// or above: fieldsync servers do not redirect).
func Failed(resp *http.Response) bool { return resp.StatusCode >= 300 }

// Read turns an error answer into an *Error, reading (up to 64 KiB) and
// closing its body. An answer whose body is not an error's JSON gets a
// message naming the request and the status.
func Read(resp *http.Response) error {
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var b Body
	if json.Unmarshal(data, &b) != nil || b.Error == "" {
		b.Error = "server answered " + resp.Status
		if resp.Request != nil {
			b.Error = fmt.Sprintf("%s %s: %s", resp.Request.Method, resp.Request.URL.Path, b.Error)
		}
	}
	msg := oneLine(b.Error)
	if b.Code == codeSchemaRefused {
		msg = strings.TrimSpace(b.Error) // every reason, one a line, as the schema file's errors
	}
	e := &Error{Status: resp.StatusCode, Code: b.Code, Msg: msg}
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
		e.RetryAfter = time.Duration(n) * time.Second
	}
	return e
}

// codeSchemaRefused is the code of a schema change refused, whose message
// lists every reason, one a line.
const codeSchemaRefused = "schema_refused"

// oneLine keeps the first line of a message: error messages are one line.
func oneLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(first)
}
