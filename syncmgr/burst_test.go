package syncmgr

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestBurstRelease: the memory of a burst of parked requests is given back
// once, after the burst is over; fewer parked requests than a burst give
// nothing back, and parking that goes on puts the release off.
func TestBurstRelease(t *testing.T) {
	var calls atomic.Int32
	b := &burstRelease{release: func() { calls.Add(1) }, threshold: 5, quiet: 300 * time.Millisecond}
	for range 4 {
		b.parkedOne()
	}
	time.Sleep(400 * time.Millisecond)
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d releases after fewer parked requests than a burst", n)
	}
	b.parkedOne() // the fifth: a burst
	for range 5 { // parking goes on: no release meanwhile
		time.Sleep(10 * time.Millisecond)
		b.parkedOne()
		if n := calls.Load(); n != 0 {
			t.Fatalf("released while requests were still being parked (%d)", n)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(400 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d releases after one burst, want 1", n)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.parked != 0 || b.timer != nil {
		t.Fatalf("after the release: %d counted, timer %v", b.parked, b.timer)
	}
}
