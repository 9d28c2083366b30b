package durable

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// ErrLocked is TryLock's answer when another holder has the lock.
var ErrLocked = errors.New("locked by another process")

// TryLock takes an exclusive lock on the file at path (created if missing),
// or fails at once with ErrLocked. The kernel releases the lock when the
// holding process dies; release gives it up earlier.
func TryLock(path string) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// Lock waits until it holds the exclusive lock on the file at path, or ctx
// ends.
func Lock(ctx context.Context, path string) (release func(), err error) {
	for {
		release, err := TryLock(path)
		if !errors.Is(err, ErrLocked) {
			return release, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
