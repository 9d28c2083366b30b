package fieldsync

import (
	"context"
	"time"
)

// Op is the kind of change a transaction records.
type Op string

// The transaction operations. Purge exists only on the way to a node: the
// Transaction Router sends it when a row stops being visible to the node,
// and the node drops the row locally without logging a delete.
const (
	OpInsert Op = "insert"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
	OpPurge  Op = "purge"
)

// Valid reports whether op is a known operation.
func (op Op) Valid() bool {
	switch op {
	case OpInsert, OpUpdate, OpDelete, OpPurge:
		return true
	}
	return false
}

// Txn is one transaction of the Transaction Log: one change to one row.
type Txn struct {
	// Seq is the server sequence number: gap-free, in commit order.
	Seq   int64
	Op    Op
	Table string
	RowID string
	// Values holds the new values: every column (including id) for an
	// insert, the changed columns for an update, nothing for a delete.
	Values Row
	// Prev holds the previous values: of the changed columns for an update,
	// of every column for a delete (what the row was), nothing for an insert.
	Prev Row
	// Origin is the node the change came from, "" for a connected user.
	Origin string
	// Time is when the server committed the change (UTC).
	Time time.Time
}

// Change is a request to change one row, as it enters the write path.
// Values are raw input (strings, JSON values) that the write path checks and
// converts against the schema.
type Change struct {
	Op    Op
	Table string
	// ID names the row to update or delete. For an insert it may be given
	// (an id minted elsewhere, e.g. offline by a node) or left empty to mint one.
	ID     string
	Values map[string]any
	// Resend, on an update, logs the named columns at the row's current
	// values even though they do not change, so every node that sees the row
	// gets them again (the Transaction Merger gives a node back the server's
	// value this way after a conflict the server won). Values' values are
	// ignored.
	Resend bool
}

// Query selects rows of one table for List: equality filters on columns and
// keyset paging by id.
type Query struct {
	Where map[string]any // column = value; nil value matches NULL
	After string         // return rows with id greater than this
	Limit int            // at most this many rows; 0 means the default
}

// Page is one page of List results. Next is the cursor for the next page,
// "" when there are no more rows.
type Page struct {
	Rows []Row  `json:"rows"`
	Next string `json:"next,omitempty"`
}

// Writer is the one write path: it checks and applies changes and appends
// one transaction per changed row to the Transaction Log, all in a single
// database transaction. Origin is the node the changes come from ("" for a
// connected user). It returns the logged transactions.
type Writer interface {
	Apply(ctx context.Context, origin string, changes ...Change) ([]Txn, error)
}

// Reader reads rows of the synchronized tables.
type Reader interface {
	Get(ctx context.Context, table, id string) (Row, error)
	List(ctx context.Context, table string, q Query) (Page, error)
}

// Log gives the Transaction Processor the committed Transaction Log.
type Log interface {
	// ReadLog returns up to limit committed transactions with Seq > after,
	// in sequence order.
	ReadLog(ctx context.Context, after int64, limit int) ([]Txn, error)
	// TrimLog removes the transactions with Seq <= upTo and records upTo
	// as trimmed, in one database transaction. The Transaction Router
	// trims what every partition has routed, so that until then a txnproc
	// file can be written again from the log.
	TrimLog(ctx context.Context, upTo int64) error
	// LogState summarizes the log.
	LogState(ctx context.Context) (LogState, error)
	// Changed returns a channel that is closed at the next commit of the
	// write path in this process (wait on it, then call Changed again).
	Changed() <-chan struct{}
}

// LogState summarizes the Transaction Log.
type LogState struct {
	Pending int64 `json:"pending"`  // entries not yet trimmed
	LastSeq int64 `json:"last_seq"` // last sequence number assigned
	Trimmed int64 `json:"trimmed"`  // every entry up to here was routed by every partition
}

// Insert is the Change that inserts a row (vals may hold its id).
func Insert(table string, vals map[string]any) Change {
	return Change{Op: OpInsert, Table: table, Values: vals}
}

// Update is the Change that sets columns of a row.
func Update(table, id string, vals map[string]any) Change {
	return Change{Op: OpUpdate, Table: table, ID: id, Values: vals}
}

// Delete is the Change that deletes a row.
func Delete(table, id string) Change {
	return Change{Op: OpDelete, Table: table, ID: id}
}

// Each calls fn for every row of table that q selects, in id order, reading
// them a page at a time (q.After and q.Limit are where paging starts and
// its page size; a zero Limit reads pages of 1,000).
func Each(ctx context.Context, r Reader, table string, q Query, fn func(Row) error) error {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	for {
		p, err := r.List(ctx, table, q)
		if err != nil {
			return err
		}
		for _, row := range p.Rows {
			if err := fn(row); err != nil {
				return err
			}
		}
		if p.Next == "" {
			return nil
		}
		q.After = p.Next
	}
}
