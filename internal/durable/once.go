package durable

import (
	"os"
	"path/filepath"
	"runtime"
)

// CreateOnce creates the file at path holding data, readable by its owner
// only, crash-safely: a temporary file (created 0600, so the content is
// never readable by others, not even for a moment), fsync, a hard link to
// the final name, fsync of the folder. The link fails with an error
// matching os.ErrExist if the file exists already, so of several processes
// creating it at once exactly one succeeds and none overwrites another's.
func CreateOnce(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // the linked file stays
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// WriteFile replaces the file name in dir with data, atomically (see
// AtomicFile), with the given permissions.
func WriteFile(dir, name string, data []byte, perm os.FileMode) error {
	af, err := Create(dir, name)
	if err != nil {
		return err
	}
	defer af.Abort()
	if err := af.f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return err
	}
	if _, err := af.Write(data); err != nil {
		return err
	}
	return af.Commit()
}
