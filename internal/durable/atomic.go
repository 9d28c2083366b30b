// Package durable writes files so that a crash at any moment leaves either
// the old state or the new one: atomic files (temporary name, fsync, rename,
// fsync of the folder), appends that reach the disk before they count,
// files created exactly once, and locks the kernel releases when their
// process dies. Every component that keeps files uses it.
package durable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/fieldsync/fieldsync"
)

// tempPrefix starts the name of every temporary file Create makes, so
// RemoveTemp can find the ones a crash left behind. Temporary names never
// end in ".dx": readers that list a folder's .dx files do not see them.
const tempPrefix = ".tmp-"

// AtomicFile is a file that appears under its name complete or not at all:
// it is written as a temporary file in the same folder, and Commit syncs it
// to disk, renames it into place and syncs the folder. A crash at any moment
// leaves either the previous file (or none) or the complete new one, plus at
// most a temporary file that RemoveTemp clears.
type AtomicFile struct {
	f    *os.File
	dir  string
	name string
	done bool
}

// Create starts writing the file name in dir. name is a plain file
// name, not a path. Finish with Commit, or Abort to leave no trace; deferring
// Abort is safe after Commit.
func Create(dir, name string) (*AtomicFile, error) {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, tempPrefix) || name == "." || name == ".." {
		return nil, fieldsync.Errorf(fieldsync.ErrInvalid, "create %q in %s: not a plain file name", name, dir)
	}
	f, err := os.CreateTemp(dir, tempPrefix+name+"-*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Join(dir, name), err)
	}
	if err := f.Chmod(0o644); err != nil && runtime.GOOS != "windows" {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("create %s: %w", filepath.Join(dir, name), err)
	}
	return &AtomicFile{f: f, dir: dir, name: name}, nil
}

// Write writes to the temporary file.
func (a *AtomicFile) Write(p []byte) (int, error) { return a.f.Write(p) }

// TempPath is where the file is being written, to read it back before Commit.
func (a *AtomicFile) TempPath() string { return a.f.Name() }

// Path is where the file will be once committed.
func (a *AtomicFile) Path() string { return filepath.Join(a.dir, a.name) }

// Commit makes the file durable under its name, replacing any file of that
// name: fsync, close, rename, fsync of the folder. On error the temporary
// file is removed and nothing replaced (unless the error came from syncing
// the folder after the rename).
func (a *AtomicFile) Commit() error { return a.CommitAs(a.Path()) }

// CommitAs is Commit to another path on the same file system (its folder
// must exist): a file whose name is known only once it is written (a
// content hash) is made with CreateTemp and committed with CommitAs.
func (a *AtomicFile) CommitAs(path string) error {
	if a.done {
		return fmt.Errorf("commit %s: already committed or aborted", path)
	}
	a.done = true
	tmp := a.f.Name()
	err := a.f.Sync()
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("commit %s: %w", path, err)
	}
	if err := SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("commit %s: %w", path, err)
	}
	return nil
}

// CommitUnsynced puts the file under its name, replacing any file of that
// name, without fsync: a process killed after it loses nothing (the page
// cache holds the file), but a machine that loses power may lose it or
// find it damaged. Only for files rebuilt from a durable source when found
// missing or damaged (txnproc files, from the Transaction Log).
func (a *AtomicFile) CommitUnsynced() error {
	path := a.Path()
	if a.done {
		return fmt.Errorf("commit %s: already committed or aborted", path)
	}
	a.done = true
	tmp := a.f.Name()
	err := a.f.Close()
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("commit %s: %w", path, err)
	}
	return nil
}

// CreateTemp starts writing a file in dir whose final path CommitAs gives.
func CreateTemp(dir string) (*AtomicFile, error) {
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("create a file in %s: %w", dir, err)
	}
	return &AtomicFile{f: f, dir: dir}, nil
}

// Abort closes and removes the temporary file. It does nothing after Commit
// or a first Abort.
func (a *AtomicFile) Abort() error {
	if a.done {
		return nil
	}
	a.done = true
	a.f.Close()
	if err := os.Remove(a.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("abort %s: %w", a.Path(), err)
	}
	return nil
}

// SyncDir fsyncs a folder, making the creations, renames and removals of
// files in it durable.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be synced there; renames are durable with the file
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

// RemoveTemp removes the temporary files that Create left in dir when
// a process died before Commit or Abort. Call it at start-up, before any
// writer in this process uses dir. A missing folder is not an error.
func RemoveTemp(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove temporary files: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tempPrefix) && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove temporary files: %w", err)
			}
		}
	}
	return nil
}
