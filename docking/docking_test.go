package docking

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileNames(t *testing.T) {
	if first, last, ok := ParseTxnprocName(TxnprocName(7, 42)); !ok || first != 7 || last != 42 {
		t.Fatal("round trip")
	}
	for _, bad := range []string{"", "x.dx", TxnprocName(5, 4), strings.Replace(TxnprocName(1, 2), "-", "_", 1), ".tmp-" + TxnprocName(1, 2)} {
		if _, _, ok := ParseTxnprocName(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNumberedNames(t *testing.T) {
	if n, ok := ParseFileName(FileName(42)); !ok || n != 42 {
		t.Fatal("round trip")
	}
	for _, bad := range []string{"", "42.dx", "000000000000.dx", "-00000000001.dx", "000000000042.dx.part", ".tmp-000000000042.dx"} {
		if _, ok := ParseFileName(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestList(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{FileName(3), FileName(1), "x.dx", FileName(2) + ".part"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	files, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Number != 1 || files[1].Number != 3 || files[0].Size != int64(len(FileName(1))) {
		t.Fatalf("List: %+v", files)
	}
	if files, err := List(filepath.Join(dir, "missing")); err != nil || len(files) != 0 {
		t.Fatalf("List of a missing folder: %v, %v", files, err)
	}
}
