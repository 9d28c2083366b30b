package fieldsync

import (
	"context"
	"time"
)

// HistoryEntry is one Transaction Log entry of a row, as a record's
// history shows it: when, what, from where and by whom.
type HistoryEntry struct {
	Seq  int64     `json:"seq"`
	Time time.Time `json:"time"`
	Op   Op        `json:"op"`
	// Origin is the node the change came from, "" for a change made on
	// the server.
	Origin string `json:"origin"`
	// User is the signed-in user the change was made for, "" for none.
	User string `json:"user"`
}

// MaxHistory is the most entries of a row's history that are read.
const MaxHistory = 20

// History reads the Transaction Log entries of one row.
type History interface {
	// History returns the row's latest log entries, newest first, at most
	// limit (MaxHistory when limit is 0 or above it). A table the schema
	// does not name is ErrNotFound; a row without entries has none.
	History(ctx context.Context, table, id string, limit int) ([]HistoryEntry, error)
}
