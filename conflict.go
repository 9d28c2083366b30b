package fieldsync

import "time"

// ConflictKind says how a merged change met the server's data.
type ConflictKind string

// The kinds of conflict of docs/sync.md "Conflicts".
const (
	ConflictUpdate        ConflictKind = "update"         // a field changed on both sides
	ConflictDeleteUpdated ConflictKind = "delete_updated" // a node deleted a row the server had changed: the delete won
	ConflictUpdateDeleted ConflictKind = "update_deleted" // a node updated a row the server had deleted: the update was dropped
	ConflictUnique        ConflictKind = "unique"         // an insert clashed on a unique key: kept with a conflict marker
	ConflictTeamMerged    ConflictKind = "team_merged"    // a team row added on both sides: merged into the server's
	ConflictRefused       ConflictKind = "refused"        // a change that could not be merged was refused alone
	ConflictRefusedRest   ConflictKind = "refused_rest"   // the changes of an upload from Change on were refused, as one record (a cap)
)

// Refusal reports whether the record is of a change the merger refused
// (the node puts its row back as the server has it).
func (k ConflictKind) Refusal() bool { return k == ConflictRefused || k == ConflictRefusedRest }

// Conflict is one conflict the Transaction Merger met and resolved.
type Conflict struct {
	ID     int64        `json:"id"`
	Node   string       `json:"node"`
	Upload int64        `json:"upload"` // the node's upload file it came in
	Kind   ConflictKind `json:"kind"`
	Table  string       `json:"table"`
	RowID  string       `json:"row_id"`
	Field  string       `json:"field,omitempty"`
	// Winner and Loser are the values that won and lost (JSON text).
	Winner string `json:"winner,omitempty"`
	Loser  string `json:"loser,omitempty"`
	// Change is the change's number in its upload (1 for the first), for
	// a refusal; Reason says why it was refused, in one line; DependsOn is
	// the refused change of the same upload it depended on (0: none).
	Change    int64     `json:"change,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	DependsOn int64     `json:"depends_on,omitempty"`
	Time      time.Time `json:"time"`
}

// Pages of conflicts: how many one holds unless asked otherwise, and at
// most.
const (
	DefaultConflictPage = 100
	MaxConflictPage     = 1000
)

// ConflictQuery selects a page of the recorded conflicts, oldest first.
type ConflictQuery struct {
	Node  string // only this node's ("": every node's)
	After int64  // only those with a higher id
	Limit int    // at most this many (0: DefaultConflictPage; at most MaxConflictPage)
}

// ConflictPage is one page of recorded conflicts, oldest first.
type ConflictPage struct {
	Conflicts []Conflict `json:"conflicts"`
	// Next, when more conflicts follow, is the After of the next page
	// (the id of the last one here); 0 when this page is the last.
	Next int64 `json:"next,omitempty"`
}

// PageLimit is the number of conflicts a query asks for, within bounds.
func (q ConflictQuery) PageLimit() int {
	if q.Limit <= 0 {
		return DefaultConflictPage
	}
	return min(q.Limit, MaxConflictPage)
}
