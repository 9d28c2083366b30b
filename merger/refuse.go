package merger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
)

// setAside moves a refused upload's file to inbox/refused. A file already
// gone was set aside (or removed) by another merger process.
func (m *Merger) setAside(node string, n int64) error {
	aside := m.docking.Refused(node)
	if err := os.MkdirAll(aside, 0o755); err != nil {
		return err
	}
	err := os.Rename(m.docking.InboxFile(node, n), filepath.Join(aside, docking.FileName(n)))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// refusal is an error that refuses an upload file.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

func refuse(format string, args ...any) error { return &refusal{msg: fmt.Sprintf(format, args...)} }

// refusalText is the one line that refuses change num of an upload, for
// what refused it; an error that refuses nothing (the database failing)
// is returned instead. Errors of the write path that would name rows the
// node may not see (a reference that blocks a delete, a unique key's
// other row) are told without them.
func refusalText(num, total int64, t fieldsync.Txn, err error) (string, error) {
	var msg string
	var r *refusal
	var fe *fieldsync.Error
	switch {
	case errors.As(err, &r):
		msg = r.msg
	case errors.Is(err, fieldsync.ErrInUse):
		msg = fmt.Sprintf("%s %q is still referenced by other rows: it cannot be deleted", t.Table, t.RowID)
	case errors.Is(err, fieldsync.ErrExists):
		msg = fmt.Sprintf("%s %q clashes with another row on a unique key", t.Table, t.RowID)
	case errors.As(err, &fe):
		msg = fe.Msg
	default:
		return "", err
	}
	return changeName(num, total, t) + ": " + msg, nil
}

// sendAgain handles an upload file found damaged on the server before any
// of it was merged: its node still holds its own copy (a client keeps an
// upload until the server reports it merged), so the file is kept aside
// for inspection and forgotten as waiting, and the node sends it again at
// its next sync. Nothing of it is lost, and the later uploads wait for it.
// An upload damaged a second time is refused (damagedBefore): a client
// whose files arrive damaged cannot make the server keep them forever.
func (m *Merger) sendAgain(ctx context.Context, node string, n int64, damage error) error {
	m.damaged.Add(1)
	m.log.Error("damaged upload set aside: its node sends it again", "node", node, "upload", n, "err", damage, "damaged", m.damaged.Load())
	aside := m.docking.Damaged(node)
	if err := os.MkdirAll(aside, 0o755); err != nil {
		return err
	}
	err := os.Rename(m.docking.InboxFile(node, n), filepath.Join(aside, docking.FileName(n)))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := m.st.ClearUploads(ctx, node, n); err != nil {
		return err
	}
	return m.st.RecordRecovery(ctx, fieldsync.Recovery{Node: node, Component: "Transaction Merger",
		What: fmt.Sprintf("upload %d was damaged on the server (%v): set aside; the node sends it again", n, damage)})
}

// damagedBefore reports whether the node's upload n was found damaged and
// sent again before.
func (m *Merger) damagedBefore(node string, n int64) bool {
	_, err := os.Stat(filepath.Join(m.docking.Damaged(node), docking.FileName(n)))
	return err == nil
}

// Damaged returns how many upload files this merger found damaged and had
// their nodes send again.
func (m *Merger) Damaged() int64 { return m.damaged.Load() }

// refuseFile records an upload's refusal, then sets its file aside, then
// forgets it as waiting: each step is safe to repeat after a stop.
func (m *Merger) refuseFile(ctx context.Context, node string, n int64, reason string) error {
	m.log.Warn("upload refused", "node", node, "upload", n, "reason", reason)
	if err := m.st.RecordRefused(ctx, node, n, reason); err != nil {
		return err
	}
	if err := m.setAside(node, n); err != nil {
		return err
	}
	return m.st.ClearUploads(ctx, node, n)
}
