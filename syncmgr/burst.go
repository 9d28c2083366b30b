package syncmgr

import (
	"runtime/debug"
	"sync"
	"time"
)

// burstRelease gives the memory of a burst of parked news requests back to
// the system once the burst is over. Thousands of nodes that open their
// news requests within a second (a server restarted, a network back) each
// had a goroutine, its stack and net/http's buffers until its request was
// parked; the Go runtime keeps what they freed for reuse (a dead
// goroutine's stack, its pages) until a collection, which an idle server
// does not run for minutes. After BurstParked requests were parked, and
// once none came for BurstQuiet, one collection returns it (a full
// collection of a heap of a few tens of megabytes: milliseconds).
type burstRelease struct {
	mu     sync.Mutex
	parked int       // parked since the last release
	last   time.Time // when the latest was parked
	timer  *time.Timer
	// release is debug.FreeOSMemory; threshold and quiet are BurstParked
	// and BurstQuiet (a test sets its own).
	release   func()
	threshold int
	quiet     time.Duration
}

// BurstParked and BurstQuiet say when a burst of parked requests is over.
const (
	BurstParked = 1000
	BurstQuiet  = time.Second
)

// parkedOne counts a parked request, and arms the release once a burst's
// worth have been.
func (b *burstRelease) parkedOne() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.parked++
	b.last = time.Now()
	if b.threshold == 0 {
		b.threshold, b.quiet = BurstParked, BurstQuiet
	}
	if b.parked >= b.threshold && b.timer == nil {
		b.timer = time.AfterFunc(b.quiet, b.check)
	}
}

// check releases the burst's memory if it is over, or looks again later.
func (b *burstRelease) check() {
	b.mu.Lock()
	if quiet := time.Since(b.last); quiet < b.quiet {
		b.timer = time.AfterFunc(b.quiet-quiet, b.check)
		b.mu.Unlock()
		return
	}
	b.parked, b.timer = 0, nil
	release := b.release
	b.mu.Unlock()
	if release == nil {
		release = debug.FreeOSMemory
	}
	release()
}
