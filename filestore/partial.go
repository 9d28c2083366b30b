package filestore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync"
)

// Defaults of PartialLimits.
const (
	DefaultPartialCount  = 8
	DefaultPartialBytes  = 2 << 30
	DefaultPartialExpire = time.Hour
)

// PartialLimits bound the uploads in pieces one uploader (a node) keeps
// unfinished, so that no node fills the server's disk with them.
type PartialLimits struct {
	// Count is how many files it may have unfinished at once (default 8).
	Count int
	// Bytes is how much they may hold together, counting each file being
	// sent at its whole size (default 2 GiB).
	Bytes int64
	// Expire drops an unfinished upload this long after its last piece
	// (default 1 h).
	Expire time.Duration
}

func (l PartialLimits) withDefaults() PartialLimits {
	if l.Count <= 0 {
		l.Count = DefaultPartialCount
	}
	if l.Bytes <= 0 {
		l.Bytes = DefaultPartialBytes
	}
	if l.Expire <= 0 {
		l.Expire = DefaultPartialExpire
	}
	return l
}

// LimitPartials sets the limits of unfinished uploads (zero fields: the
// defaults). Call it before the store is used.
func (s *Store) LimitPartials(l PartialLimits) { s.partial = l.withDefaults() }

// partialPrefix starts the names of an uploader's unfinished uploads; a
// 64-digit hash follows.
func partialPrefix(key string) string { return "up-" + key + "-" }

// checkPartials makes room for a piece of ref from key, which holds have
// bytes of it: the uploader's expired unfinished uploads are dropped, and
// the piece is refused when the uploader's other unfinished uploads are
// at the limit of count, or with this file whole would pass the limit of
// bytes.
func (s *Store) checkPartials(key string, ref fieldsync.FileRef, have int64) error {
	entries, err := os.ReadDir(filepath.Join(s.dir, "tmp"))
	if err != nil {
		return fmt.Errorf("file store: %w", err)
	}
	prefix := partialPrefix(key)
	count, held := 0, int64(0)
	for _, e := range entries {
		sha, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || len(sha) != 64 || sha == ref.SHA256 {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone meanwhile
		}
		if time.Since(info.ModTime()) > s.partial.Expire {
			os.Remove(filepath.Join(s.dir, "tmp", e.Name())) // gone already is as good
			continue
		}
		count++
		held += info.Size()
	}
	if have == 0 && count >= s.partial.Count {
		return fieldsync.Errorf(fieldsync.ErrNodeLimit,
			"node %s has %d unfinished file uploads, its limit: finish them first (each is dropped %s after its last piece)",
			key, count, s.partial.Expire)
	}
	if held+ref.Size > s.partial.Bytes {
		return fieldsync.Errorf(fieldsync.ErrNodeLimit,
			"node %s holds %d bytes of unfinished file uploads: with file %s that would pass its limit of %d bytes; finish the others first",
			key, held, ref, s.partial.Bytes)
	}
	return nil
}

// ExpirePartials drops every uploader's unfinished uploads whose last
// piece came longer ago than PartialLimits.Expire, and returns how many.
func (s *Store) ExpirePartials() (int, error) {
	tmp := filepath.Join(s.dir, "tmp")
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return 0, fmt.Errorf("file store: %w", err)
	}
	removed := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "up-") || strings.HasSuffix(e.Name(), ".lock") {
			continue // a lock may be held: GC removes old ones
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) <= s.partial.Expire {
			continue
		}
		if err := os.Remove(filepath.Join(tmp, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, fmt.Errorf("file store: %w", err)
		}
		removed++
	}
	return removed, nil
}
