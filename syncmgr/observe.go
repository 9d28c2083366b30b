package syncmgr

import (
	"strings"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/syncproto"
)

// Recorder is told what the Synchronization Manager does, for the
// process's metrics (Options.Recorder; nil: nothing recorded). Its calls
// come from request handlers, many at once.
type Recorder interface {
	// SessionStarted: a session was opened.
	SessionStarted()
	// SessionEnded: a session ended, with one of the Session* results,
	// after took (from its start), having moved what s counts each way.
	SessionEnded(result string, took time.Duration, s fieldsync.Session)
	// NothingNew: a sync found nothing new and opened no session.
	NothingNew()
	// Transferred: a file of kind (one of the Transfer* kinds) went up
	// (from the node) or down, bytes long: in a session, or carried on a
	// news answer (outbox files).
	Transferred(kind string, up bool, bytes int64)
	// NewsWaiting: news requests started (+1) or stopped (-1) waiting.
	NewsWaiting(delta int)
}

// The results a session ends with, as Recorder.SessionEnded is told (a
// bounded set: what the client says is mapped to one of them).
const (
	SessionOK        = "ok"        // the client ended it, its sync done
	SessionFailed    = "failed"    // the client ended it, its sync failed
	SessionExtract   = "extract"   // the client ended it after fetching its extract (client init)
	SessionAbandoned = "abandoned" // left idle past Options.SessionIdle
	SessionReplaced  = "replaced"  // ended for a newer session of its node
	SessionOther     = "other"     // the client said something else
)

// The kinds of file the Synchronization Manager moves, as
// Recorder.Transferred is told.
const (
	TransferUpload  = "upload"  // an upload file (node -> server inbox)
	TransferOutbox  = "outbox"  // an outbox file (server -> node)
	TransferExtract = "extract" // a Database Extract (server -> node)
	TransferFile    = "file"    // an attachment file, either way
)

// sessionResult maps a recorded session result to one of the Session*
// results.
func sessionResult(result string) string {
	switch {
	case result == "ok" || strings.HasPrefix(result, "ok:"):
		return SessionOK
	case result == "failed" || strings.HasPrefix(result, "failed:"):
		return SessionFailed
	case result == "extract":
		return SessionExtract
	case result == "abandoned":
		return SessionAbandoned
	case strings.HasPrefix(result, "replaced"):
		return SessionReplaced
	}
	return SessionOther
}

// sessionStarted and sessionEnded tell the recorder of a session.
func (m *Manager) sessionStarted() {
	if m.opts.Recorder != nil {
		m.opts.Recorder.SessionStarted()
	}
}

func (m *Manager) sessionEnded(s fieldsync.Session) {
	if m.opts.Recorder != nil {
		m.opts.Recorder.SessionEnded(sessionResult(s.Result), max(s.Ended.Sub(s.Started), 0), s)
	}
}

func (m *Manager) nothingNew() {
	if m.opts.Recorder != nil {
		m.opts.Recorder.NothingNew()
	}
}

// transferred counts a file of kind moved in the session (nil: outside
// one), up (from the node) or down, and tells the recorder.
func (m *Manager) transferred(s *session, kind string, up bool, bytes int64) {
	if s != nil {
		m.count(s, up, bytes)
	}
	if m.opts.Recorder != nil {
		m.opts.Recorder.Transferred(kind, up, bytes)
	}
}

// newsCarried tells the recorder of the outbox files a news answer
// carries, as served outbox files are told (a news request is in no
// session, so no session counts them).
func (m *Manager) newsCarried(files []syncproto.NewsedFile) {
	for _, f := range files {
		m.transferred(nil, TransferOutbox, false, int64(len(f.Data)))
	}
}

// newsWaiting tells the recorder that a news request started (+1) or
// stopped (-1) waiting.
func (m *Manager) newsWaiting(delta int) {
	if m.opts.Recorder != nil {
		m.opts.Recorder.NewsWaiting(delta)
	}
}
