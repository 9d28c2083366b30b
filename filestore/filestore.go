// Package filestore is the server's store of attachment files: content
// addressed by SHA-256 (identical content is kept once), written crash-safe
// (temporary file, fsync, rename, fsync of the folder), with a size limit
// per file. Attachment rows carry a fieldsync.FileRef naming a file here.
package filestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/durable"
)

// DefaultMaxSize is the default size limit of one file (1 GiB).
const DefaultMaxSize = 1 << 30

// Store is a content-addressed file store in a folder.
type Store struct {
	dir     string
	maxSize int64
	partial PartialLimits
}

// Open returns the store in dir (created if needed); files larger than
// maxSize (0: DefaultMaxSize) are refused.
func Open(dir string, maxSize int64) (*Store, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("file store: %w", err)
	}
	return &Store{dir: dir, maxSize: maxSize, partial: PartialLimits{}.withDefaults()}, nil
}

// MaxSize is the size limit of one file.
func (s *Store) MaxSize() int64 { return s.maxSize }

// Path is where the file with this hash lives.
func (s *Store) Path(sha string) string { return filepath.Join(s.dir, sha[:2], sha) }

// Put stores what r holds and returns its reference. Content already in the
// store is not written twice. Nothing is kept if r fails, is larger than
// the limit, or (when want is not zero) does not match want.
func (s *Store) Put(r io.Reader, want fieldsync.FileRef) (fieldsync.FileRef, error) {
	tmp, err := durable.CreateTemp(filepath.Join(s.dir, "tmp"))
	if err != nil {
		return fieldsync.FileRef{}, fmt.Errorf("file store: %w", err)
	}
	defer tmp.Abort()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, s.maxSize+1))
	if err != nil {
		return fieldsync.FileRef{}, fmt.Errorf("file store: receive file: %w", err)
	}
	if n > s.maxSize {
		return fieldsync.FileRef{}, fieldsync.Errorf(fieldsync.ErrTooLarge, "file larger than the limit of %d bytes", s.maxSize)
	}
	ref := fieldsync.FileRef{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
	if want != (fieldsync.FileRef{}) && want != ref {
		return fieldsync.FileRef{}, fieldsync.Errorf(fieldsync.ErrInvalid, "file does not match its reference: got %s, want %s", ref, want)
	}
	path := s.Path(ref.SHA256)
	if _, err := os.Stat(path); err == nil {
		return ref, nil // identical content is stored once
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fieldsync.FileRef{}, fmt.Errorf("file store: %w", err)
	}
	if err := tmp.CommitAs(path); err != nil {
		return fieldsync.FileRef{}, fmt.Errorf("file store: %w", err)
	}
	return ref, nil
}

// Open opens the stored file of a reference.
func (s *Store) Open(ref fieldsync.FileRef) (*os.File, error) {
	f, err := os.Open(s.Path(ref.SHA256))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fieldsync.Errorf(fieldsync.ErrNotFound, "file %s is not in the file store", ref)
	}
	return f, err
}

// Verify checks a file on disk against a reference (size and SHA-256).
func Verify(path string, ref fieldsync.FileRef) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	return check(h, n, ref)
}

func check(h hash.Hash, n int64, ref fieldsync.FileRef) error {
	got := fieldsync.FileRef{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
	if got != ref {
		return fieldsync.Errorf(fieldsync.ErrDamagedFile, "file content %s does not match its reference %s", got, ref)
	}
	return nil
}

// GC removes the files no row refers to any more (referenced says which
// hashes rows name) once they are older than grace, so a file uploaded just
// before the row that names it commits is never lost; and the pieces of
// uploads abandoned for longer than grace. It returns how many files it
// removed.
func (s *Store) GC(referenced map[string]bool, grace time.Duration) (int, error) {
	removed := 0
	now := time.Now()
	tmp := filepath.Join(s.dir, "tmp")
	err := filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		name := d.Name()
		partial := filepath.Dir(path) == tmp
		if !partial && (len(name) != 64 || referenced[name]) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if now.Sub(info.ModTime()) < grace {
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		removed++
		return nil
	})
	return removed, err
}

// Referenced collects the hashes of the files the rows of every table
// carrying files name, from a snapshot of the server database.
func Referenced(ctx context.Context, snap fieldsync.Snapshot, s *fieldsync.Schema) (map[string]bool, error) {
	out := map[string]bool{}
	for _, t := range s.Tables {
		if !t.HasFile() {
			continue
		}
		err := snap.Scan(ctx, t.Name, func(r fieldsync.Row) error {
			for _, ref := range t.FileRefs(r) {
				out[ref.SHA256] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// markUploaded records that key uploaded the whole file.
func (s *Store) markUploaded(key string, ref fieldsync.FileRef) error {
	dir := filepath.Dir(s.uploadedPath(key, ref))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("file store: %w", err)
	}
	if err := durable.WriteFile(dir, ref.SHA256, []byte(ref.String()), 0o644); err != nil {
		return fmt.Errorf("file store: record upload of %s: %w", ref, err)
	}
	return nil
}

// partialPath is where an upload of a file in pieces waits until complete.
func (s *Store) partialPath(key string, ref fieldsync.FileRef) string {
	return filepath.Join(s.dir, "tmp", "up-"+key+"-"+ref.SHA256)
}

// uploadedPath marks that the uploader key sent the whole content of a
// file. It is named by the file's hash, so GC removes it with the file.
func (s *Store) uploadedPath(key string, ref fieldsync.FileRef) string {
	return filepath.Join(s.dir, "nodes", key, ref.SHA256)
}

// UploadedBy reports whether the uploader key (a node, as the
// Synchronization Manager names it) sent the whole content of the file
// itself, and the store still has it. A node may name in its rows only the
// files it uploaded, or those of rows it sees: holding a file's hash is
// not holding the file.
func (s *Store) UploadedBy(_ context.Context, key string, ref fieldsync.FileRef) (bool, error) {
	if !fieldsync.ValidNodeName(key) {
		return false, nil
	}
	info, err := os.Stat(s.uploadedPath(key, ref))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("file store: %w", err)
	}
	if stored, err := os.Stat(s.Path(ref.SHA256)); err != nil || stored.Size() != ref.Size || info.Size() == 0 {
		return false, nil
	}
	return true, nil
}

// UploadedSince returns the bytes of the whole files the uploader key
// sent since the given time (the per-node daily limit counts them).
func (s *Store) UploadedSince(key string, since time.Time) (int64, error) {
	if !fieldsync.ValidNodeName(key) {
		return 0, nil
	}
	entries, err := os.ReadDir(filepath.Join(s.dir, "nodes", key))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("file store: %w", err)
	}
	var n int64
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || info.ModTime().Before(since) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, "nodes", key, e.Name()))
		if err != nil {
			continue
		}
		if ref, err := fieldsync.ParseFileRef(string(b)); err == nil {
			n += ref.Size
		}
	}
	return n, nil
}

// Have returns how many bytes of a file the store holds for an upload in
// pieces under key: the whole size once key uploaded all of it. A file
// stored from elsewhere counts only when key sends its content too (it is
// checked against the reference and kept once), so an uploader cannot
// claim a file by its hash alone.
func (s *Store) Have(key string, ref fieldsync.FileRef) int64 {
	if ok, _ := s.UploadedBy(context.Background(), key, ref); ok {
		return ref.Size
	}
	if info, err := os.Stat(s.partialPath(key, ref)); err == nil {
		return info.Size()
	}
	return 0
}

// Resume adds the bytes of r at offset to an upload in pieces (key names
// the uploader), and once the file is whole checks it against ref and
// stores it. A broken upload goes on from Have's offset. It reports whether
// the file is now stored. The uploader's unfinished uploads are bounded
// (PartialLimits): past them a piece is refused.
func (s *Store) Resume(key string, ref fieldsync.FileRef, offset int64, r io.Reader) (bool, error) {
	if ref.Size > s.maxSize {
		return false, fieldsync.Errorf(fieldsync.ErrTooLarge, "file larger than the limit of %d bytes", s.maxSize)
	}
	// One piece at a time: a piece still arriving from a broken connection
	// and the piece that resumes it must not both append.
	path := s.partialPath(key, ref)
	release, err := durable.Lock(context.Background(), path+".lock")
	if err != nil {
		return false, fmt.Errorf("file store: receive %s: %w", ref, err)
	}
	defer release()
	have := s.Have(key, ref)
	if have < ref.Size {
		if err := s.checkPartials(key, ref, have); err != nil {
			return false, err
		}
	}
	switch {
	case have == ref.Size:
		return true, nil
	case offset > have:
		return false, fieldsync.Errorf(fieldsync.ErrInvalid, "upload of %s resumes at byte %d, not %d", ref, have, offset)
	case offset < have:
		// The store got more of the file than the uploader knew (the broken
		// piece went on arriving): the same bytes again are skipped.
		if _, err := io.CopyN(io.Discard, r, have-offset); err != nil {
			return false, fmt.Errorf("file store: receive %s: %w", ref, err)
		}
	}
	if _, err := durable.Append(path, io.LimitReader(r, ref.Size-have), nil); err != nil {
		return false, fmt.Errorf("file store: receive %s: %w", ref, err)
	}
	if info, err := os.Stat(path); err != nil || info.Size() < ref.Size {
		return false, err // more to come
	}
	in, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer in.Close()
	defer os.Remove(path)
	if _, err := s.Put(in, ref); err != nil {
		return false, err // a mismatch: the pieces are dropped, the upload starts over
	}
	if err := s.markUploaded(key, ref); err != nil {
		return false, err
	}
	return true, nil
}
