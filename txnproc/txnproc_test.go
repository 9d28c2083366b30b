package txnproc_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/txnproc"
)

func open(t *testing.T, b testutil.Backend) (*sqlstore.Store, docking.Folder) {
	t.Helper()
	st, _ := b.Open(t, schema.Default())
	return st, docking.In(t.TempDir())
}

func write(t *testing.T, st *sqlstore.Store, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := st.Apply(context.Background(), "", fieldsync.Change{Op: fieldsync.OpInsert, Table: "account",
			Values: map[string]any{"name": fmt.Sprintf("account %d %s", i, strings.Repeat("x", 100))}}); err != nil {
			t.Fatal(err)
		}
	}
}

func drain(t *testing.T, p *txnproc.Processor) {
	t.Helper()
	for {
		n, err := p.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// readAll returns every sequence number in the txnproc files, in file order.
func readAll(t *testing.T, dock docking.Folder) []int64 {
	t.Helper()
	names, err := dock.TxnprocFiles()
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, name := range names {
		first, last, _ := docking.ParseTxnprocName(name)
		hdr, txns, err := dx.ReadFile(filepath.Join(dock.Txnproc(), name), dx.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Kind != dx.KindTxnproc || txns[0].Seq != first || txns[len(txns)-1].Seq != last {
			t.Fatalf("%s holds %d..%d (%v)", name, txns[0].Seq, txns[len(txns)-1].Seq, hdr.Kind)
		}
		for _, tx := range txns {
			seqs = append(seqs, tx.Seq)
		}
	}
	return seqs
}

func checkSeqs(t *testing.T, seqs []int64, n int) {
	t.Helper()
	if len(seqs) != n {
		t.Fatalf("%d transactions in files, want %d", len(seqs), n)
	}
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("file entry %d has seq %d: a gap or a duplicate", i, s)
		}
	}
}

func TestBatchesByCountAndSize(t *testing.T) { testutil.ForBackends(t, testBatchesByCountAndSize) }

func testBatchesByCountAndSize(t *testing.T, b testutil.Backend) {
	st, dir := open(t, b)
	write(t, st, 25)
	p := txnproc.New(st, txnproc.Config{Docking: dir, MaxTxns: 10})
	if err := p.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	drain(t, p)
	names, _ := dir.TxnprocFiles()
	if strings.Join(names, " ") != docking.TxnprocName(1, 10)+" "+docking.TxnprocName(11, 20)+" "+docking.TxnprocName(21, 25) {
		t.Fatalf("files %v", names)
	}
	checkSeqs(t, readAll(t, dir), 25)
	// The log keeps the entries until the routers routed them.
	if s, _ := st.LogState(context.Background()); s.Pending != 25 || s.Trimmed != 0 {
		t.Fatalf("log after processing: %+v", s)
	}

	st2, dir2 := open(t, b)
	write(t, st2, 12)
	p2 := txnproc.New(st2, txnproc.Config{Docking: dir2, MaxBytes: 600})
	if err := p2.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	drain(t, p2)
	if names, _ := dir2.TxnprocFiles(); len(names) < 3 {
		t.Fatalf("a 600-byte limit cut only %d files", len(names))
	}
	checkSeqs(t, readAll(t, dir2), 12)
}

// TestResumesAfterCrash stops the processor at each step of writing a file
// and checks that a new one goes on with no gap and no duplicate.
func TestResumesAfterCrash(t *testing.T) { testutil.ForBackends(t, testResumesAfterCrash) }

func testResumesAfterCrash(t *testing.T, b testutil.Backend) {
	for _, step := range []string{"written", "renamed"} {
		t.Run(step, func(t *testing.T) {
			st, dir := open(t, b)
			write(t, st, 7)
			crash := errors.New("crash")
			p := txnproc.New(st, txnproc.Config{Docking: dir, MaxTxns: 3, Fault: func(s string) error {
				if s == step {
					return crash
				}
				return nil
			}})
			if err := p.Recover(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Step(context.Background()); !errors.Is(err, crash) {
				t.Fatalf("step: %v", err)
			}
			write(t, st, 4)
			p = txnproc.New(st, txnproc.Config{Docking: dir, MaxTxns: 3})
			if err := p.Recover(context.Background()); err != nil {
				t.Fatal(err)
			}
			drain(t, p)
			checkSeqs(t, readAll(t, dir), 11)
			ents, _ := os.ReadDir(dir.Txnproc())
			for _, e := range ents {
				if !strings.HasSuffix(e.Name(), ".dx") {
					t.Errorf("left behind: %s", e.Name())
				}
			}
		})
	}
}

// TestRecentHoldsWhatFilesHold checks that Recent gives, under a file's
// name, the transactions the file holds, and keeps only the last files
// within its size.
func TestRecentHoldsWhatFilesHold(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		st, dir := open(t, b)
		write(t, st, 25)
		recent := txnproc.NewRecent(1 << 20)
		p := txnproc.New(st, txnproc.Config{Docking: dir, MaxTxns: 10, Recent: recent})
		if err := p.Recover(context.Background()); err != nil {
			t.Fatal(err)
		}
		drain(t, p)
		names, _ := dir.TxnprocFiles()
		if len(names) != 3 {
			t.Fatalf("files %v", names)
		}
		for _, name := range names {
			_, want, err := dx.ReadFile(filepath.Join(dir.Txnproc(), name), dx.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got, ok := recent.Txns(name)
			if !ok {
				t.Fatalf("%s is not kept", name)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s kept:\n%v\nthe file holds:\n%v", name, got, want)
			}
		}
		if _, ok := recent.Txns(docking.TxnprocName(26, 30)); ok {
			t.Fatal("a file never written is kept")
		}

		// A Recent smaller than one file keeps only the last one.
		st2, dir2 := open(t, b)
		write(t, st2, 25)
		small := txnproc.NewRecent(1)
		p2 := txnproc.New(st2, txnproc.Config{Docking: dir2, MaxTxns: 10, Recent: small})
		if err := p2.Recover(context.Background()); err != nil {
			t.Fatal(err)
		}
		drain(t, p2)
		for _, c := range []struct {
			name string
			kept bool
		}{{docking.TxnprocName(1, 10), false}, {docking.TxnprocName(11, 20), false}, {docking.TxnprocName(21, 25), true}} {
			if _, ok := small.Txns(c.name); ok != c.kept {
				t.Errorf("%s kept: %v, want %v", c.name, ok, c.kept)
			}
		}
	})
}
