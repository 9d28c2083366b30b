package fieldsync

import (
	"context"
	"time"
)

// Recovery is one damaged or lost file met by a component (a node's
// client, the Transaction Merger, a Transaction Router, the
// Synchronization Manager) and what was done about it. Administrators see
// the latest in the status view.
type Recovery struct {
	At        time.Time `json:"at"`
	Node      string    `json:"node,omitempty"` // "" for the server's own files
	Component string    `json:"component"`
	What      string    `json:"what"`
}

// MaxRecoveryText bounds a Recovery's What as stored: a node's client
// reports its own, and its words are not trusted to be short.
const MaxRecoveryText = 400

// Recoveries records the damaged-file events of the installation.
type Recoveries interface {
	// RecordRecovery records one event (What cut to MaxRecoveryText bytes).
	RecordRecovery(ctx context.Context, r Recovery) error
	// RecentRecoveries returns how many events were recorded since the
	// given time, and the latest of them (at most limit, newest first).
	RecentRecoveries(ctx context.Context, since time.Time, limit int) (int64, []Recovery, error)
}

// RecoveryStatus is the status view's summary of damaged-file events.
type RecoveryStatus struct {
	// Day counts the events of the last 24 hours.
	Day int64 `json:"last_24h"`
	// Latest are the newest events of those, newest first.
	Latest []Recovery `json:"latest,omitempty"`
}
