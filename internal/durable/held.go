package durable

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// TryLockHeld is TryLock that also says who holds the lock: on success it
// writes note (the holder's description, such as its pid) into the locked
// file; when another holder has the lock it returns ErrLocked and the note
// that holder wrote (empty if it has not written one yet).
func TryLockHeld(path string, note []byte) (release func(), holder []byte, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			held, _ := os.ReadFile(path)
			return nil, held, ErrLocked
		}
		return nil, nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt(note, 0)
	}
	if err != nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
		return nil, nil, fmt.Errorf("lock %s: write its holder: %w", path, err)
	}
	return func() {
		f.Truncate(0)
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil, nil
}
