package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/client"
)

// TestProgressLine: big steps are drawn on one line, redrawn at most ten
// times a second, ended with a newline; small ones are not drawn.
func TestProgressLine(t *testing.T) {
	var out bytes.Buffer
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pl := newProgressLine(&out)
	pl.now = func() time.Time { return clock }
	tick := func(d time.Duration) { clock = clock.Add(d) }

	// An upload of one small file: not worth a line.
	pl.update(client.Progress{Step: "upload", TotalFiles: 1, TotalBytes: 900})
	pl.update(client.Progress{Step: "upload", Files: 1, TotalFiles: 1, Bytes: 900, TotalBytes: 900})
	// A download of ten files, 4 MB.
	const mb = 1 << 20
	pl.update(client.Progress{Step: "download", TotalFiles: 10, TotalBytes: 4 * mb})
	tick(10 * time.Millisecond)
	pl.update(client.Progress{Step: "download", Files: 1, TotalFiles: 10, Bytes: mb / 2, TotalBytes: 4 * mb}) // too soon: not drawn
	tick(time.Second)
	pl.update(client.Progress{Step: "download", Files: 5, TotalFiles: 10, Bytes: 2 * mb, TotalBytes: 4 * mb})
	tick(time.Second)
	pl.update(client.Progress{Step: "download", Files: 10, TotalFiles: 10, Bytes: 4 * mb, TotalBytes: 4 * mb})
	pl.update(client.Progress{Step: "apply", TotalFiles: 2})
	pl.end()

	got := out.String()
	if strings.Contains(got, "upload") {
		t.Errorf("a one-file upload was drawn: %q", got)
	}
	draws := strings.Split(got, "\r")[1:]
	want := []string{
		"download     0/10 files  0 B of 4.0 MB",
		"download     5/10 files  2.0 MB of 4.0 MB  2.0 MB/s",
		"download     10/10 files  4.0 MB of 4.0 MB  2.0 MB/s",
	}
	if len(draws) != len(want) {
		t.Fatalf("%d draws, want %d: %q", len(draws), len(want), got)
	}
	for i, w := range want {
		if strings.TrimRight(draws[i], " \n") != w {
			t.Errorf("draw %d: %q, want %q", i, draws[i], w)
		}
	}
	if !strings.HasSuffix(got, "\n") || strings.Count(got, "\n") != 1 {
		t.Errorf("the step's line is not ended once: %q", got)
	}
}

// TestWaiting: a long request's line shows what runs and for how long, and
// is cleared when it ends.
func TestWaiting(t *testing.T) {
	var out lockedBuffer
	stop := startWaiting(&out, "taking the Database Extract of ann-laptop", time.Millisecond)
	for deadline := time.Now().Add(10 * time.Second); strings.Count(out.String(), "ann-laptop") < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not redrawn: %q", out.String())
		}
	}
	stop()
	got := out.String()
	if !strings.HasPrefix(got, "\rtaking the Database Extract of ann-laptop… 0s") {
		t.Fatalf("first draw: %q", got)
	}
	last := got[strings.LastIndex(got[:len(got)-1], "\r"):]
	if strings.TrimSpace(last) != "" || !strings.HasSuffix(got, "\r") {
		t.Fatalf("the line is not cleared at the end: %q", got)
	}
	size := len(got)
	time.Sleep(10 * time.Millisecond)
	if out.String() != got || len(got) != size {
		t.Error("drawing went on after stop")
	}
}
