package main

import (
	"errors"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds the real fieldsync binary for one test.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fieldsync")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// serverProc is a `fieldsync server` process the test started.
type serverProc struct {
	cmd      *exec.Cmd
	out, log *lockedBuffer
	done     chan struct{}
	err      error // Wait's, once done is closed
}

// startProc starts `fieldsync server ARGS` on 127.0.0.1 (--listen
// 127.0.0.1:0 unless args say otherwise), with --db db unless db is "". It
// is killed when the test ends.
func startProc(t *testing.T, bin, db string, args ...string) *serverProc {
	t.Helper()
	args = append([]string{"server"}, args...)
	if db != "" {
		args = append(args, "--db", db)
	}
	if !strings.Contains(strings.Join(args, " "), "--listen") {
		args = append(args, "--listen", "127.0.0.1:0")
	}
	p := &serverProc{cmd: exec.Command(bin, args...), out: &lockedBuffer{}, log: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

var listeningRE = regexp.MustCompile(`listening on http://(\S+) `)

// addr waits until the process says where it listens, and returns it.
func (p *serverProc) addr(t *testing.T) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if m := listeningRE.FindStringSubmatch(p.out.String()); m != nil {
			return m[1]
		}
		select {
		case <-p.done:
			t.Fatalf("server exited (%v) before listening:\n%s%s", p.err, p.out.String(), p.log.String())
		case <-deadline:
			t.Fatalf("server did not listen within 20 s:\n%s%s", p.out.String(), p.log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitLog waits until the process's log holds what.
func (p *serverProc) waitLog(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.log.String(), what) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q in:\n%s", what, p.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exitCode waits (20 s at most) for the process to exit and returns its
// status.
func (p *serverProc) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("server still running after 20 s:\n%s%s", p.out.String(), p.log.String())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

// running reports whether the process still runs.
func (p *serverProc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop ends the process with SIGTERM and checks that it stopped cleanly.
func (p *serverProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("server exited %d after SIGTERM:\n%s", code, p.log.String())
	}
}

// waitOut waits until the process's standard output holds what.
func (p *serverProc) waitOut(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.out.String(), what) {
		if !p.running() || time.Now().After(deadline) {
			t.Fatalf("no %q from the server (running %v):\n%s%s", what, p.running(), p.out.String(), p.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
