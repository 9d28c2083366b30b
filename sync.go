package fieldsync

import (
	"context"
	"time"
)

// MergedUpload is where a merged upload entered the Transaction Log: its
// changes have sequence numbers from FirstSeq on.
type MergedUpload struct {
	Number   int64 `json:"number"`
	FirstSeq int64 `json:"first_seq"`
}

// Refusal is an upload the Transaction Merger refused.
type Refusal struct {
	// Node is the node whose upload it was, in the lists of every node's
	// refusals ("" in the list of one node's).
	Node   string    `json:"node,omitempty"`
	Number int64     `json:"number"`
	Reason string    `json:"reason"`
	Time   time.Time `json:"time"`
}

// Session is one synchronization session of a node.
type Session struct {
	ID        string    `json:"id"`
	Node      string    `json:"node"`
	Started   time.Time `json:"started"`
	Ended     time.Time `json:"ended,omitzero"`
	UpFiles   int64     `json:"up_files"`
	UpBytes   int64     `json:"up_bytes"`
	DownFiles int64     `json:"down_files"`
	DownBytes int64     `json:"down_bytes"`
	Result    string    `json:"result"`
}

// Uploads is the server database's record of the files nodes upload: the
// Synchronization Manager notes each one received, the Transaction Merger
// finds them there, and a node learns what became of them.
type Uploads interface {
	// NoteUpload records that a node's upload file is durable in its
	// inbox, waiting for a merger.
	NoteUpload(ctx context.Context, node string, number int64) error
	// UploadingNodes lists the nodes with uploads waiting for a merger.
	UploadingNodes(ctx context.Context) ([]string, error)
	// ClearUploads forgets a node's waiting uploads numbered up to upTo:
	// they are merged or refused, and gone from the inbox.
	ClearUploads(ctx context.Context, node string, upTo int64) error
	// LastMerged returns the number of the node's last merged or refused
	// upload (0 before any).
	LastMerged(ctx context.Context, node string) (int64, error)
	// LastReceived returns the number of the node's last upload the server
	// holds or merged: a node's new folder numbers its uploads after it.
	LastReceived(ctx context.Context, node string) (int64, error)
	// MergedUploads returns the node's merged uploads numbered above since.
	MergedUploads(ctx context.Context, node string, since int64) ([]MergedUpload, error)
	// Refused returns the node's refused uploads, oldest first.
	Refused(ctx context.Context, node string) ([]Refusal, error)
	// Usage returns what the node's uploads merged since the given time
	// wrote.
	Usage(ctx context.Context, node string, since time.Time) (Usage, error)
}

// Merging is how the Transaction Merger changes the server database.
type Merging interface {
	// MergeUpload runs fn in one server transaction that, when fn returns
	// nil, also records the node's upload number as merged: an upload is
	// merged exactly once. When the upload was merged or refused already
	// (by another merger) it returns an error of kind ErrMerged without
	// calling fn. An error from fn rolls everything back.
	MergeUpload(ctx context.Context, node string, number int64, fn func(MergeTx) error) error
	// RecordRefused records that a node's upload was refused, and why, and
	// counts it as merged so the node's later uploads go on. It leaves the
	// upload waiting (see Uploads.ClearUploads) until its file is set aside.
	RecordRefused(ctx context.Context, node string, number int64, reason string) error
	// MergeBatch runs fn in one server transaction that also records how
	// far the upload's merge got (b.To changes), or, for its last batch,
	// the upload as merged: a restart resumes after the last committed
	// batch, and no change is merged twice. When the upload was merged
	// already, or the batch before b.From is not the last committed one,
	// it returns an error of kind ErrMerged without calling fn. fn may set
	// b.Last (the rest of the upload was refused) and the counts.
	MergeBatch(ctx context.Context, b *MergeBatch, fn func(MergeTx) error) error
	// MergeProgress returns how far the merge of a node's upload got (zero
	// when none of it is committed).
	MergeProgress(ctx context.Context, node string, number int64) (MergeProgress, error)
	// StopMerging stops merging a node's uploads, for the reason given,
	// until ResumeMerging; MergeStopped returns that reason ("" when its
	// uploads are merged).
	StopMerging(ctx context.Context, node, reason string) error
	ResumeMerging(ctx context.Context, node string) error
	MergeStopped(ctx context.Context, node string) (string, error)
}

// MergeBatch is one batch of an upload's changes, merged in one server
// transaction: changes From+1 to To (numbered from 1 in the upload).
type MergeBatch struct {
	Node     string
	Number   int64
	From, To int64
	// Last: the batch ends the upload, which is then recorded as merged.
	Last bool
	// Inserted and Recorded count, for the whole upload up to To, the rows
	// inserted and the conflicts and refusals recorded (caps); Written the
	// bytes of the values its merged changes wrote (daily limits).
	Inserted, Recorded, Written int64
}

// MergeProgress is how far the merge of an upload got: Done changes are
// merged (or refused) in committed batches, the first from FirstSeq on.
type MergeProgress struct {
	Done, FirstSeq, Inserted, Recorded, Written int64
}

// Usage is what a node's merged uploads wrote over some time: bytes of
// values and rows inserted (the per-node daily limits).
type Usage struct {
	Bytes, Inserts int64
}

// MergeTx is one upload's server transaction, as MergeUpload gives it.
type MergeTx interface {
	// Reader reads the rows as the transaction sees them.
	Reader
	// Apply is the write path (Writer.Apply) inside the transaction; origin
	// is the node the changes come from, "" for changes the server makes
	// (a value that won a conflict, logged again).
	Apply(ctx context.Context, origin string, changes ...Change) ([]Txn, error)
	// RecordConflict records a conflict the merge met and resolved.
	RecordConflict(ctx context.Context, c Conflict) error
	// FirstSeq is the sequence number the upload's first logged change
	// gets: every transaction of the upload has a number from it on.
	FirstSeq() int64
	// Owner returns the node that inserted a row of a private table: ""
	// when the server did, or the row does not exist.
	Owner(ctx context.Context, table, id string) (string, error)
}

// Conflicts is the record of the conflicts the Transaction Merger met.
type Conflicts interface {
	// Conflicts returns the recorded conflicts, of one node or ("") of
	// all, oldest first.
	Conflicts(ctx context.Context, node string) ([]Conflict, error)
	// RefusedChanges returns the records of the changes refused alone (or
	// as the rest of an upload) in a node's uploads numbered above since,
	// oldest first.
	RefusedChanges(ctx context.Context, node string, since int64) ([]Conflict, error)
	// ConflictPage returns one page of the recorded conflicts.
	ConflictPage(ctx context.Context, q ConflictQuery) (ConflictPage, error)
}

// SyncSessions is the record of synchronization sessions.
type SyncSessions interface {
	// SaveSession records a session (again, as it goes on) and, when it
	// ended, the node's last sync time.
	SaveSession(ctx context.Context, s Session) error
	// Session returns one session, or an error of kind ErrNotFound.
	Session(ctx context.Context, id string) (Session, error)
	// Sessions returns a node's latest sessions, newest first.
	Sessions(ctx context.Context, node string, limit int) ([]Session, error)
	// LastSessions returns every node's latest session.
	LastSessions(ctx context.Context) (map[string]Session, error)
	// PruneSessions deletes the records of sessions that ended before the
	// given time, never a node's latest, and returns how many it deleted.
	PruneSessions(ctx context.Context, endedBefore time.Time) (int64, error)
}
