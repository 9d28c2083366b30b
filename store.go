package fieldsync

import "context"

// Store is the server database: the synchronized tables, the Transaction
// Log, the node registry, the API tokens, and the state the server
// components keep next to the data (routing, merging, sessions, the
// extract queue). The sqlite and postgres packages implement it; every SQL
// dialect difference lives behind it. Components ask for the smaller
// interfaces it is made of.
type Store interface {
	Writer
	Reader
	Log
	Nodes
	Tokens
	Routing
	Uploads
	Merging
	Conflicts
	SyncSessions
	ExtractQueue
	Recoveries
	// Backlog reads, in one consistent view, the work the server
	// components have not done yet.
	Backlog(ctx context.Context) (Backlog, error)
	// Schema returns the schema the store was opened with.
	Schema() *Schema
	// SchemaVersion returns the version of the schema in force, and
	// SchemaAt version v of the schema (ErrNotFound when the database
	// never had it), for merging uploads made under an earlier version.
	SchemaVersion() int64
	SchemaAt(ctx context.Context, v int64) (*Schema, error)
	// SchemaAtSeq returns the version in force for the log entry after
	// seq, for the Database Extract and the router.
	SchemaAtSeq(ctx context.Context, seq int64) (*Schema, int64, error)
	Close() error
}

// Backlog is the work the server components have not done yet, as the
// server database records it.
type Backlog struct {
	// Log is the Transaction Log: Pending entries wait for the
	// Transaction Processor.
	Log LogState `json:"log"`
	// Routers holds the last sequence number each router partition that
	// has routed anything routed.
	Routers map[int]int64 `json:"routers"`
	// Uploads counts the node uploads received and not yet merged or
	// refused (or merged, and not yet cleared from the node's inbox).
	Uploads int64 `json:"uploads"`
}

// Idle reports whether nothing is left to do for the Transaction Processor,
// for each of partitions router partitions, and for the Transaction Merger.
func (b Backlog) Idle(partitions int) bool {
	if b.Log.Pending > 0 || b.Uploads > 0 {
		return false
	}
	for p := 0; p < partitions; p++ {
		if b.Routers[p] != b.Log.LastSeq {
			return false
		}
	}
	return true
}
