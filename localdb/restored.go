package localdb

import (
	"context"
	"fmt"
)

// The local state keeps the incarnation of the server database the local
// data is in step with. A server restored from a backup has a new one: the
// client then forgets its positions in the server's numbering (the outbox
// files applied, the router's position, the conflicts seen), which the
// restored server numbers again, and waits for the node's new Database
// Extract (keyRestoreFor names the incarnation it waits for).
const (
	keyIncarnation = "server_incarnation"
	keyRestoreFor  = "server_restore_for"
)

// ServerIncarnation returns the server incarnation the local data is in
// step with ("" before the first sync that told it), and the new one the
// client has met and reset its positions for, if it still waits for that
// one's extract.
func (db *DB) ServerIncarnation(ctx context.Context) (known, resetFor string, err error) {
	m, err := db.st.MetaAll(ctx)
	if err != nil {
		return "", "", fmt.Errorf("read local state: %w", err)
	}
	return m[keyIncarnation], m[keyRestoreFor], nil
}

// SetServerIncarnation records that the local data is in step with the
// server's incarnation inc.
func (db *DB) SetServerIncarnation(ctx context.Context, inc string) error {
	return db.set(ctx, nil, map[string]string{keyIncarnation: inc, keyRestoreFor: ""})
}

// ResetForRestore forgets, in one local transaction, the positions the
// client held in the numbering of a server that was since restored from a
// backup (incarnation inc): no outbox file applied, no router position, no
// conflict seen, no damaged inbox file; the new extract brings the rest.
func (db *DB) ResetForRestore(ctx context.Context, inc string) error {
	return db.set(ctx, map[string]int64{keyInboxApplied: 0, keyRoutedSeq: 0, keyConflictsSeen: 0},
		map[string]string{keyInboxDamaged: "", keyRestoreFor: inc})
}
