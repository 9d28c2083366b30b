package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/client"
)

// progressLine draws a client's progress on one terminal line, redrawn at
// most ten times a second, for steps big enough to be worth watching.
type progressLine struct {
	w      io.Writer
	now    func() time.Time
	step   string    // the step on the line
	start  time.Time // when the step began
	drawn  time.Time // when the line was last drawn
	shown  bool      // the line holds something
	wide   int       // the longest line drawn, to blank leftovers
	finish bool      // the step's last state is drawn
}

func newProgressLine(w io.Writer) *progressLine { return &progressLine{w: w, now: time.Now} }

// worth: a step shows when it moves more than a few files or a megabyte.
func worth(p client.Progress) bool {
	return p.TotalFiles > 3 || p.TotalBytes > 1<<20 || p.Step == "extract"
}

// update takes a progress report.
func (pl *progressLine) update(p client.Progress) {
	now := pl.now()
	if p.Step != pl.step {
		pl.end()
		pl.step, pl.start, pl.finish = p.Step, now, false
	}
	if !worth(p) || pl.finish {
		return
	}
	last := p.TotalFiles > 0 && p.Files >= p.TotalFiles
	if !last && pl.shown && now.Sub(pl.drawn) < 100*time.Millisecond {
		return
	}
	line := describe(p, now.Sub(pl.start))
	pad := ""
	if n := pl.wide - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprintf(pl.w, "\r%s%s", line, pad)
	pl.wide = max(pl.wide, len(line))
	pl.drawn, pl.shown = now, true
	if last {
		pl.end()
		pl.finish = true
	}
}

// end closes the line, if something is on it.
func (pl *progressLine) end() {
	if pl.shown {
		fmt.Fprintln(pl.w)
		pl.shown, pl.wide = false, 0
	}
}

// describe is one line: "download  12/40 files  3.2 MB of 10.1 MB  1.4 MB/s".
func describe(p client.Progress, took time.Duration) string {
	parts := []string{fmt.Sprintf("%-11s", p.Step)}
	if p.TotalFiles > 1 || p.Step == "apply" {
		parts = append(parts, fmt.Sprintf("%d/%d files", p.Files, p.TotalFiles))
	}
	if p.Bytes > 0 || p.TotalBytes > 0 {
		b := size(p.Bytes)
		if p.TotalBytes > 0 {
			b += " of " + size(p.TotalBytes)
		}
		parts = append(parts, b)
		if s := took.Seconds(); s >= 0.5 {
			parts = append(parts, size(int64(float64(p.Bytes)/s))+"/s")
		}
	}
	return strings.Join(parts, "  ")
}

// startWaiting shows, on a terminal line, that a long request is under way
// and for how long, redrawn every tick; stop clears the line.
func startWaiting(w io.Writer, what string, tick time.Duration) (stop func()) {
	start := time.Now()
	draw := func() string {
		line := fmt.Sprintf("%s… %ds", what, int(time.Since(start).Seconds()))
		fmt.Fprintf(w, "\r%s", line)
		return line
	}
	wide := len(draw())
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				wide = max(wide, len(draw()))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		fmt.Fprintf(w, "\r%s\r", strings.Repeat(" ", wide))
	}
}
