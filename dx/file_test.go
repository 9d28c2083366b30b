package dx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/fieldsync/fieldsync"
)

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
	if !reflect.DeepEqual(hdr, outboxHeader) {
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

func TestWriteTemp(t *testing.T) {
	dir := t.TempDir()
	txns := sampleTxns()
	ptrs := make([]*fieldsync.Txn, len(txns))
	for i := range txns {
		ptrs[i] = &txns[i]
	}
	var w Writer
	f, err := w.WriteTemp(dir, "000012.dx", outboxHeader, ptrs)
	if err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); slices.Contains(names, "000012.dx") {
		t.Fatalf("the file is under its name before its commit: %q", names)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "000012.dx"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, encode(t, outboxHeader, txns)) {
		t.Fatal("WriteTemp wrote other bytes than a Writer")
	}
	// Aborted, and refused: no trace left.
	f, err = w.WriteTemp(dir, "000013.dx", outboxHeader, ptrs)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Abort(); err != nil {
		t.Fatal(err)
	}
	bad := &fieldsync.Txn{Seq: 1, Op: fieldsync.OpInsert, Values: fieldsync.Row{"x": 1}}
	if _, err := w.WriteTemp(dir, "000014.dx", outboxHeader, []*fieldsync.Txn{bad}); !errors.Is(err, fieldsync.ErrInvalid) {
		t.Fatalf("error %v, want ErrInvalid", err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"000012.dx"}) {
		t.Fatalf("folder: %q", names)
	}
}
