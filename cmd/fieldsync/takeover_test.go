package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/postgres"
	"github.com/fieldsync/fieldsync/schema"
)

// lockedBuffer is a bytes.Buffer safe to write from a process's pipe while
// the test reads it.
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

// TestProcessorTakeover runs two real Transaction Processor processes on
// one PostgreSQL database: one holds the lock, the other waits; the first is
// killed (SIGKILL) and the standby takes over, moving everything committed
// into txnproc files with no gap and no duplicate.
func TestProcessorTakeover(t *testing.T) {
	dsn := testutil.PostgresURL(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "fieldsync")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx := context.Background()
	st, err := postgres.Open(ctx, dsn, schema.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	write := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := st.Apply(ctx, "", fieldsync.Insert("account", map[string]any{"name": "a"})); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := func(name string) (*exec.Cmd, *lockedBuffer) {
		cmd := exec.Command(bin, "server", "--db", dsn, "--data", dir, "--only", "processor")
		var log lockedBuffer
		cmd.Stderr, cmd.Stdout = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd, &log
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// processed: the txnproc files hold the log up to want (the log keeps
	// its entries until a router routes them).
	processed := func(want int64) func() bool {
		return func() bool {
			names, _ := docking.In(dir).TxnprocFiles()
			if len(names) == 0 {
				return false
			}
			_, last, _ := docking.ParseTxnprocName(names[len(names)-1])
			return last == want
		}
	}
	active, activeLog := start("active")
	waitFor("the first processor to hold the lock", func() bool { return strings.Contains(activeLog.String(), "holding the Transaction Processor lock") })
	_, standbyLog := start("standby")
	waitFor("the standby to wait", func() bool {
		return strings.Contains(standbyLog.String(), "waiting for the Transaction Processor lock")
	})
	write(20)
	waitFor("the active processor to process", processed(20))
	if strings.Contains(standbyLog.String(), "holding the Transaction Processor lock") {
		t.Fatal("two processors hold the lock")
	}
	if err := active.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	active.Wait()
	write(15)
	waitFor("the standby to take over", func() bool { return strings.Contains(standbyLog.String(), "holding the Transaction Processor lock") })
	waitFor("the standby to process", processed(35))
	// Every committed transaction is in exactly one txnproc file, in order.
	var seqs []int64
	names, err := filepath.Glob(filepath.Join(docking.In(dir).Txnproc(), "*.dx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		_, txns, err := readDX(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range txns {
			seqs = append(seqs, tx.Seq)
		}
	}
	if len(seqs) != 35 {
		t.Fatalf("%d transactions in txnproc files, want 35", len(seqs))
	}
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("txnproc files hold %v: a gap or a duplicate", seqs)
		}
	}
}

func readDX(path string) (dx.Header, []fieldsync.Txn, error) { return dx.ReadFile(path, dx.Limits{}) }
