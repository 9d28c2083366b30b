package client

import (
	"errors"
	"strings"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/localdb"
)

// A node's folder that is read-only, or whose disk is full, still opens:
// what only reads (Status, Get, List) works, and what writes (Sync,
// ApplyInbox, Apply, Request, Attach, Watch) fails at once with a
// *FolderError saying which path and why, in one line.

// FolderError is the error of a step that needs to write the node's folder
// and cannot: it is read-only or its disk is full. errors.As gives the
// *localdb.WriteError; errors.Is(err, syscall.ENOSPC) and the like hold.
type FolderError struct {
	What  string // what could not be done: "sync", "write locally", ...
	Write *localdb.WriteError
	Err   error // the failure it caused, if any
}

func (e *FolderError) Error() string { return "cannot " + e.What + ": " + e.Write.Error() }

// Unwrap returns the write error and the failure it caused.
func (e *FolderError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Write}
	}
	return []error{e.Write, e.Err}
}

// ReadOnly returns why the node's folder cannot be written (nil: it can):
// it was opened for reading only.
func (c *Client) ReadOnly() error { return c.st.ReadOnly() }

// writable fails, before anything is done, a step that writes the folder
// when the folder was opened for reading only.
func (c *Client) writable(what string) error {
	var we *localdb.WriteError
	if err := c.st.ReadOnly(); errors.As(err, &we) {
		return &FolderError{What: what, Write: we}
	}
	return nil
}

// writeFailure turns the failure of a step that writes the folder into a
// *FolderError when the folder cannot be written: the system said so, or
// writing a small file there now fails (SQLite's "disk is full" names no
// path). Other failures are returned as they are.
func (c *Client) writeFailure(what string, err error) error {
	var fe *FolderError
	if err == nil || errors.As(err, &fe) {
		return err
	}
	we := localdb.AsWriteError(err)
	if we == nil {
		we = localdb.CheckWritable(c.cfg.Dir, c.path("local.db"))
	}
	if we == nil {
		return err
	}
	if we.Path == "" {
		we.Path = c.cfg.Dir
	}
	return &FolderError{What: what, Write: we, Err: err}
}

// oneLine folds an error's text onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// isDataError reports whether a local write failed because of the data
// (a refused change), not because the folder could not be written.
func isDataError(err error) bool {
	for _, kind := range []error{fieldsync.ErrInvalid, fieldsync.ErrNotFound, fieldsync.ErrExists, fieldsync.ErrInUse, fieldsync.ErrForbidden} {
		if errors.Is(err, kind) {
			return true
		}
	}
	return false
}
