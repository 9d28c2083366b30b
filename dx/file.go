package dx

import (
	"fmt"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/durable"
)

// WriteFile writes txns as the .dx file name in dir, crash-safe (see
// AtomicFile): the file appears complete or not at all. written, when not
// nil, is called once the temporary file is complete and before it is
// committed; an error from it aborts the write (tests use it to stop where a
// crash would). A caller that writes many files should keep a Writer and use
// its WriteFile method, which reuses the compressor.
func WriteFile(dir, name string, hdr Header, txns []fieldsync.Txn, written func() error) error {
	return new(Writer).WriteFile(dir, name, hdr, txns, written)
}

// WriteFile is the package's WriteFile on w: it resets w onto a new
// AtomicFile, so one Writer can write file after file without allocating a
// compressor for each.
func (w *Writer) WriteFile(dir, name string, hdr Header, txns []fieldsync.Txn, written func() error) error {
	af, err := durable.Create(dir, name)
	if err != nil {
		return err
	}
	defer af.Abort()
	w.Reset(af, hdr)
	defer w.out.detach()
	for _, t := range txns {
		if err := w.Write(t); err != nil {
			return fmt.Errorf("write %s: %w", af.Path(), err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", af.Path(), err)
	}
	if written != nil {
		if err := written(); err != nil {
			return err
		}
	}
	if w.Unsynced {
		return af.CommitUnsynced()
	}
	return af.Commit()
}

// WriteTemp writes txns as the .dx file name in dir up to its commit: the
// returned file is complete under a temporary name, and the caller makes it
// durable under its name (Commit) or removes it (Abort). A caller with many
// files to make durable encodes them one after the other on one Writer and
// commits them side by side, so that their fsyncs overlap.
func (w *Writer) WriteTemp(dir, name string, hdr Header, txns []*fieldsync.Txn) (*durable.AtomicFile, error) {
	af, err := durable.Create(dir, name)
	if err != nil {
		return nil, err
	}
	w.Reset(af, hdr)
	defer w.out.detach()
	for _, t := range txns {
		if err := w.Write(*t); err != nil {
			af.Abort()
			return nil, fmt.Errorf("write %s: %w", af.Path(), err)
		}
	}
	if err := w.Close(); err != nil {
		af.Abort()
		return nil, fmt.Errorf("write %s: %w", af.Path(), err)
	}
	return af, nil
}
