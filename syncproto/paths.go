package syncproto

import (
	"net/url"
	"strconv"

	"github.com/fieldsync/fieldsync"
)

// Prefix is where the Synchronization Manager's endpoints live.
const Prefix = "/sync/v1"

// Headers of the protocol's requests.
const (
	// HeaderSession carries the session id on requests inside a session.
	HeaderSession = "X-Fieldsync-Session"
	// HeaderOffset is the byte of an attachment file a piece of its upload
	// starts at.
	HeaderOffset = "X-Fieldsync-Offset"
	// HeaderFolder names the node's folder a request comes from (its id,
	// from InitRequest): a folder superseded by a later client init of the
	// node is refused (fieldsync.ErrSuperseded).
	HeaderFolder = "X-Fieldsync-Folder"
	// HeaderIncarnation, on news, is the server incarnation the node's data
	// is in step with (State.Incarnation): a server in another one (it was
	// restored from a backup) answers news at once, deletes nothing the
	// request says applied (the numbers are the old incarnation's), and the
	// node syncs to catch up.
	HeaderIncarnation = "X-Fieldsync-Incarnation"
)

// Query parameters of the protocol's requests.
const (
	// ParamSince, on a session's start: the number below the oldest upload
	// the node still holds (State.Merged lists those above it).
	ParamSince = "since"
	// ParamAfter, on news: the last outbox file the node knows of.
	ParamAfter = "after"
	// ParamConflictsAfter, on a session's start and the state: the id of
	// the last conflict the node has seen (State.Conflicts holds those
	// after it; 0 or absent: from the first).
	ParamConflictsAfter = "conflicts_after"
	// ParamSettled, on the state: the node's last upload of the session;
	// the answer waits (a few seconds at most) until the server has merged
	// it and routed what the merge wrote, and lists, as a session's start
	// does, where the uploads above ParamSince were merged and the changes
	// refused in them.
	ParamSettled = "settled"
	// ParamProbeExtract, on a session's start: the node has nothing to send
	// and its local data comes from the extract taken at this sequence
	// number. When the server has nothing new for it either (no outbox
	// file, no newer extract, no conflict or merge outcome to tell), it
	// answers State.NothingNew and opens no session: a sync with nothing
	// new is one round trip, with no server write on its way.
	ParamProbeExtract = "probe_extract"
	// ParamApplied, on news: the last outbox file the node has applied;
	// the server deletes the files up to it (an acknowledgement outside a
	// session). With it, news carries the new outbox files themselves
	// (News.Files) when they are few and small.
	ParamApplied = "applied"
)

// Routes are the endpoints as http.ServeMux patterns, for the server's mux.
// Their wildcards are {id} (a session id), {number} (an outbox or upload
// file number), {ref} (an attachment file reference), and {table} and {id}
// (a row).
const (
	RouteStart      = "POST " + Prefix + "/sessions"
	RouteEnd        = "POST " + Prefix + "/sessions/{id}/end"
	RouteExtract    = "GET " + Prefix + "/extract"
	RouteOutbox     = "GET " + Prefix + "/outbox"
	RouteOutboxFile = "GET " + Prefix + "/outbox/{number}"
	RouteAck        = "POST " + Prefix + "/outbox/ack"
	RouteUpload     = "PUT " + Prefix + "/uploads/{number}"
	RouteState      = "GET " + Prefix + "/state"
	RouteNews       = "GET " + Prefix + "/news"
	RouteFile       = "GET " + Prefix + "/files/{ref}"
	RouteFileUpload = "PUT " + Prefix + "/files/{ref}"
	RouteFileHave   = "GET " + Prefix + "/files/{ref}/upload"
	RouteRow        = "GET " + Prefix + "/rows/{table}/{id}"
	RouteInit       = "POST " + Prefix + "/init"
	RouteLost       = "POST " + Prefix + "/outbox/lost"
)

// Paths of the endpoints without parameters.
const (
	SessionsPath = Prefix + "/sessions"
	ExtractPath  = Prefix + "/extract"
	OutboxPath   = Prefix + "/outbox"
	AckPath      = Prefix + "/outbox/ack"
	StatePath    = Prefix + "/state"
	NewsPath     = Prefix + "/news"
	InitPath     = Prefix + "/init"
	LostPath     = Prefix + "/outbox/lost"
)

// StartPath is the path that starts a session (see ParamSince).
func StartPath(since int64) string {
	return SessionsPath + "?" + ParamSince + "=" + strconv.FormatInt(since, 10)
}

// StartAfterPath is the path that starts a session of a node that has
// seen the conflicts up to conflictsAfter (see ParamConflictsAfter).
func StartAfterPath(since, conflictsAfter int64) string {
	return StartPath(since) + "&" + ParamConflictsAfter + "=" + strconv.FormatInt(conflictsAfter, 10)
}

// ProbePath is StartAfterPath for a node with nothing to send whose local
// data comes from the extract at extractSeq (see ParamProbeExtract).
func ProbePath(since, conflictsAfter, extractSeq int64) string {
	return StartAfterPath(since, conflictsAfter) + "&" + ParamProbeExtract + "=" + strconv.FormatInt(extractSeq, 10)
}

// StateAfterPath is the state's path for a node that has seen the
// conflicts up to conflictsAfter.
func StateAfterPath(conflictsAfter int64) string {
	return StatePath + "?" + ParamConflictsAfter + "=" + strconv.FormatInt(conflictsAfter, 10)
}

// SettledStatePath is the state's path once the node's uploads up to
// settled are merged (see ParamSettled).
func SettledStatePath(since, settled, conflictsAfter int64) string {
	return StateAfterPath(conflictsAfter) + "&" + ParamSince + "=" + strconv.FormatInt(since, 10) +
		"&" + ParamSettled + "=" + strconv.FormatInt(settled, 10)
}

// EndPath is the path that ends a session.
func EndPath(session string) string { return SessionsPath + "/" + url.PathEscape(session) + "/end" }

// OutboxFilePath is the path of one outbox file.
func OutboxFilePath(number int64) string { return OutboxPath + "/" + strconv.FormatInt(number, 10) }

// UploadPath is the path an upload file is sent to.
func UploadPath(number int64) string { return Prefix + "/uploads/" + strconv.FormatInt(number, 10) }

// NewsAfterPath is the news long-poll about outbox files above after.
func NewsAfterPath(after int64) string {
	return NewsPath + "?" + ParamAfter + "=" + strconv.FormatInt(after, 10)
}

// NewsAppliedPath is the news long-poll about outbox files above after,
// from a node that has applied the files up to applied (ParamApplied).
func NewsAppliedPath(after, applied int64) string {
	return NewsAfterPath(after) + "&" + ParamApplied + "=" + strconv.FormatInt(applied, 10)
}

// FilePath is the path of an attachment file: it is downloaded from there
// and a node's own upload of it is sent there.
func FilePath(ref fieldsync.FileRef) string { return Prefix + "/files/" + url.PathEscape(ref.String()) }

// FileHavePath tells how much of a node's upload of a file the server holds.
func FileHavePath(ref fieldsync.FileRef) string { return FilePath(ref) + "/upload" }

// RowPath is the path of a row as the server has it now.
func RowPath(table, id string) string {
	return Prefix + "/rows/" + url.PathEscape(table) + "/" + url.PathEscape(id)
}

// CheckServer checks a server's URL as a user gives it: http or https, with
// a host ("127.0.0.1:7070" alone is refused with a suggestion).
func CheckServer(server string) error {
	u, err := url.Parse(server)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return nil
	}
	return fieldsync.Errorf(fieldsync.ErrInvalid, "server %q is not an http:// or https:// URL (for example http://127.0.0.1:7070)", server)
}
