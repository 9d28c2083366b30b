package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/internal/durable"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/sqlite"
)

// Backup writes a consistent copy of the server's SQLite database
// (DATA/server.db) to out, while servers run on it (SQLite's VACUUM INTO,
// in one read transaction). out must not exist. A PostgreSQL database is
// backed up with pg_dump instead.
func Backup(ctx context.Context, dataDir, db, out string) error {
	if db != "" {
		return fmt.Errorf("--db %s: back up a PostgreSQL database with pg_dump (docs/operations.md, \"Backup and restore\")", db)
	}
	if out == "" {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "backup needs --out FILE")
	}
	if dataDir == "" {
		dataDir = "fieldsync-data"
	}
	path := filepath.Join(dataDir, "server.db")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("back up %s: %w", path, err)
	}
	if _, err := os.Stat(out); err == nil {
		return fieldsync.Errorf(fieldsync.ErrExists, "back up to %s: the file exists already (give a new name)", out)
	}
	part := out + ".part"
	os.Remove(part)
	rdb, err := sqlite.OpenDB(path, false)
	if err != nil {
		return err
	}
	defer rdb.Close()
	if _, err := rdb.ExecContext(ctx, "VACUUM INTO ?1", part); err != nil {
		os.Remove(part)
		return fmt.Errorf("back up %s to %s: %w", path, out, err)
	}
	if err := durable.SyncFile(part); err != nil {
		os.Remove(part)
		return fmt.Errorf("back up %s to %s: %w", path, out, err)
	}
	if err := os.Rename(part, out); err != nil {
		return fmt.Errorf("back up %s to %s: %w", path, out, err)
	}
	return nil
}

// RestoreReport is what Restored did.
type RestoreReport struct {
	Previous    string   `json:"previous_incarnation"`
	Incarnation string   `json:"incarnation"`
	LogLast     int64    `json:"log_last_seq"`
	Nodes       []string `json:"reextracted"`
	// Files removed from the docking folder, which the restored database
	// never wrote (or which the new extracts replace).
	TxnprocRemoved int `json:"txnproc_removed"`
	OutboxRemoved  int `json:"outbox_removed"`
	InboxRemoved   int `json:"inbox_removed"`
	// InboxForgotten counts uploads the database had received whose file
	// is gone: their nodes send them again.
	InboxForgotten int `json:"inbox_forgotten"`
	// FoldersRemoved are the docking folders of nodes the database does
	// not know (registered after the backup).
	FoldersRemoved []string `json:"folders_removed"`
}

// Restored brings a data folder and its database in step after the
// database was put back from a backup, with no server running on them
// (refused otherwise): the database gets a new incarnation, which tells
// every node at its next sync to send again what the server lost; every
// node's Database Extract is asked for again; and the docking folder loses
// the files the restored database never wrote or no longer wants (txnproc
// files past its log, outbox files and extracts, which the new extracts
// replace, uploads it has no record of). A server started afterwards takes
// the extracts.
func Restored(ctx context.Context, cfg Config) (RestoreReport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return RestoreReport{}, err
	}
	release, err := lockStopped(ctx, cfg.DataDir)
	if err != nil {
		return RestoreReport{}, err
	}
	defer release()
	st, err := openStore(ctx, cfg)
	if err != nil {
		return RestoreReport{}, err
	}
	defer st.Close()
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	unlock, err := st.LockProcessor(lctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			return RestoreReport{}, fmt.Errorf("a Transaction Processor runs on this database (another fieldsync server): stop every server process of the installation first")
		}
		return RestoreReport{}, err
	}
	defer unlock()
	r, err := st.MarkRestored(ctx)
	if err != nil {
		return RestoreReport{}, err
	}
	rep := RestoreReport{Previous: r.Previous, Incarnation: r.Incarnation, LogLast: r.LogLast, Nodes: r.Nodes, FoldersRemoved: []string{}}
	if err := reconcileDocking(ctx, st, docking.In(cfg.DataDir), r, &rep); err != nil {
		return rep, fmt.Errorf("the database is marked restored, but its docking folder is not in step yet (run admin restored again): %w", err)
	}
	return rep, nil
}

// lockStopped takes the data folder's router locks, refusing when a server
// holds one: none may run while the folder is made to match the database.
func lockStopped(ctx context.Context, dataDir string) (func(), error) {
	dir := filepath.Join(dataDir, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder %s: %w", dataDir, err)
	}
	unlock, err := durable.Lock(ctx, filepath.Join(dir, "claim.lock"))
	if err != nil {
		return nil, fmt.Errorf("data folder %s: %w", dataDir, err)
	}
	defer unlock()
	names, err := filepath.Glob(filepath.Join(dir, "router-*.lock"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		names = []string{filepath.Join(dir, "router-0.lock")}
	}
	var releases []func()
	releaseAll := func() {
		for _, r := range releases {
			r()
		}
	}
	host, _ := os.Hostname()
	note := fmt.Appendf(nil, `{"pid":%d,"host":%q,"components":["admin restored"]}`, os.Getpid(), host)
	for _, name := range names {
		r, held, err := durable.TryLockHeld(name, note)
		if err != nil {
			releaseAll()
			if errors.Is(err, durable.ErrLocked) {
				return nil, fmt.Errorf("data folder %s is in use by a fieldsync server (%s): stop every server process of the installation first",
					dataDir, strings.TrimSpace(string(held)))
			}
			return nil, fmt.Errorf("data folder %s: %w", dataDir, err)
		}
		releases = append(releases, r)
	}
	return releaseAll, nil
}

// reconcileDocking removes from the docking folder what the restored
// database did not write or no longer wants.
func reconcileDocking(ctx context.Context, st *sqlstore.Store, dock docking.Folder, r sqlstore.Restored, rep *RestoreReport) error {
	names, err := dock.TxnprocFiles()
	if err != nil {
		return err
	}
	for _, name := range names {
		// A file reaching past the restored log holds transactions the
		// database never logged (its numbers are taken again).
		if _, last, _ := docking.ParseTxnprocName(name); last > r.LogLast {
			if err := removeFile(filepath.Join(dock.Txnproc(), name)); err != nil {
				return err
			}
			rep.TxnprocRemoved++
		}
	}
	known := map[string]bool{}
	for _, n := range r.Nodes {
		known[n] = true
		if err := reconcileNode(ctx, st, dock, n, rep); err != nil {
			return fmt.Errorf("node %s: %w", n, err)
		}
	}
	ents, err := os.ReadDir(string(dock))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range ents {
		if e.IsDir() && fieldsync.ValidNodeName(e.Name()) && !known[e.Name()] && e.Name() != filepath.Base(dock.Txnproc()) {
			if err := os.RemoveAll(dock.Node(e.Name())); err != nil {
				return err
			}
			rep.FoldersRemoved = append(rep.FoldersRemoved, e.Name())
		}
	}
	return nil
}

// reconcileNode empties a node's outbox and extract (its new extract
// holds everything) and keeps in its inbox exactly the uploads the
// database records as received.
func reconcileNode(ctx context.Context, st *sqlstore.Store, dock docking.Folder, node string, rep *RestoreReport) error {
	outbox, err := docking.Numbers(dock.Outbox(node))
	if err != nil {
		return err
	}
	for _, n := range outbox {
		if err := removeFile(dock.OutboxFile(node, n)); err != nil {
			return err
		}
		rep.OutboxRemoved++
	}
	if err := removeFile(dock.Extract(node)); err != nil {
		return err
	}
	listed, err := st.InboxNumbers(ctx, node)
	if err != nil {
		return err
	}
	want := map[int64]bool{}
	for _, n := range listed {
		want[n] = true
	}
	files, err := docking.Numbers(dock.Inbox(node))
	if err != nil {
		return err
	}
	have := map[int64]bool{}
	for _, n := range files {
		have[n] = true
		if !want[n] {
			if err := removeFile(dock.InboxFile(node, n)); err != nil {
				return err
			}
			rep.InboxRemoved++
		}
	}
	for _, n := range listed {
		if !have[n] {
			if err := st.ForgetInbox(ctx, node, n); err != nil {
				return err
			}
			rep.InboxForgotten++
		}
	}
	return nil
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
