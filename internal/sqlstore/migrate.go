package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync"
)

// migrations are the store's own tables, in order; each runs once, in a
// transaction that also records the new version. Append, never edit.
var migrations = []string{
	// 1: metadata, the Transaction Log and its counter, nodes, tokens.
	`CREATE TABLE fs_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
	 CREATE TABLE fs_seq (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
	 INSERT INTO fs_seq (name, value) VALUES ('log', 0);
	 INSERT INTO fs_seq (name, value) VALUES ('trimmed', 0);
	 CREATE TABLE fs_log (
	   seq BIGINT PRIMARY KEY,
	   op TEXT NOT NULL,
	   tbl TEXT NOT NULL,
	   row_id TEXT NOT NULL,
	   vals TEXT,
	   prev TEXT,
	   origin TEXT NOT NULL,
	   at BIGINT NOT NULL);
	 CREATE TABLE fs_node (
	   name TEXT PRIMARY KEY,
	   employee_id TEXT NOT NULL,
	   secret_hash TEXT NOT NULL,
	   active INTEGER NOT NULL,
	   created BIGINT NOT NULL,
	   deactivated BIGINT NOT NULL);
	 CREATE TABLE fs_token (
	   hash TEXT PRIMARY KEY,
	   role TEXT NOT NULL,
	   created BIGINT NOT NULL)`,
	// 2: routing state: each node's extract and outbox numbering, router positions.
	`ALTER TABLE fs_node ADD COLUMN extract_seq BIGINT NOT NULL DEFAULT -1;
	 ALTER TABLE fs_node ADD COLUMN extract_at BIGINT NOT NULL DEFAULT 0;
	 ALTER TABLE fs_node ADD COLUMN outbox_next BIGINT NOT NULL DEFAULT 1;
	 ALTER TABLE fs_node ADD COLUMN last_sync BIGINT NOT NULL DEFAULT 0;
	 INSERT INTO fs_seq (name, value) VALUES ('nodes', 0);
	 CREATE TABLE fs_router (part INTEGER PRIMARY KEY, position BIGINT NOT NULL)`,
	// 3: merging: each node's last merged upload, refused uploads,
	// conflicts, synchronization sessions.
	`CREATE TABLE fs_merge (node TEXT PRIMARY KEY, last_merged BIGINT NOT NULL);
	 CREATE TABLE fs_refused (node TEXT NOT NULL, number BIGINT NOT NULL, reason TEXT NOT NULL, at BIGINT NOT NULL,
	   PRIMARY KEY (node, number));
	 INSERT INTO fs_seq (name, value) VALUES ('conflict', 0);
	 CREATE TABLE fs_conflict (
	   id BIGINT PRIMARY KEY,
	   node TEXT NOT NULL,
	   upload BIGINT NOT NULL,
	   kind TEXT NOT NULL,
	   tbl TEXT NOT NULL,
	   row_id TEXT NOT NULL,
	   field TEXT NOT NULL,
	   winner TEXT NOT NULL,
	   loser TEXT NOT NULL,
	   at BIGINT NOT NULL);
	 CREATE INDEX fs_conflict_node ON fs_conflict (node, id);
	 CREATE TABLE fs_session (
	   id TEXT PRIMARY KEY,
	   node TEXT NOT NULL,
	   started BIGINT NOT NULL,
	   ended BIGINT NOT NULL,
	   up_files BIGINT NOT NULL,
	   up_bytes BIGINT NOT NULL,
	   down_files BIGINT NOT NULL,
	   down_bytes BIGINT NOT NULL,
	   result TEXT NOT NULL);
	 CREATE INDEX fs_session_node ON fs_session (node, started)`,
	// 4: where each merged upload entered the log, so its node can tell the
	// transactions routed before it from those after.
	`CREATE TABLE fs_upload (node TEXT NOT NULL, number BIGINT NOT NULL, first_seq BIGINT NOT NULL, PRIMARY KEY (node, number))`,
	// 5: extracts asked for and not yet taken (by a Database Extract process).
	`ALTER TABLE fs_node ADD COLUMN extract_wanted INTEGER NOT NULL DEFAULT 0`,
	// 6: uploads received and not yet merged, so mergers find them without
	// looking into every node's inbox.
	`CREATE TABLE fs_inbox (node TEXT NOT NULL, number BIGINT NOT NULL, PRIMARY KEY (node, number))`,
	// 7: when a Database Extract process claimed a wanted extract
	// (extract_wanted 2), so no other takes it meanwhile.
	`ALTER TABLE fs_node ADD COLUMN extract_claimed BIGINT NOT NULL DEFAULT 0`,
	// 8: changes refused alone (their number, reason and the change they
	// depended on), how far the merge of a large upload got, and the nodes
	// whose uploads are not merged until an administrator resumes them.
	`ALTER TABLE fs_conflict ADD COLUMN change_no BIGINT NOT NULL DEFAULT 0;
	 ALTER TABLE fs_conflict ADD COLUMN reason TEXT NOT NULL DEFAULT '';
	 ALTER TABLE fs_conflict ADD COLUMN depends_on BIGINT NOT NULL DEFAULT 0;
	 CREATE TABLE fs_merging (node TEXT NOT NULL, number BIGINT NOT NULL, done BIGINT NOT NULL, first_seq BIGINT NOT NULL,
	   inserted BIGINT NOT NULL, recorded BIGINT NOT NULL, PRIMARY KEY (node, number));
	 CREATE TABLE fs_merge_stop (node TEXT PRIMARY KEY, reason TEXT NOT NULL, at BIGINT NOT NULL)`,
	// 9: which node inserted each row of a private table ("" for the
	// server), so that only that node may change or delete it.
	`CREATE TABLE fs_owner (tbl TEXT NOT NULL, row_id TEXT NOT NULL, node TEXT NOT NULL, PRIMARY KEY (tbl, row_id))`,
	// 10: what each merged upload wrote (bytes of values, rows inserted)
	// and when, for the per-node daily limits.
	`ALTER TABLE fs_upload ADD COLUMN at BIGINT NOT NULL DEFAULT 0;
	 ALTER TABLE fs_upload ADD COLUMN written BIGINT NOT NULL DEFAULT 0;
	 ALTER TABLE fs_upload ADD COLUMN inserted BIGINT NOT NULL DEFAULT 0;
	 ALTER TABLE fs_merging ADD COLUMN written BIGINT NOT NULL DEFAULT 0`,
	// 11: whose each API token is (a data folder's token file, a configured
	// token, a process's own), so a process replaces only its own and never
	// revokes the tokens other processes of the installation use ('': made
	// by an earlier build).
	`ALTER TABLE fs_token ADD COLUMN owner TEXT NOT NULL DEFAULT ''`,
	// 12: the node's current folder (the id a client init gave it) and
	// when it was made: the requests of an older folder are refused.
	`ALTER TABLE fs_node ADD COLUMN folder TEXT NOT NULL DEFAULT '';
	 ALTER TABLE fs_node ADD COLUMN folder_at BIGINT NOT NULL DEFAULT 0`,
	// 13: damaged or lost files met by any component, and what was done.
	`CREATE TABLE fs_recovery (at BIGINT NOT NULL, node TEXT NOT NULL, component TEXT NOT NULL, what TEXT NOT NULL);
	 CREATE INDEX fs_recovery_at ON fs_recovery (at)`,
	// 14: console and API users (password hashes only); who made each logged write ('' none).
	`CREATE TABLE fs_user (login TEXT PRIMARY KEY, employee_id TEXT NOT NULL, admin INTEGER NOT NULL, password_hash TEXT NOT NULL, disabled INTEGER NOT NULL, created BIGINT NOT NULL);
	 ALTER TABLE fs_log ADD COLUMN usr TEXT NOT NULL DEFAULT ''`,
	// 15: the routed log entries a record's history shows (TrimLog keeps them).
	`CREATE TABLE fs_history (seq BIGINT PRIMARY KEY, op TEXT NOT NULL, tbl TEXT NOT NULL, row_id TEXT NOT NULL, origin TEXT NOT NULL, usr TEXT NOT NULL, at BIGINT NOT NULL);
	 CREATE INDEX fs_history_row ON fs_history (tbl, row_id, seq)`,
	// 16: every version of the schema the database has had in force, and
	// the log position of its marker (0: in force from the start).
	`CREATE TABLE fs_schema (version BIGINT PRIMARY KEY, source TEXT NOT NULL, yaml TEXT NOT NULL, sha256 TEXT NOT NULL,
	   seq BIGINT NOT NULL, at BIGINT NOT NULL, by_user TEXT NOT NULL)`,
}

// StoreVersion is the version of the store's own tables this build writes.
var StoreVersion = len(migrations)

// upgrade brings the store's own tables and the schema's tables up to
// date. Several processes may open one database at the same moment, so
// they take turns: the first upgrades, the others find nothing to do.
func (st *Store) upgrade(ctx context.Context) error {
	release, err := st.d.Lock(ctx, st.write, "schema-upgrade")
	if err != nil {
		return err
	}
	defer release()
	if err := st.migrate(ctx); err != nil {
		return err
	}
	if err := st.resolveSchema(ctx); err != nil {
		return err
	}
	return st.syncSchema(ctx)
}

func (st *Store) migrate(ctx context.Context) error {
	cols, err := st.d.TableColumns(ctx, st.write, "fs_meta")
	if err != nil {
		return fmt.Errorf("read store version: %w", err)
	}
	version := 0
	if len(cols) > 0 {
		var v string
		err := st.write.QueryRowContext(ctx, "SELECT value FROM fs_meta WHERE key = 'store_version'").Scan(&v)
		if err != nil {
			return fmt.Errorf("read store version: %w", err)
		}
		if _, err := fmt.Sscan(v, &version); err != nil {
			return fmt.Errorf("read store version %q: %w", v, err)
		}
	}
	if version > len(migrations) {
		return fieldsync.Errorf(fieldsync.ErrSchemaMismatch,
			"database is at store version %d, newer than this build of fieldsync understands (%d); upgrade fieldsync", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		err := st.inTx(ctx, func(tx *sql.Tx) error {
			for _, stmt := range strings.Split(migrations[v], ";") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return err
				}
			}
			return st.setMeta(ctx, tx, "store_version", fmt.Sprint(v+1))
		})
		if err != nil {
			return fmt.Errorf("migrate store to version %d: %w", v+1, err)
		}
	}
	return nil
}

func (st *Store) setMeta(ctx context.Context, q Querier, key, value string) error {
	_, err := q.ExecContext(ctx, fmt.Sprintf(
		"INSERT INTO fs_meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
		st.d.Placeholder(1), st.d.Placeholder(2)), key, value)
	return err
}

func (st *Store) meta(ctx context.Context, q Querier, key string) (string, bool, error) {
	var v string
	err := q.QueryRowContext(ctx, "SELECT value FROM fs_meta WHERE key = "+st.d.Placeholder(1), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return v, err == nil, err
}
