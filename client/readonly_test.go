package client_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/localdb"
)

// makeReadOnly makes dir read-only until the test ends. Permissions do not
// stop root, so as root it is a read-only bind mount of dir over itself
// (writes fail with EROFS, as on a read-only file system); otherwise its
// files and folders lose their write permission (EACCES). A root that may
// not mount skips the test.
func makeReadOnly(t *testing.T, dir string) {
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
	var paths []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil {
			paths = append(paths, path)
		}
		return nil
	})
	for i := len(paths) - 1; i >= 0; i-- { // files before their folders
		info, err := os.Stat(paths[i])
		if err != nil {
			continue
		}
		os.Chmod(paths[i], info.Mode().Perm()&^0o222)
		t.Cleanup(func() { os.Chmod(paths[i], info.Mode().Perm()) })
	}
}

// fullDisk returns a new folder on a file system of its own, small, that
// the test fills with fill (and empties with the function fill returns).
// Only root can make one (a tmpfs mount): others skip the test.
func fullDisk(t *testing.T) (dir string, fill func() (empty func())) {
	t.Helper()
	dir = t.TempDir()
	if os.Geteuid() != 0 {
		t.Skip("a full disk is made with a small tmpfs mount, which needs root")
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("a full disk is made with a small tmpfs mount, which this system refuses: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir, func() func() {
		t.Helper()
		filler := filepath.Join(dir, "filler")
		f, err := os.Create(filler)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		block := make([]byte, 64<<10)
		for {
			if _, err := f.Write(block); errors.Is(err, syscall.ENOSPC) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		f.Sync()
		return func() { os.Remove(filler) }
	}
}

// checkNotWritable checks a step refused because the folder cannot be
// written: one line, naming the path and why.
func checkNotWritable(t *testing.T, what string, err error, why string) {
	t.Helper()
	t.Logf("%s: %v", what, err)
	var fe *client.FolderError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), why) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("%s in a folder that cannot be written: %v", what, err)
	}
	if !strings.HasPrefix(fe.Write.Path, "/") {
		t.Fatalf("%s: the error names no path: %v", what, err)
	}
}

// readsWork checks that what only reads works in a folder that cannot be
// written: status (with the change waiting) and the local rows.
func readsWork(t *testing.T, c *client.Client, why string) {
	t.Helper()
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil || st.PendingChanges != 1 || !strings.Contains(st.ReadOnly, why) {
		t.Fatalf("status in a folder that cannot be written: %+v %v", st, err)
	}
	page, err := c.List(ctx, "account", fieldsync.Query{})
	if err != nil || len(page.Rows) != 1 || page.Rows[0]["industry"] != "retail" {
		t.Fatalf("list in a folder that cannot be written: %+v %v", page, err)
	}
}

// writesRefused checks that what writes fails in one line saying why.
func writesRefused(t *testing.T, c *client.Client, why string) {
	t.Helper()
	ctx := context.Background()
	_, err := c.Sync(ctx, client.SyncOptions{Apply: true})
	checkNotWritable(t, "sync", err, why)
	_, err = c.Apply(ctx, fieldsync.Update("account", "acme", map[string]any{"name": "Acme 2"}))
	checkNotWritable(t, "a local write", err, why)
	_, err = c.ApplyInbox(ctx)
	checkNotWritable(t, "apply", err, why)
	checkNotWritable(t, "request", c.Request(ctx, "account", "acme"), why)
}

// TestReadOnlyFolder: in a read-only folder, client status and the local
// rows still read; a sync and a local write fail, each in one line saying
// the folder is read-only and which.
func TestReadOnlyFolder(t *testing.T) { testutil.ForBackends(t, testReadOnlyFolder) }

func testReadOnlyFolder(t *testing.T, b testutil.Backend) {
	w := newWorld(t, b)
	ann, _, _ := base(t, w)
	syncWait(t, ann)
	apply(t, ann, fieldsync.Update("account", "acme", map[string]any{"industry": "retail"}))
	dir := ann.Dir()
	ann.Close()
	makeReadOnly(t, dir)
	c, err := client.Open(context.Background(), dir, nil)
	if err != nil {
		t.Fatalf("open a read-only folder: %v", err)
	}
	defer c.Close()
	readsWork(t, c, "read-only")
	writesRefused(t, c, "is read-only")
	if err := c.ReadOnly(); !errors.Is(err, syscall.EROFS) && !errors.Is(err, syscall.EACCES) {
		t.Fatalf("why the folder is read-only: %v", err)
	}
}

// TestFullDisk: on a full disk, client status and the local rows still
// read; a sync and a local write fail, each in one line saying the disk is
// full and which path; once there is room again, the change waiting goes
// up.
func TestFullDisk(t *testing.T) { testutil.ForBackends(t, testFullDisk) }

func testFullDisk(t *testing.T, b testutil.Backend) {
	disk, fill := fullDisk(t)
	w := newWorld(t, b)
	ctx := context.Background()
	base(t, w)
	added, err := w.api.AddNode(ctx, "ann-disk", "ann")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(disk, "ann")
	ann, err := client.Init(ctx, client.Config{Dir: dir, Server: w.url, Node: "ann-disk", Secret: added.Secret})
	if err != nil {
		t.Fatal(err)
	}
	syncWait(t, ann)
	apply(t, ann, fieldsync.Update("account", "acme", map[string]any{"industry": "retail"}))
	ann.Close()
	empty := fill()
	c, err := client.Open(ctx, dir, nil)
	if err != nil {
		t.Fatalf("open a folder on a full disk: %v", err)
	}
	readsWork(t, c, "is full")
	writesRefused(t, c, "is full")
	var we *localdb.WriteError
	if _, err := c.Sync(ctx, client.SyncOptions{}); !errors.As(err, &we) || !we.Full() || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("sync on a full disk: %v", err)
	}
	c.Close()
	empty()
	again, err := client.Open(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	syncWait(t, again)
	w.settle()
	if row, err := w.api.Get(ctx, "account", "acme"); err != nil || row["industry"] != "retail" {
		t.Fatalf("acme on the server once the disk has room: %v %v", row, err)
	}
}
