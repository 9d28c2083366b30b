package syncproto

import (
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
)

// State is what a node learns when it starts a session (and from the state
// endpoint during one).
type State struct {
	Session    string `json:"session"`
	Node       string `json:"node"`
	EmployeeID string `json:"employee_id"`
	ExtractSeq int64  `json:"extract_seq"`
	LastMerged int64  `json:"last_merged"` // the node's last upload merged or refused
	// LastReceived is the node's last upload the server holds or merged:
	// a new folder of the node (a reinstalled laptop) numbers its uploads
	// after it, so none is taken for one the server has.
	LastReceived int64                `json:"last_received"`
	Refused      []fieldsync.Refusal  `json:"refused"`   // uploads refused, and why
	Conflicts    []fieldsync.Conflict `json:"conflicts"` // conflicts met merging its uploads, after the last one it saw
	// RefusedChanges are the changes the merger refused alone (kind
	// refused), or as the rest of an upload (refused_rest: changes from
	// Change on), in the node's uploads numbered above the "since" it
	// asked about: the client puts back the rows they changed.
	RefusedChanges []fieldsync.Conflict `json:"refused_changes"`
	Outbox         []OutboxFile         `json:"outbox"` // files waiting for it
	// Merged tells where the node's merged uploads (numbered above the
	// "since" it asked about) entered the log.
	Merged []fieldsync.MergedUpload `json:"merged"`
	// RoutedSeq is how far every Transaction Router has routed: the outbox
	// listed here holds every transaction for the node up to it.
	RoutedSeq int64 `json:"routed_seq"`
	// FileLimit: published files larger than this come only when asked
	// for, as requested ones (0: no limit).
	FileLimit int64 `json:"file_limit,omitempty"`
	// ConflictsMore: Conflicts is one page, and more follow (the state
	// endpoint with ParamConflictsAfter the last one's id gives them).
	ConflictsMore bool `json:"conflicts_more,omitempty"`
	// UploadsAhead: the server takes uploads numbered up to LastMerged
	// plus this (0: an older server that does not say).
	UploadsAhead int `json:"uploads_ahead,omitempty"`
	// ExtractPending: a new Database Extract of the node was asked for
	// and its file is not built yet (ExtractSeq is the previous one's).
	ExtractPending bool `json:"extract_pending,omitempty"`
	// NothingNew answers a probing start (ParamProbeExtract) when the
	// server has nothing new for the node: no session was opened
	// (Session is empty) and there is nothing to end.
	NothingNew bool `json:"nothing_new,omitempty"`
	// Incarnation is the server database's incarnation: a new one means
	// the database was restored from a backup, and lost what followed it
	// (the node then sends again the uploads it lost; docs/sync.md).
	Incarnation string `json:"incarnation,omitempty"`
}

// InitRequest is the body of a client init's claim of the node for a new
// folder: the folder's id, which its later requests carry (HeaderFolder).
type InitRequest struct {
	Folder string `json:"folder"`
}

// InitAnswer says whether the node had a folder before: then a fresh
// Database Extract is taken for the new one (State.ExtractPending until
// it is built), and Superseded is when the node's previous folder was made.
type InitAnswer struct {
	FreshExtract bool      `json:"fresh_extract"`
	Superseded   time.Time `json:"superseded,omitzero"`
}

// OutboxFile is one file of a node's outbox: its number and size.
type OutboxFile = docking.File

// EndRequest is the body of a session's end: how it went ("ok" when empty),
// and the damaged files the client recovered from during it (at most
// MaxEndRecoveries are recorded), for the administrator's view. AckUpto,
// when above 0, acknowledges the outbox files up to it as an AckRequest
// does, so that a session that applied its files ends in one request.
type EndRequest struct {
	Result    string   `json:"result"`
	Recovered []string `json:"recovered,omitempty"`
	AckUpto   int64    `json:"ack_upto,omitempty"`
}

// MaxEndRecoveries is how many of a session's recoveries the server records.
const MaxEndRecoveries = 8

// LostRequest tells the server that the node's copy of outbox file Number
// is damaged and the server no longer has it: its changes can only come
// back in a new Database Extract, which the server then asks for.
type LostRequest struct {
	Number int64  `json:"number"`
	Reason string `json:"reason"`
}

// LostAnswer says whether a new Database Extract of the node is on its way
// (asked for now or before), or when the node may ask again.
type LostAnswer struct {
	ExtractWanted bool      `json:"extract_wanted"`
	RetryAfter    time.Time `json:"retry_after,omitzero"`
}

// AckRequest acknowledges the outbox files a node has stored, up to and
// including number Upto: the server deletes them.
type AckRequest struct {
	Upto int64 `json:"upto"`
}

// AckAnswer says how many outbox files an acknowledgement deleted.
type AckAnswer struct {
	Deleted int `json:"deleted"`
}

// UploadAnswer is the answer to an upload file: its number, and whether
// the server had merged it already (it is then not kept again).
type UploadAnswer struct {
	Number    int64 `json:"number"`
	Duplicate bool  `json:"duplicate,omitempty"`
}

// News is the answer of the news long-poll: whether the node's outbox holds
// a file numbered above the one asked about, and the last one there. Asked
// with ParamApplied, it carries those files themselves, in order, when
// they are at most NewsInlineFiles of NewsInlineBytes in all (else none:
// the node syncs to get them).
type News struct {
	News       bool         `json:"news"`
	OutboxLast int64        `json:"outbox_last,omitempty"`
	Files      []NewsedFile `json:"files,omitempty"`
}

// NewsedFile is an outbox file carried by news: its number and bytes.
type NewsedFile struct {
	Number int64  `json:"number"`
	Data   []byte `json:"data"`
}

// What news carries at most.
const (
	NewsInlineFiles = 16
	NewsInlineBytes = 256 << 10
)

// FileHave says how many bytes of an attachment file the server holds from
// a node's upload of it (a broken upload resumes from there).
type FileHave struct {
	File string `json:"file"`
	Have int64  `json:"have"`
}

// FileUploaded is the answer to a piece of an attachment file: the bytes
// the server holds now, and whether the file is whole, verified and kept.
type FileUploaded struct {
	File   string `json:"file"`
	Have   int64  `json:"have"`
	Stored bool   `json:"stored"`
}
