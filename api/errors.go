package api

import (
	"net/http"

	"github.com/fieldsync/fieldsync/internal/httperr"
)

// Error is an error answer of the API: its HTTP status, the code of its
// kind and its one-line message (see docs/api.md). It unwraps to the
// fieldsync sentinel of that kind, and the more general kind it refines,
// so errors.Is(err, fieldsync.ErrNotFound) works on the client side as on
// the server. The Synchronization Manager's answers are the same type.
type Error = httperr.Error

// fail answers with the status and code of the error's kind, and its
// message. Errors of no known kind are logged, and answered with a generic
// message.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	httperr.Write(w, r, h.log, err)
}
