package extract

import (
	"context"
	"reflect"
	"sync"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/visibility"
)

// The rows every node sees (tables with the rule all, rows in broadcast
// mode, and what hangs off them) are the same in every extract taken at
// one sequence number: Siebel Remote's "optimal mode" extracted them
// once for all the nodes. The Database Extract keeps the last such set it
// read, with its rows, and extracts of the same store at the same
// sequence number take them from it instead of reading them again (when
// many nodes are registered one after the other, nothing else is written
// between their extracts). Every write to the synchronized tables goes
// through the write path, which advances the sequence number in the same
// transaction, so rows kept for one sequence number are the rows of every
// snapshot at that number.

// maxSharedRows bounds the rows kept: a larger shared set is read by each
// extract again.
const maxSharedRows = 50_000

// tableRow is a row with its table.
type tableRow struct {
	table string
	row   fieldsync.Row
}

// sharedKey is what the shared rows were read from: a store, its schema,
// a sequence number.
type sharedKey struct {
	store  any
	schema *fieldsync.Schema
	seq    int64
}

// sharedRows is the shared set of one snapshot state, with its rows.
type sharedRows struct {
	key  sharedKey
	set  *visibility.Shared
	rows []tableRow
}

var shared struct {
	mu   sync.Mutex
	last *sharedRows
}

// storeKey returns what identifies a store in a sharedKey, or false when
// its values cannot be compared (and nothing is kept).
func storeKey(st Store) (any, bool) {
	t := reflect.TypeOf(st)
	if t == nil || !t.Comparable() {
		return nil, false
	}
	return st, true
}

// walkShared hands fn the rows every node sees in snap and returns their
// set for the walk of the node's own rows: from the rows kept for the
// same state when there are, else read from snap (and kept).
func walkShared(ctx context.Context, st Store, snap fieldsync.Snapshot, s *fieldsync.Schema, fn func(table string, r fieldsync.Row) error) (*visibility.Shared, error) {
	id, keep := storeKey(st)
	key := sharedKey{store: id, schema: s, seq: snap.LastSeq()}
	if keep {
		shared.mu.Lock()
		last := shared.last
		shared.mu.Unlock()
		if last != nil && last.key == key {
			for _, tr := range last.rows {
				if err := fn(tr.table, tr.row); err != nil {
					return nil, err
				}
			}
			return last.set, nil
		}
	}
	var rows []tableRow
	set, err := visibility.WalkShared(ctx, snap, s, func(table string, r fieldsync.Row) error {
		if keep && len(rows) < maxSharedRows {
			rows = append(rows, tableRow{table, r})
		} else {
			keep, rows = false, nil
		}
		return fn(table, r)
	})
	if err != nil {
		return nil, err
	}
	if keep {
		shared.mu.Lock()
		shared.last = &sharedRows{key: key, set: set, rows: rows}
		shared.mu.Unlock()
	}
	return set, nil
}
