package hostiletest_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildServer builds the real fieldsync binary (go build, as an installer
// would) and returns its path.
func buildServer(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "fieldsync")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/fieldsync/fieldsync/cmd/fieldsync").CombinedOutput()
	if err != nil {
		tb.Fatalf("build the fieldsync binary: %v\n%s", err, out)
	}
	return bin
}

// serverProc is a `fieldsync server` process listening on a free loopback
// port, with a data folder of its own.
type serverProc struct {
	cmd   *exec.Cmd
	url   string // http://127.0.0.1:PORT
	token string // the administrator's token
	data  string // the data folder
	out   *lockedBuffer
	log   *lockedBuffer
	done  chan struct{}
	err   error // Wait's, once done is closed
}

// startServerProc starts `fieldsync server` with a new data folder on
// 127.0.0.1:0, on the database db ("" for SQLite in the data folder), with
// the given flags, and waits until it listens. It is killed when the test
// ends unless stopped before.
func startServerProc(tb testing.TB, bin, db string, flags ...string) *serverProc {
	tb.Helper()
	data := filepath.Join(tb.TempDir(), "data")
	args := append([]string{"server", "--data", data, "--listen", "127.0.0.1:0"}, flags...)
	if db != "" {
		args = append(args, "--db", db)
	}
	p := &serverProc{cmd: exec.Command(bin, args...), data: data, out: &lockedBuffer{}, log: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.log
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	listening := regexp.MustCompile(`listening on (http://\S+) \(data .*, admin token in (\S+)\)`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := listening.FindStringSubmatch(p.out.String()); m != nil {
			token, err := os.ReadFile(m[2])
			if err != nil {
				tb.Fatal(err)
			}
			p.url, p.token = m[1], strings.TrimSpace(string(token))
			return p
		}
		select {
		case <-p.done:
			tb.Fatalf("server exited (%v) before listening:\n%s%s", p.err, p.out.String(), p.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("server did not listen within 30 s:\n%s%s", p.out.String(), p.log.String())
		}
	}
}

// stop ends the process with SIGTERM and checks that it stopped cleanly
// (status 0, "fieldsync server stopped").
func (p *serverProc) stop(tb testing.TB) {
	tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		tb.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		tb.Fatalf("server still running 30 s after SIGTERM:\n%s", p.log.String())
	}
	if p.err != nil || !strings.Contains(p.out.String(), "fieldsync server stopped") {
		tb.Fatalf("server did not stop cleanly after SIGTERM (%v):\n%s%s", p.err, p.out.String(), p.log.String())
	}
}

// memory returns the process's peak resident memory (VmHWM) and its
// resident memory now (VmRSS), in bytes, from /proc/PID/status.
func (p *serverProc) memory(tb testing.TB) (peak, now int64) {
	tb.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		tb.Fatalf("read the server's memory: %v", err)
	}
	lines := bufio.NewScanner(bytes.NewReader(b))
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmHWM:":
			peak = kb << 10
		case "VmRSS:":
			now = kb << 10
		}
	}
	if peak == 0 || now == 0 {
		tb.Fatalf("no VmHWM or VmRSS in the server's /proc status:\n%s", b)
	}
	return peak, now
}

// openFiles is how many file descriptors the process holds.
func (p *serverProc) openFiles(tb testing.TB) int {
	tb.Helper()
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/fd")
	if err != nil {
		tb.Fatalf("list the server's file descriptors: %v", err)
	}
	return len(fds)
}

// lockedBuffer is a bytes.Buffer safe for the process's writes and the
// test's reads at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// mib is a byte count in MiB, for logs and benchmark lines.
func mib(n int64) float64 { return float64(n) / (1 << 20) }
