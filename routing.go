package fieldsync

import (
	"context"
	"time"
)

// NodeRouting is a node as the Transaction Router and the Database Extract
// see it.
type NodeRouting struct {
	Node
	// ExtractSeq is the sequence number the node's latest Database Extract
	// was taken at: the node gets only later transactions through its
	// outbox. NoExtract while it has none.
	ExtractSeq int64 `json:"extract_seq"`
	// OutboxNext is the number the next file of the node's outbox gets.
	OutboxNext int64 `json:"outbox_next"`
	// ExtractWanted: a new Database Extract of the node was asked for and
	// is not built yet.
	ExtractWanted bool `json:"extract_wanted,omitempty"`
}

// NoExtract marks a node that has no extract yet (it is routed nothing).
const NoExtract = -1

// Routing is the state the Transaction Router and the Database Extract keep
// in the server database.
type Routing interface {
	// RoutingNodes returns every node with its routing state, and the nodes
	// version it reflects.
	RoutingNodes(ctx context.Context) (version int64, nodes []NodeRouting, err error)
	// NodeRouting returns one node with its routing state.
	NodeRouting(ctx context.Context, name string) (NodeRouting, error)
	// NodesVersion changes whenever a node is added, deactivated or extracted.
	NodesVersion(ctx context.Context) (int64, error)
	// RouterPositions returns the last sequence number routed by each
	// router partition that has routed anything.
	RouterPositions(ctx context.Context) (map[int]int64, error)
	// SaveRouting records in one database transaction that a partition has
	// routed everything up to pos, and the next outbox file numbers of the
	// nodes it wrote to.
	SaveRouting(ctx context.Context, partition int, pos int64, outboxNext map[string]int64) error
	// Snapshot runs fn on a consistent, read-only view of the database.
	Snapshot(ctx context.Context, fn func(Snapshot) error) error
	// StartExtract runs fn on a snapshot of exactly the state at the
	// sequence number it returns. For a node without an extract it records
	// that number at once, so the router routes the node what follows; a
	// node's later extract becomes its own only with ExtractTaken, once the
	// file is durable, so a build that dies loses the node nothing.
	StartExtract(ctx context.Context, node string, fn func(Snapshot) error) (seq int64, err error)
}

// Snapshot is a consistent read-only view of the server database.
type Snapshot interface {
	Reader
	// LastSeq is the last sequence number committed in the view.
	LastSeq() int64
	// Trimmed is the log's trimmed mark in the view.
	Trimmed() int64
	// ReadLog reads the log entries in the view, as Log.ReadLog.
	ReadLog(ctx context.Context, after int64, limit int) ([]Txn, error)
	// Scan calls fn for every row of a table, in id order.
	Scan(ctx context.Context, table string, fn func(Row) error) error
	// ScanAs is Scan of table t as a schema version declares it (an
	// earlier version than the one in force, for the router): its columns,
	// which the database keeps after a later version drops them.
	ScanAs(ctx context.Context, t *Table, fn func(Row) error) error
	// Lookup calls fn, in no particular order, for every row of a table
	// whose column holds one of values ("id": the rows with those ids),
	// reading them through the column's index. fn must not read the
	// snapshot.
	Lookup(ctx context.Context, table, column string, values []string, fn func(Row) error) error
}

// ExtractQueue is the queue of Database Extracts asked for and not yet
// taken, which lets a process without the Database Extract ask one that
// runs it, and a failed extract be tried again.
type ExtractQueue interface {
	// RequestExtract asks for a new extract of the node.
	RequestExtract(ctx context.Context, node string) error
	// WantedExtracts lists the nodes whose extract was asked for.
	WantedExtracts(ctx context.Context) ([]string, error)
	// ClaimExtract claims the node's extract for this process: a lease
	// (ExtractLease) its holder renews with RenewExtract while it builds,
	// so the claim of a process that died runs out within seconds. ok is
	// false when another live process holds it.
	ClaimExtract(ctx context.Context, node string) (claim int64, ok bool, err error)
	// RenewExtract renews a claim and returns the renewed one; false: the
	// claim was lost (it ran out and another process claimed it), and the
	// build must stop.
	RenewExtract(ctx context.Context, node string, claim int64) (renewed int64, ok bool, err error)
	// ExtractTaken records that the node's extract file, taken at seq, is
	// durable: only now does the node's extract become seq (the router
	// sends it only later transactions, a client rebuilds from it), and the
	// claim ends. ReleaseExtract gives a failed claim back for a later try.
	ExtractTaken(ctx context.Context, node string, claim, seq int64) error
	ReleaseExtract(ctx context.Context, node string, claim int64) error
}

// ExtractLease is how long a claim on a node's extract lasts without being
// renewed; its holder renews it every ExtractLease/4.
const ExtractLease = 8 * time.Second
