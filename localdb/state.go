package localdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
)

// State is what a node keeps in its local database besides its rows and
// its log.
type State struct {
	Node       string
	EmployeeID string
	// UploadNext is the number of the next upload file.
	UploadNext int64
	// InboxApplied is the number of the last outbox file applied.
	InboxApplied int64
	// ExtractSeq is the server sequence number of the extract the data
	// comes from: transactions at or below it are in it.
	ExtractSeq int64
	// LastSync is when the last sync ended (zero: never), LastResult how
	// ("ok", or "failed: " and why).
	LastSync   time.Time
	LastResult string
	// ConflictsSeen is the id of the last conflict the server reported;
	// Conflicts the latest ones reported, oldest first.
	ConflictsSeen int64
	Conflicts     []fieldsync.Conflict
	// RoutedSeq is the server's router position at the last sync: every
	// transaction at or below it had been routed to the node's outbox.
	RoutedSeq int64
	// FileLimit is the server's size above which published attachment
	// files are only offered, as requested ones are (0: no limit).
	FileLimit int64
	// Requested names ("table/id") the rows whose requested-mode file the
	// user asked for.
	Requested []string
	// LastFailure is the last failure of a sync or an inbox apply, and
	// LastFailureAt when it happened (zero: none yet); a later success
	// leaves them.
	LastFailure   string
	LastFailureAt time.Time
	// Recoveries are the latest damaged files the client recovered from
	// (or could not), oldest first.
	Recoveries []Recovery
	// InboxDamaged is the inbox file found damaged and not recovered yet:
	// the files after it wait (nil: none).
	InboxDamaged *DamagedInbox
}

// Recovery is one damaged file the client dealt with: when, and what it
// did, in one line.
type Recovery struct {
	At   time.Time `json:"at"`
	What string    `json:"what"`
}

// DamagedInbox is an inbox file found damaged: its number, why, when, the
// extract the local data came from then, and whether the server no longer
// has it (Lost: only a newer extract of the node brings its changes).
type DamagedInbox struct {
	Number     int64     `json:"number"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
	ExtractSeq int64     `json:"extract_seq"`
	Lost       bool      `json:"lost,omitempty"`
	// ExtractAsked: the server was told the file is lost and asked for a
	// new Database Extract of the node, which will hold its changes.
	ExtractAsked bool `json:"extract_asked,omitempty"`
}

// maxRecoveries is how many recoveries the state keeps.
const maxRecoveries = 20

// Keys of fs_meta, where the state is kept.
const (
	keyNode          = "node"
	keyEmployee      = "employee_id"
	keyUploadNext    = "upload_next"
	keyInboxApplied  = "inbox_applied"
	keyExtractSeq    = "extract_seq"
	keyLastSync      = "last_sync"
	keyLastResult    = "last_sync_result"
	keyConflictsSeen = "conflicts_seen"
	keyConflicts     = "conflicts"
	keyRoutedSeq     = "routed_seq"
	keyFileLimit     = "file_limit"
	keyRequested     = "requested_files"
	keyFailure       = "last_failure"
	keyFailureAt     = "last_failure_at"
	keyRecoveries    = "recoveries"
	keyInboxDamaged  = "inbox_damaged"
)

// State reads the node's local state.
func (db *DB) State(ctx context.Context) (State, error) {
	m, err := db.st.MetaAll(ctx)
	if err != nil {
		return State{}, fmt.Errorf("read local state: %w", err)
	}
	s := State{Node: m[keyNode], EmployeeID: m[keyEmployee], LastResult: m[keyLastResult], LastFailure: m[keyFailure]}
	for key, v := range map[string]*int64{keyUploadNext: &s.UploadNext, keyInboxApplied: &s.InboxApplied,
		keyExtractSeq: &s.ExtractSeq, keyConflictsSeen: &s.ConflictsSeen, keyRoutedSeq: &s.RoutedSeq, keyFileLimit: &s.FileLimit} {
		if m[key] == "" {
			continue
		}
		if *v, err = strconv.ParseInt(m[key], 10, 64); err != nil {
			return State{}, fmt.Errorf("local state %s: %w", key, err)
		}
	}
	for key, v := range map[string]*time.Time{keyLastSync: &s.LastSync, keyFailureAt: &s.LastFailureAt} {
		if m[key] == "" {
			continue
		}
		if *v, err = time.Parse(time.RFC3339Nano, m[key]); err != nil {
			return State{}, fmt.Errorf("local state %s: %w", key, err)
		}
	}
	for key, v := range map[string]any{keyConflicts: &s.Conflicts, keyRequested: &s.Requested,
		keyRecoveries: &s.Recoveries, keyInboxDamaged: &s.InboxDamaged} {
		if m[key] == "" {
			continue
		}
		if err := json.Unmarshal([]byte(m[key]), v); err != nil {
			return State{}, fmt.Errorf("local state %s: %w", key, err)
		}
	}
	return s, nil
}

// SetUploadNext records the number of the next upload file.
func (db *DB) SetUploadNext(ctx context.Context, n int64) error {
	return db.set(ctx, map[string]int64{keyUploadNext: n}, nil)
}

// RecordSync records when a sync ended and how ("ok", or why not: then
// it is also the last failure).
func (db *DB) RecordSync(ctx context.Context, at time.Time, result string) error {
	strs := map[string]string{keyLastSync: at.UTC().Format(time.RFC3339Nano), keyLastResult: result}
	if result != "ok" {
		strs[keyFailure], strs[keyFailureAt] = result, strs[keyLastSync]
	}
	return db.set(ctx, nil, strs)
}

// RecordFailure records a failure outside a sync (an inbox apply): the
// last failure, and the last result until the next sync.
func (db *DB) RecordFailure(ctx context.Context, at time.Time, what string) error {
	return db.set(ctx, nil, map[string]string{keyFailure: what, keyFailureAt: at.UTC().Format(time.RFC3339Nano), keyLastResult: what})
}

// RecordRecovery adds a recovery to those the state keeps.
func (db *DB) RecordRecovery(ctx context.Context, r Recovery) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var list []Recovery
		if v, ok, err := db.st.MetaTx(ctx, tx, keyRecoveries); err != nil {
			return err
		} else if ok {
			if err := json.Unmarshal([]byte(v), &list); err != nil {
				return fmt.Errorf("local state %s: %w", keyRecoveries, err)
			}
		}
		r.At = r.At.UTC()
		list = append(list, r)
		if len(list) > maxRecoveries {
			list = list[len(list)-maxRecoveries:]
		}
		b, err := json.Marshal(list)
		if err != nil {
			return err
		}
		return db.st.SetMetaTx(ctx, tx, keyRecoveries, string(b))
	})
	if err != nil {
		return fmt.Errorf("record local state: %w", err)
	}
	return nil
}

// SetInboxDamaged records the inbox file found damaged (nil: none).
func (db *DB) SetInboxDamaged(ctx context.Context, d *DamagedInbox) error {
	v := ""
	if d != nil {
		b, err := json.Marshal(d)
		if err != nil {
			return err
		}
		v = string(b)
	}
	return db.set(ctx, nil, map[string]string{keyInboxDamaged: v})
}

// RecordServer records what the server told at a sync: its router
// position and its file limit.
func (db *DB) RecordServer(ctx context.Context, routedSeq, fileLimit int64) error {
	return db.set(ctx, map[string]int64{keyRoutedSeq: routedSeq, keyFileLimit: fileLimit}, nil)
}

// SetConflicts records the id of the last conflict seen and the conflicts
// kept to show.
func (db *DB) SetConflicts(ctx context.Context, seen int64, kept []fieldsync.Conflict) error {
	b, err := json.Marshal(kept)
	if err != nil {
		return err
	}
	return db.set(ctx, map[string]int64{keyConflictsSeen: seen}, map[string]string{keyConflicts: string(b)})
}

// SetRequested records the rows whose requested-mode file the user asked
// for.
func (db *DB) SetRequested(ctx context.Context, rows []string) error {
	b, err := json.Marshal(rows)
	if err != nil {
		return err
	}
	return db.set(ctx, nil, map[string]string{keyRequested: string(b)})
}

func (db *DB) set(ctx context.Context, ints map[string]int64, strs map[string]string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error { return setState(ctx, db.st, tx, ints, strs) })
	if err != nil {
		return fmt.Errorf("record local state: %w", err)
	}
	return nil
}

func setState(ctx context.Context, st *sqlstore.Store, tx *sql.Tx, ints map[string]int64, strs map[string]string) error {
	for k, v := range ints {
		if err := st.SetMetaTx(ctx, tx, k, strconv.FormatInt(v, 10)); err != nil {
			return err
		}
	}
	for k, v := range strs {
		if err := st.SetMetaTx(ctx, tx, k, v); err != nil {
			return err
		}
	}
	return nil
}

func metaInt(ctx context.Context, st *sqlstore.Store, tx *sql.Tx, key string) (int64, error) {
	v, ok, err := st.MetaTx(ctx, tx, key)
	if err != nil || !ok {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}
