package filestore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/filestore"
)

func TestPutStoresContentOnce(t *testing.T) {
	s, err := filestore.Open(t.TempDir(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Put(strings.NewReader("proposal"), fieldsync.FileRef{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Put(strings.NewReader("proposal"), fieldsync.FileRef{})
	if err != nil || a != b || a.Size != 8 {
		t.Fatalf("same content twice: %v %v %v", a, b, err)
	}
	if err := filestore.Verify(s.Path(a.SHA256), a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(bytes.NewReader(make([]byte, 1001)), fieldsync.FileRef{}); !errors.Is(err, fieldsync.ErrTooLarge) {
		t.Fatalf("oversized file: %v", err)
	}
	if _, err := s.Put(strings.NewReader("other"), a); !errors.Is(err, fieldsync.ErrInvalid) {
		t.Fatalf("content not matching its reference: %v", err)
	}
	if _, err := s.Open(fieldsync.FileRef{SHA256: strings.Repeat("0", 64)}); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestResumeInPieces(t *testing.T) {
	s, err := filestore.Open(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("0123456789"), 1000)
	ref, err := filestore.Open(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Put(bytes.NewReader(content), fieldsync.FileRef{})
	if err != nil {
		t.Fatal(err)
	}
	if done, err := s.Resume("ann", want, 0, bytes.NewReader(content[:4000])); err != nil || done {
		t.Fatalf("first piece: %v %v", done, err)
	}
	if have := s.Have("ann", want); have != 4000 {
		t.Fatalf("have %d after the first piece", have)
	}
	if have := s.Have("bob", want); have != 0 {
		t.Fatalf("another uploader has %d", have)
	}
	if _, err := s.Resume("ann", want, 5000, bytes.NewReader(content[5000:])); !errors.Is(err, fieldsync.ErrInvalid) {
		t.Fatalf("resuming past what the store holds: %v", err)
	}
	// A piece from before what the store holds (the uploader did not know
	// how much arrived): the bytes the store has are skipped.
	if done, err := s.Resume("ann", want, 3000, bytes.NewReader(content[3000:])); err != nil || !done {
		t.Fatalf("last piece, overlapping: %v %v", done, err)
	}
	if err := filestore.Verify(s.Path(want.SHA256), want); err != nil {
		t.Fatal(err)
	}
	// Pieces that do not add up to the reference are dropped.
	bad := bytes.Clone(content)
	bad[5000] = 'x'
	other := fieldsync.FileRef{SHA256: strings.Repeat("1", 64), Size: want.Size}
	if _, err := s.Resume("ann", other, 0, bytes.NewReader(bad)); !errors.Is(err, fieldsync.ErrInvalid) {
		t.Fatalf("damaged upload: %v", err)
	}
	if have := s.Have("ann", other); have != 0 {
		t.Fatalf("a damaged upload's pieces kept: %d bytes", have)
	}
}

// TestResumeOnePieceAtATime: a piece still arriving and the piece that
// resumes it (started when the uploader saw its connection break) do not
// append at the same time; the file comes out whole.
func TestResumeOnePieceAtATime(t *testing.T) {
	s, err := filestore.Open(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("abcdefghij"), 20_000)
	sum := sha256.Sum256(content)
	ref := fieldsync.FileRef{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(content))}
	slow, feed := io.Pipe()
	first := make(chan error, 1)
	go func() {
		_, err := s.Resume("ann", ref, 0, slow)
		first <- err
	}()
	feed.Write(content[:50_000])
	// The uploader resumes from what it thinks arrived while the first
	// piece is still being received.
	second := make(chan error, 1)
	go func() {
		done, err := s.Resume("ann", ref, 50_000, bytes.NewReader(content[50_000:]))
		if err == nil && !done {
			err = errors.New("not stored")
		}
		second <- err
	}()
	time.Sleep(50 * time.Millisecond) // the second waits for the first
	feed.Write(content[50_000:80_000])
	feed.CloseWithError(errors.New("connection reset"))
	if err := <-first; err == nil {
		t.Fatal("the broken piece succeeded")
	}
	if err := <-second; err != nil {
		t.Fatalf("the resuming piece: %v", err)
	}
	if err := filestore.Verify(s.Path(ref.SHA256), ref); err != nil {
		t.Fatal(err)
	}
}

func TestGC(t *testing.T) {
	dir := t.TempDir()
	s, err := filestore.Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := s.Put(strings.NewReader("named by a row"), fieldsync.FileRef{})
	gone, _ := s.Put(strings.NewReader("named by no row"), fieldsync.FileRef{})
	young, _ := s.Put(strings.NewReader("just uploaded"), fieldsync.FileRef{})
	abandoned := fieldsync.FileRef{SHA256: strings.Repeat("2", 64), Size: 100}
	recent := fieldsync.FileRef{SHA256: strings.Repeat("3", 64), Size: 100}
	for _, r := range []fieldsync.FileRef{abandoned, recent} {
		if _, err := s.Resume("ann", r, 0, strings.NewReader("half")); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	for _, p := range []string{s.Path(kept.SHA256), s.Path(gone.SHA256)} {
		os.Chtimes(p, old, old)
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "tmp", "up-*"+abandoned.SHA256))
	if len(parts) != 1 {
		t.Fatalf("upload pieces: %v", parts)
	}
	os.Chtimes(parts[0], old, old)

	n, err := s.GC(map[string]bool{kept.SHA256: true}, time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("removed %d (%v), want the unnamed old file and the abandoned upload", n, err)
	}
	for ref, want := range map[fieldsync.FileRef]bool{kept: true, gone: false, young: true} {
		if _, err := os.Stat(s.Path(ref.SHA256)); (err == nil) != want {
			t.Errorf("file %s kept: %v, want %v", ref, err == nil, want)
		}
	}
	if s.Have("ann", abandoned) != 0 || s.Have("ann", recent) != 4 {
		t.Errorf("upload pieces after GC: abandoned %d, recent %d", s.Have("ann", abandoned), s.Have("ann", recent))
	}
}

// TestUploadedBy: a file counts as an uploader's only once it sent the
// whole content itself; a file stored from elsewhere must be sent again
// (and is kept once).
func TestUploadedBy(t *testing.T) {
	ctx := context.Background()
	s, err := filestore.Open(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("price sheet "), 100)
	ref, err := s.Put(bytes.NewReader(content), fieldsync.FileRef{})
	if err != nil {
		t.Fatal(err)
	}
	uploaded := func(key string, want bool) {
		t.Helper()
		if ok, err := s.UploadedBy(ctx, key, ref); err != nil || ok != want {
			t.Fatalf("UploadedBy(%s) = %v %v, want %v", key, ok, err, want)
		}
	}
	uploaded("ann", false)
	if have := s.Have("ann", ref); have != 0 {
		t.Fatalf("ann has %d bytes of a file she never sent", have)
	}
	if done, err := s.Resume("ann", ref, 0, bytes.NewReader(content)); err != nil || !done {
		t.Fatalf("ann's upload: %v %v", done, err)
	}
	uploaded("ann", true)
	uploaded("bob", false)
	uploaded("../ann", false)
	if have := s.Have("ann", ref); have != ref.Size {
		t.Fatalf("ann has %d bytes after her upload", have)
	}
	// Content that is not the file does not make it bob's.
	if _, err := s.Resume("bob", ref, 0, bytes.NewReader(bytes.Repeat([]byte("x"), int(ref.Size)))); !errors.Is(err, fieldsync.ErrInvalid) {
		t.Fatalf("bob's wrong content: %v", err)
	}
	uploaded("bob", false)
	// Once the file is gone (GC), nobody has uploaded it.
	if n, err := s.GC(map[string]bool{}, 0); err != nil || n == 0 {
		t.Fatalf("GC: %d %v", n, err)
	}
	uploaded("ann", false)
}
