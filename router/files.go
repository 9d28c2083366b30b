package router

import (
	"path/filepath"
	"slices"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
)

// readTxnproc returns the transactions of the txnproc file name: from
// Recent when it still keeps them, else read from the file.
func (r *Router) readTxnproc(name string) ([]fieldsync.Txn, error) {
	if r.cfg.Recent != nil {
		if txns, ok := r.cfg.Recent.Txns(name); ok {
			return slices.Clip(txns), nil // a step that appends copies them
		}
	}
	_, txns, err := dx.ReadFile(filepath.Join(r.cfg.Docking.Txnproc(), name), dx.Limits{})
	return txns, err
}

// readFiles returns the transactions with after < Seq <= upTo from the
// txnproc files.
func (r *Router) readFiles(after, upTo int64) ([]fieldsync.Txn, error) {
	dir := r.cfg.Docking.Txnproc()
	names, err := r.cfg.Docking.TxnprocFiles()
	if err != nil {
		return nil, err
	}
	var out []fieldsync.Txn
	for _, name := range names {
		first, last, _ := docking.ParseTxnprocName(name)
		if last <= after || first > upTo {
			continue
		}
		_, txns, err := dx.ReadFile(filepath.Join(dir, name), dx.Limits{})
		if err != nil {
			return nil, err
		}
		for _, t := range txns {
			if t.Seq > after && t.Seq <= upTo {
				out = append(out, t)
			}
		}
	}
	return out, nil
}
