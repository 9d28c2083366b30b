package localdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/fieldsync/fieldsync"
)

// The local log keeps the node's own changes until the server has merged
// them, not only until they are packaged: an upload file damaged on the
// node's disk is rebuilt from it. The log's entries packaged into upload
// files are those up to log_packaged; each upload file's entries are
// recorded in fs_meta (uploads: number to the range of log sequence
// numbers it holds, and the changes dropped from it since, by their
// number in the upload). The log is trimmed below the oldest upload the
// client still keeps a file of.

// uploadRecord is the part of the local log one upload file holds.
type uploadRecord struct {
	First, Last int64
	// Version is the schema version the upload's marker names (0: it has
	// none).
	Version int64 `json:"version,omitempty"`
	// Dropped are the changes (numbered from 1 in the upload as it was
	// packaged) taken out of the file since: the server refused them.
	Dropped []int64 `json:"dropped,omitempty"`
}

const (
	keyLogPackaged = "log_packaged"
	keyUploads     = "uploads"
)

// LogState summarizes the local log as the client sees it: Pending counts
// the node's changes not yet packaged for upload, Trimmed is the last one
// packaged (ReadLog after it returns the changes still to package).
func (db *DB) LogState(ctx context.Context) (fieldsync.LogState, error) {
	ls, err := db.st.LogState(ctx)
	if err != nil {
		return ls, err
	}
	m, err := db.st.MetaAll(ctx)
	if err != nil {
		return ls, fmt.Errorf("read local state: %w", err)
	}
	packaged, _ := strconv.ParseInt(m[keyLogPackaged], 10, 64)
	packaged = max(packaged, ls.Trimmed)
	// The entries after the last packaged one are the pending ones; a
	// schema migration may have dropped some (of a dropped table), so they
	// are counted.
	pending, err := db.st.CountLogAfter(ctx, packaged)
	if err != nil {
		return ls, err
	}
	return fieldsync.LogState{Pending: pending, LastSeq: ls.LastSeq, Trimmed: packaged}, nil
}

// RecordUpload records that upload file number holds txns, the local log's
// changes after the last packaged one (in order), after the schema marker
// that begins the file when it has one: they count as packaged, and the
// next upload is number+1. The log keeps them until DropUpload.
func (db *DB) RecordUpload(ctx context.Context, number int64, txns []fieldsync.Txn) error {
	var version int64
	if len(txns) > 0 && fieldsync.IsSchemaMarker(txns[0]) {
		v, err := fieldsync.ParseSchemaMarker(txns[0])
		if err != nil {
			return fmt.Errorf("record upload %d: %w", number, err)
		}
		version, txns = v.Version, txns[1:]
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		recs, err := db.uploadsTx(ctx, tx)
		if err != nil {
			return err
		}
		packaged, err := metaInt(ctx, db.st, tx, keyLogPackaged)
		if err != nil {
			return err
		}
		ints := map[string]int64{keyUploadNext: number + 1}
		if len(txns) > 0 {
			recs[number] = uploadRecord{First: txns[0].Seq, Last: txns[len(txns)-1].Seq, Version: version}
			ints[keyLogPackaged] = max(packaged, txns[len(txns)-1].Seq)
		}
		return db.saveUploads(ctx, tx, recs, ints)
	})
	if err != nil {
		return fmt.Errorf("record upload %d: %w", number, err)
	}
	return nil
}

// DropUpload forgets upload number's part of the local log (the server
// merged it and the client dropped its file, or refused it) and trims the
// log below the oldest upload still kept.
func (db *DB) DropUpload(ctx context.Context, number int64) error {
	var trim int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		recs, err := db.uploadsTx(ctx, tx)
		if err != nil {
			return err
		}
		delete(recs, number)
		if trim, err = metaInt(ctx, db.st, tx, keyLogPackaged); err != nil {
			return err
		}
		for _, r := range recs {
			trim = min(trim, r.First-1)
		}
		return db.saveUploads(ctx, tx, recs, nil)
	})
	if err != nil {
		return fmt.Errorf("forget upload %d: %w", number, err)
	}
	if trim <= 0 {
		return nil
	}
	return db.st.TrimLog(ctx, trim)
}

// DropUploadChanges records that the changes numbered changes (from 1, in
// the upload as packaged, after its schema marker if it has one) were taken
// out of upload number's file.
func (db *DB) DropUploadChanges(ctx context.Context, number int64, changes []int64) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		recs, err := db.uploadsTx(ctx, tx)
		if err != nil {
			return err
		}
		r, ok := recs[number]
		if !ok {
			return nil
		}
		for _, c := range changes {
			if !slices.Contains(r.Dropped, c) {
				r.Dropped = append(r.Dropped, c)
			}
		}
		slices.Sort(r.Dropped)
		recs[number] = r
		return db.saveUploads(ctx, tx, recs, nil)
	})
}

// UploadChanges returns the changes upload file number holds, read from
// the local log: what the file is rebuilt from when it is damaged, begun
// with the schema marker the file began with, if any. ok is false when the
// log does not hold them (an upload packaged by an earlier version of the
// client, which trimmed the log as it packaged); dropped reports whether
// changes were taken out of the file since it was packaged. Changes made
// under a schema version the database migrated from since read as the
// migration left them (see MigrateLocalLog).
func (db *DB) UploadChanges(ctx context.Context, number int64) (txns []fieldsync.Txn, dropped, ok bool, err error) {
	m, err := db.st.MetaAll(ctx)
	if err != nil {
		return nil, false, false, fmt.Errorf("read local state: %w", err)
	}
	recs, err := parseUploads(m[keyUploads])
	if err != nil {
		return nil, false, false, err
	}
	r, found := recs[number]
	if !found || r.Last < r.First {
		return nil, false, false, nil
	}
	// The range may have gaps: entries of a table a schema migration
	// dropped before it was packaged. Those packaged stay.
	all, err := db.st.ReadLog(ctx, r.First-1, int(r.Last-r.First+1))
	if err != nil {
		return nil, false, false, err
	}
	for len(all) > 0 && all[len(all)-1].Seq > r.Last {
		all = all[:len(all)-1]
	}
	if len(all) == 0 || all[0].Seq != r.First || all[len(all)-1].Seq != r.Last {
		return nil, false, false, nil // trimmed: not this client's doing
	}
	if r.Version > 0 {
		txns = append(txns, fieldsync.SchemaMarker(fieldsync.SchemaVersion{Version: r.Version}))
	}
	for i, t := range all {
		if !slices.Contains(r.Dropped, int64(i+1)) {
			txns = append(txns, t)
		}
	}
	return txns, len(r.Dropped) > 0, true, nil
}

func (db *DB) uploadsTx(ctx context.Context, tx *sql.Tx) (map[int64]uploadRecord, error) {
	v, _, err := db.st.MetaTx(ctx, tx, keyUploads)
	if err != nil {
		return nil, err
	}
	return parseUploads(v)
}

func parseUploads(v string) (map[int64]uploadRecord, error) {
	recs := map[int64]uploadRecord{}
	if v == "" {
		return recs, nil
	}
	if err := json.Unmarshal([]byte(v), &recs); err != nil {
		return nil, fmt.Errorf("local state %s: %w", keyUploads, err)
	}
	return recs, nil
}

func (db *DB) saveUploads(ctx context.Context, tx *sql.Tx, recs map[int64]uploadRecord, ints map[string]int64) error {
	b, err := json.Marshal(recs)
	if err != nil {
		return err
	}
	return setState(ctx, db.st, tx, ints, map[string]string{keyUploads: string(b)})
}
