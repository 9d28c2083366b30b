package localdb_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/localdb"
)

// TestLogKeptUntilMerged: the local log keeps the changes packaged into an
// upload file until the upload is dropped (merged and no longer needed),
// so a damaged file is rebuilt from it; packaged changes no longer count
// as pending, nor are they laid over server values from the log (the
// client hands them over from its upload files).
func TestLogKeptUntilMerged(t *testing.T) {
	db := openNotes(t)
	ctx := context.Background()
	if _, err := db.Apply(ctx, fieldsync.Update("note", "n1", map[string]any{"body": "mine"}),
		fieldsync.Insert("note", map[string]any{"id": "n2", "owner_id": "ann", "body": "two"})); err != nil {
		t.Fatal(err)
	}
	ls, _ := db.LogState(ctx)
	packaged, err := db.ReadLog(ctx, ls.Trimmed, 100)
	if err != nil || len(packaged) != 2 || ls.Pending != 2 {
		t.Fatalf("log before packaging: %+v, %d entries, %v", ls, len(packaged), err)
	}
	if err := db.RecordUpload(ctx, 1, packaged); err != nil {
		t.Fatal(err)
	}
	if ls, _ := db.LogState(ctx); ls.Pending != 0 || ls.Trimmed != packaged[1].Seq {
		t.Fatalf("log after packaging: %+v", ls)
	}
	if st, _ := db.State(ctx); st.UploadNext != 2 {
		t.Fatalf("next upload %d", st.UploadNext)
	}
	kept, dropped, ok, err := db.UploadChanges(ctx, 1)
	if err != nil || !ok || dropped || len(kept) != 2 || kept[0].Seq != packaged[0].Seq || kept[1].RowID != "n2" {
		t.Fatalf("upload 1 from the log: %+v %v %v %v", kept, dropped, ok, err)
	}
	// A server value newer than the packaged change: the log does not keep
	// the node's value over it (its upload file would, while needed).
	server := fieldsync.Txn{Seq: 50, Op: fieldsync.OpUpdate, Table: "note", RowID: "n1", Values: fieldsync.Row{"body": "server"}}
	if _, err := db.ApplyInbox(ctx, 1, []fieldsync.Txn{server}, nil); err != nil {
		t.Fatal(err)
	}
	if got := body(t, db, "n1"); got != "server" {
		t.Fatalf("n1 after the server's value: %v", got)
	}
	if err := db.DropUploadChanges(ctx, 1, []int64{1}); err != nil {
		t.Fatal(err)
	}
	if kept, dropped, ok, _ := db.UploadChanges(ctx, 1); !ok || !dropped || len(kept) != 1 || kept[0].RowID != "n2" {
		t.Fatalf("upload 1 without its refused change: %+v", kept)
	}
	if _, err := db.Apply(ctx, fieldsync.Update("note", "n2", map[string]any{"body": "later"})); err != nil {
		t.Fatal(err)
	}
	if err := db.DropUpload(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := db.UploadChanges(ctx, 1); ok {
		t.Fatal("a dropped upload still read from the log")
	}
	if rest, _ := db.ReadLog(ctx, 0, 100); len(rest) != 1 || rest[0].Values["body"] != "later" {
		t.Fatalf("log after the upload was dropped: %+v", rest)
	}
}

// readOnly makes dir read-only until the test ends: as root (whom
// permissions do not stop) a read-only bind mount (EROFS), otherwise
// permissions (EACCES). A root that may not mount skips.
func readOnly(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() == 0 {
		if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
			t.Skipf("as root a read-only folder needs a read-only bind mount, which this system refuses: %v", err)
		}
		t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
		if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
			t.Skipf("as root a read-only folder needs a read-only bind mount, which this system refuses: %v", err)
		}
		return
	}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if info, err := os.Stat(path); err == nil {
			os.Chmod(path, info.Mode().Perm()&^0o222)
			t.Cleanup(func() { os.Chmod(path, info.Mode().Perm()) })
		}
		return nil
	})
}

// TestOpenReadOnly: a local database in a read-only folder opens for
// reading: rows, state and log read; every write fails with a WriteError
// naming the folder.
func TestOpenReadOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "local.db")
	build(t, path, notes(t), 10, map[string][]fieldsync.Row{
		"employee": {{"id": "ann", "name": "Ann", "login": "ann"}},
		"note":     {{"id": "n1", "owner_id": "ann", "body": "first"}},
	})
	ctx := context.Background()
	db, err := localdb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Apply(ctx, fieldsync.Update("note", "n1", map[string]any{"body": "mine"})); err != nil {
		t.Fatal(err)
	}
	db.Close()
	readOnly(t, dir)
	ro, err := localdb.Open(ctx, path)
	if err != nil {
		t.Fatalf("open in a read-only folder: %v", err)
	}
	defer ro.Close()
	var we *localdb.WriteError
	if err := ro.ReadOnly(); !errors.As(err, &we) || we.Path != dir || we.Full() {
		t.Fatalf("why read-only: %v", err)
	}
	if got := body(t, ro, "n1"); got != "mine" {
		t.Fatalf("n1 read-only: %v", got)
	}
	if ls, err := ro.LogState(ctx); err != nil || ls.Pending != 1 {
		t.Fatalf("log state read-only: %+v %v", ls, err)
	}
	if st, err := ro.State(ctx); err != nil || st.Node != "ann-laptop" || st.UploadNext != 1 {
		t.Fatalf("state read-only: %+v %v", st, err)
	}
	if _, err := ro.Apply(ctx, fieldsync.Update("note", "n1", map[string]any{"body": "again"})); !errors.As(err, &we) {
		t.Fatalf("a write in a read-only folder: %v", err)
	}
	if err := ro.RecordSync(ctx, time.Now(), "ok"); !errors.As(err, &we) {
		t.Fatalf("a state write in a read-only folder: %v", err)
	}
}

// TestWriteErrorsMapped: the system's errors of a write path that cannot
// write, made with real system calls (/dev/full for ENOSPC; a read-only
// folder for EROFS as root, EACCES otherwise), are told apart from other
// errors and say which path, in one line.
func TestWriteErrorsMapped(t *testing.T) {
	if f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0); err == nil {
		_, werr := f.Write([]byte("x"))
		f.Close()
		we := localdb.AsWriteError(werr)
		if we == nil || !we.Full() || we.Path != "/dev/full" || !errors.Is(we, syscall.ENOSPC) || we.Error() != "the disk holding /dev/full is full (no space left on device)" {
			t.Fatalf("a write to /dev/full: %v as %v", werr, we)
		}
	} else {
		t.Logf("no /dev/full here (%v): ENOSPC is not checked", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "old"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly(t, dir)
	_, cerr := os.Create(filepath.Join(dir, "x"))
	rerr := os.Rename(filepath.Join(dir, "old"), filepath.Join(dir, "y"))
	for _, err := range []error{cerr, rerr} {
		we := localdb.AsWriteError(err)
		if we == nil || we.Full() || !strings.HasPrefix(we.Path, dir) || !strings.Contains(we.Error(), " is read-only (") {
			t.Fatalf("a write in a read-only folder: %v as %v", err, we)
		}
	}
	if we := localdb.CheckWritable(dir); we == nil || we.Path != dir {
		t.Fatalf("check of a read-only folder: %v", we)
	}
	if we := localdb.CheckWritable(t.TempDir()); we != nil {
		t.Fatalf("check of a writable folder: %v", we)
	}
	// A socket's "operation not permitted" is not a folder's.
	netErr := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EPERM)}
	if we := localdb.AsWriteError(netErr); we != nil {
		t.Fatalf("a network error taken for a write error: %v", we)
	}
}
