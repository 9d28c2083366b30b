package durable

import (
	"hash"
	"io"
	"os"
	"sync"
)

// AppendFile is a file opened for appending whose Close first syncs what was
// written to disk: bytes count as received only once Close succeeded.
type AppendFile struct {
	f    *os.File
	size int64
}

// OpenAppend opens (or creates, mode 0600) path for appending.
func OpenAppend(path string) (*AppendFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &AppendFile{f: f, size: info.Size()}, nil
}

// Size is how many bytes the file held when it was opened.
func (a *AppendFile) Size() int64 { return a.size }

// Write appends to the file.
func (a *AppendFile) Write(p []byte) (int, error) { return a.f.Write(p) }

// Close syncs the file to disk and closes it.
func (a *AppendFile) Close() error {
	err := a.f.Sync()
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Abort closes the file without syncing it (what was written may be lost).
func (a *AppendFile) Abort() { a.f.Close() }

// Append appends r to the file at path and syncs it, and returns how many
// bytes it appended. Every byte also goes to h when h is not nil, hashed on
// the other core while the next part is read, so a big download is verified
// as fast as it arrives. r's error (other than io.EOF) is returned after
// what arrived before it is synced: a broken transfer resumes from there.
func Append(path string, r io.Reader, h hash.Hash) (int64, error) {
	a, err := OpenAppend(path)
	if err != nil {
		return 0, err
	}
	var bufs [2][]byte
	bufs[0], bufs[1] = make([]byte, 1<<20), make([]byte, 1<<20)
	var hashing sync.WaitGroup
	var total int64
	for cur := 0; ; cur ^= 1 {
		n, rerr := fill(r, bufs[cur])
		if n > 0 {
			chunk := bufs[cur][:n]
			hashing.Wait() // the other buffer's hash is done; it may be read into next
			if h != nil {
				hashing.Add(1)
				go func() { h.Write(chunk); hashing.Done() }()
			}
			if _, err = a.Write(chunk); err != nil {
				break
			}
			total += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	hashing.Wait()
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	return total, err
}

// fill reads into b until it is full or r fails; r's own error (io.EOF at
// the end, anything else on a broken transfer) is kept as it is.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// SyncFile flushes a file that another writer (a database engine with its
// journal off) wrote to disk.
func SyncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
