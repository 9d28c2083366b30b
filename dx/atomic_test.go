package dx

import (
	"bytes"
	"errors"
	"fmt"
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
	af, err := CreateAtomic(dir, "000001.dx")
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
	af, err := CreateAtomic(dir, "keep.dx")
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
	af, err := CreateAtomic(dir, "f")
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
		if _, err := CreateAtomic(t.TempDir(), name); !errors.Is(err, fieldsync.ErrInvalid) {
			t.Errorf("CreateAtomic(%q): %v, want ErrInvalid", name, err)
		}
	}
	if _, err := CreateAtomic(filepath.Join(t.TempDir(), "missing"), "x"); err == nil {
		t.Error("CreateAtomic in a missing folder succeeded")
	}
}

func TestRemoveTemp(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.dx", "b.dx"} {
		af, err := CreateAtomic(dir, n)
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

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	txns := sampleTxns()
	if err := WriteFile(dir, "000012.dx", outboxHeader, txns, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "000012.dx"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, encode(t, outboxHeader, txns)) {
		t.Fatal("WriteFile wrote other bytes than a Writer")
	}
	hdr, got, err := ReadFile(filepath.Join(dir, "000012.dx"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if hdr != outboxHeader {
		t.Fatalf("header %+v", hdr)
	}
	checkSame(t, got, txns)
	if names := dirNames(t, dir); !slices.Equal(names, []string{"000012.dx"}) {
		t.Fatalf("folder: %q", names)
	}
}

func TestWriteFileFails(t *testing.T) {
	crash := errors.New("crash")
	cases := []struct {
		name    string
		txns    []fieldsync.Txn
		written func() error
		want    error
	}{
		{"hook", sampleTxns(), func() error { return crash }, crash},
		{"bad value", []fieldsync.Txn{{Seq: 1, Op: fieldsync.OpInsert, Values: fieldsync.Row{"x": 1}}}, nil, fieldsync.ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			err := WriteFile(dir, "000001.dx", outboxHeader, c.txns, c.written)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if names := dirNames(t, dir); len(names) != 0 {
				t.Fatalf("folder after a failed write: %q", names)
			}
		})
	}
}

// One Writer writes file after file, each the same as a fresh Writer's.
func TestWriterWriteFileReuse(t *testing.T) {
	dir := t.TempDir()
	var w Writer
	txns := sampleTxns()
	if err := w.WriteFile(dir, "bad.dx", outboxHeader, []fieldsync.Txn{{Op: "bogus"}}, nil); err == nil {
		t.Fatal("bad transaction written")
	}
	if err := w.Write(txns[0]); err != nil {
		// Writing on after a failed WriteFile without Reset fails (at the
		// latest on Close), and never panics.
		t.Logf("write after WriteFile: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Fatal("close after a failed WriteFile succeeded")
	}
	for i := range 3 {
		hdr := Header{Kind: KindOutbox, Node: "laptop-7", Number: uint64(i)}
		name := fmt.Sprintf("%06d.dx", i)
		if err := w.WriteFile(dir, name, hdr, txns[i:], nil); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(filepath.Join(dir, name))
		if !bytes.Equal(got, encode(t, hdr, txns[i:])) {
			t.Fatalf("file %d differs from a fresh Writer's", i)
		}
	}
	if names := dirNames(t, dir); len(names) != 3 {
		t.Fatalf("folder: %q", names)
	}
}
