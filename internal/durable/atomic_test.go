package durable

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fieldsync/fieldsync"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestAtomicCommit(t *testing.T) {
	dir := t.TempDir()
	af, err := Create(dir, "000001.dx")
	if err != nil {
		t.Fatal(err)
	}
	defer af.Abort()
	if _, err := af.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	// Until Commit, the name does not exist; only a temporary file does,
	// and it does not look like a .dx file.
	if _, err := os.Stat(af.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file visible before commit: %v", err)
	}
	names := dirNames(t, dir)
	if len(names) != 1 || filepath.Ext(names[0]) == ".dx" {
		t.Fatalf("folder before commit: %q", names)
	}
	if err := af.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(af.Path()); string(got) != "hello" {
		t.Fatalf("committed file holds %q", got)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"000001.dx"}) {
		t.Fatalf("folder after commit: %q", names)
	}
	if err := af.Abort(); err != nil { // no-op after commit
		t.Fatal(err)
	}
	if err := af.Commit(); err == nil {
		t.Fatal("second commit succeeded")
	}
	if _, err := os.Stat(af.Path()); err != nil {
		t.Fatal("abort after commit removed the file")
	}
}

func TestAtomicAbort(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "keep.dx"), []byte("old"), 0o644)
	af, err := Create(dir, "keep.dx")
	if err != nil {
		t.Fatal(err)
	}
	af.Write([]byte("new"))
	if err := af.Abort(); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"keep.dx"}) {
		t.Fatalf("folder after abort: %q", names)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "keep.dx")); string(got) != "old" {
		t.Fatalf("abort changed the existing file: %q", got)
	}
}

func TestAtomicReplaces(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("old"), 0o644)
	af, err := Create(dir, "f")
	if err != nil {
		t.Fatal(err)
	}
	af.Write([]byte("new"))
	if err := af.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "new" {
		t.Fatalf("file holds %q", got)
	}
}

func TestAtomicBadName(t *testing.T) {
	for _, name := range []string{"", ".", "..", "a/b", "../x", tempPrefix + "x"} {
		if _, err := Create(t.TempDir(), name); !errors.Is(err, fieldsync.ErrInvalid) {
			t.Errorf("Create(%q): %v, want ErrInvalid", name, err)
		}
	}
	if _, err := Create(filepath.Join(t.TempDir(), "missing"), "x"); err == nil {
		t.Error("Create in a missing folder succeeded")
	}
}

func TestRemoveTemp(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.dx", "b.dx"} {
		af, err := Create(dir, n)
		if err != nil {
			t.Fatal(err)
		}
		af.Write([]byte("partial")) // the process "dies" here
	}
	os.WriteFile(filepath.Join(dir, "000001.dx"), []byte("x"), 0o644)
	if err := RemoveTemp(dir); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"000001.dx"}) {
		t.Fatalf("folder after RemoveTemp: %q", names)
	}
	if err := RemoveTemp(filepath.Join(dir, "missing")); err != nil {
		t.Fatalf("RemoveTemp of a missing folder: %v", err)
	}
}
