package fieldsync

import (
	"errors"
	"fmt"
)

// Sentinel errors that callers branch on. Errors returned by fieldsync
// packages wrap one of these (test with errors.Is) and carry a message that
// says what was wrong and where.
var (
	ErrInvalid         = errors.New("invalid input")          // bad value, unknown column, malformed request
	ErrNotFound        = errors.New("not found")              // unknown table, row or node
	ErrExists          = errors.New("already exists")         // duplicate node name, unique key clash
	ErrInUse           = errors.New("in use")                 // delete refused: other rows still refer to the row
	ErrUnauthorized    = errors.New("unauthorized")           // missing or wrong credential
	ErrForbidden       = errors.New("forbidden")              // authenticated, but not allowed
	ErrTooLarge        = errors.New("too large")              // oversized request or file
	ErrNodeUnknown     = errors.New("unknown node")           // no node registered under that name
	ErrNodeDeactivated = errors.New("node deactivated")       // node exists but may no longer sync
	ErrDamagedFile     = errors.New("damaged file")           // a .dx file failed its checks
	ErrSchemaMismatch  = errors.New("schema does not match")  // database made with an incompatible schema
	ErrMerged          = errors.New("already merged")         // an upload another merger merged or refused first
	ErrBusy            = errors.New("busy, retry later")      // the server is at its limit of sessions; retry after a while
	ErrNodeLimit       = errors.New("node at its limit")      // the node holds as much of the server as it may (sessions, requests, news waits, uploads); a case of ErrBusy
	ErrNoSession       = errors.New("no open session")        // a sync request outside a session the node started
	ErrThrottled       = errors.New("too many failed logins") // logins from this name or address are slowed; retry after a while
	ErrSuperseded      = errors.New("folder superseded")      // a later client init of the node made another folder: this one may no longer sync
)

// Error is an error of a known kind with a message fit for a user: one line
// that says what was wrong and where. Its Error text is the message alone.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the kind, so errors.Is(err, ErrNotFound) works.
func (e *Error) Unwrap() error { return e.Kind }

// Errorf returns an *Error of the given kind with a formatted message.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}
