package localdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/sqlite"
)

// WriteError says that a node's folder cannot be written: it is read-only
// (a read-only file system, or no permission) or its disk is full.
type WriteError struct {
	Path string // the folder or file that could not be written
	Err  error  // what the system said: syscall.EROFS, EACCES, EPERM, ENOSPC or EDQUOT
}

func (e *WriteError) Error() string {
	if e.Full() {
		return fmt.Sprintf("the disk holding %s is full (%v)", e.Path, e.Err)
	}
	return fmt.Sprintf("%s is read-only (%v)", e.Path, e.Err)
}

// Unwrap returns the system's error (errors.Is(err, syscall.ENOSPC)).
func (e *WriteError) Unwrap() error { return e.Err }

// Full reports whether the disk is full, rather than read-only.
func (e *WriteError) Full() bool {
	return errors.Is(e.Err, syscall.ENOSPC) || errors.Is(e.Err, syscall.EDQUOT)
}

// notWritable are the system's errors that say a path cannot be written.
var notWritable = []syscall.Errno{syscall.EROFS, syscall.EACCES, syscall.EPERM, syscall.ENOSPC, syscall.EDQUOT}

// AsWriteError returns err as a *WriteError when the system said a file
// cannot be written because it is read-only or the disk is full: a
// *WriteError already, or an *fs.PathError or *os.LinkError of one of
// those errors (not, say, a socket's "operation not permitted"); otherwise
// nil.
func AsWriteError(err error) *WriteError {
	var we *WriteError
	if errors.As(err, &we) {
		return we
	}
	var pe *fs.PathError
	var le *os.LinkError
	var path string
	switch {
	case errors.As(err, &pe):
		path, err = pe.Path, pe.Err
	case errors.As(err, &le):
		path, err = le.New, le.Err
	default:
		return nil
	}
	for _, errno := range notWritable {
		if errors.Is(err, errno) {
			return &WriteError{Path: path, Err: errno}
		}
	}
	return nil
}

// CheckWritable finds out whether dir can be written, and each of files
// opened for writing: it writes a small file in dir, synced, then removed,
// and opens the files for writing (changing nothing). It returns a
// *WriteError when one of them cannot be written because it is read-only
// or the disk is full (dir first), and nil otherwise (errors of other
// kinds are not its business).
func CheckWritable(dir string, files ...string) *WriteError {
	if we := probeDir(dir); we != nil {
		return we
	}
	for _, name := range files {
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			if we := AsWriteError(err); we != nil {
				return we
			}
			continue
		}
		f.Close()
	}
	return nil
}

// probeDir writes a small file in dir, synced, and removes it.
func probeDir(dir string) *WriteError {
	f, err := os.CreateTemp(dir, ".fieldsync-probe-*")
	if err != nil {
		if we := AsWriteError(err); we != nil {
			return &WriteError{Path: dir, Err: we.Err}
		}
		return nil
	}
	defer os.Remove(f.Name())
	defer f.Close()
	_, err = f.Write(make([]byte, 4096))
	if err == nil {
		err = f.Sync()
	}
	if we := AsWriteError(err); we != nil {
		return &WriteError{Path: dir, Err: we.Err}
	}
	return nil
}

// openReadOnly opens a node's file for reading only, writing nothing
// beside it: why says why it cannot be written. The store over it keeps
// its own bookkeeping in a private in-memory database, closed once the
// store is open, so a write fails instead of going anywhere.
func openReadOnly(ctx context.Context, path string, why *WriteError) (*DB, error) {
	dsn := "file:" + path + "?mode=ro&_pragma=busy_timeout(10000)"
	if info, err := os.Stat(path + "-wal"); err != nil || info.Size() == 0 {
		// Nothing waits in the write-ahead log: the file alone is the
		// database, and SQLite need not write its shared-memory file.
		dsn += "&immutable=1"
	}
	read, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db := &DB{path: path, readOnly: why, log: discard}
	if db.header, err = readHeader(ctx, read); err != nil {
		read.Close()
		return nil, err
	}
	s, err := db.header.Schema()
	if err != nil {
		read.Close()
		return nil, err
	}
	mem, err := sql.Open("sqlite", "file:localdb-readonly-"+randomName()+"?mode=memory")
	if err != nil {
		read.Close()
		return nil, err
	}
	mem.SetMaxOpenConns(1) // one connection: one in-memory database
	db.st, err = sqlstore.OpenWith(ctx, noLocks{sqlite.Dialect{Path: path}}, mem, read, s, sqlstore.Options{Local: true})
	if err == nil {
		err = sameStoreVersion(ctx, mem, read)
	}
	mem.Close()
	if err != nil {
		read.Close()
		return nil, err
	}
	db.st.SetSchema(s, db.header.SchemaVersion)
	state, err := db.State(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	db.node, db.employee = state.Node, state.EmployeeID
	if db.node == "" { // never opened for writing: the extract's header says
		db.node, db.employee = db.header.Node, db.header.EmployeeID
	}
	return db, nil
}

// sameStoreVersion checks that the file needs no upgrade of its own
// tables, which reading only cannot do.
func sameStoreVersion(ctx context.Context, mem, file *sql.DB) error {
	var want, have string
	q := "SELECT value FROM fs_meta WHERE key = 'store_version'"
	if err := mem.QueryRowContext(ctx, q).Scan(&want); err != nil {
		return err
	}
	if err := file.QueryRowContext(ctx, q).Scan(&have); err != nil {
		return fmt.Errorf("read the local database's version: %w", err)
	}
	if have != want {
		return fmt.Errorf("the local database is at store version %s and needs an upgrade to %s, which writes it", have, want)
	}
	return nil
}

func randomName() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// noLocks is SQLite's dialect without its lock files: a database open for
// reading only takes no lock (it writes nothing, and cannot create them).
type noLocks struct{ sqlite.Dialect }

// Lock takes no lock.
func (noLocks) Lock(context.Context, *sql.DB, string) (func(), error) { return func() {}, nil }
