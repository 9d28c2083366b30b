package extract_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/extract"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
)

func withNode(t *testing.T, b testutil.Backend) *sqlstore.Store {
	t.Helper()
	st, _ := b.Open(t, schema.Default())
	ctx := context.Background()
	if _, err := st.Apply(ctx, "", fieldsync.Insert("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddNode(ctx, fieldsync.Node{Name: "ann-laptop", EmployeeID: "ann"}, fieldsync.HashSecret("s")); err != nil {
		t.Fatal(err)
	}
	return st
}

func wanted(t *testing.T, st *sqlstore.Store, want ...string) {
	t.Helper()
	got, err := st.WantedExtracts(context.Background())
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("wanted extracts %v (%v), want %v", got, err, want)
	}
}

// TestOneProcessTakesAnExtract: while one process takes a node's extract,
// another is told so instead of taking it too.
func TestOneProcessTakesAnExtract(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		st := withNode(t, b)
		ctx := context.Background()
		dock := docking.Folder(t.TempDir())
		if err := st.RequestExtract(ctx, "ann-laptop"); err != nil {
			t.Fatal(err)
		}
		wanted(t, st, "ann-laptop")
		if ok, err := st.ClaimExtract(ctx, "ann-laptop"); err != nil || !ok {
			t.Fatalf("first claim: %v %v", ok, err)
		}
		wanted(t, st) // taken: no other process lists it
		if ok, err := st.ClaimExtract(ctx, "ann-laptop"); err != nil || ok {
			t.Fatalf("second claim: %v %v", ok, err)
		}
		if _, err := extract.Extract(ctx, st, dock, "ann-laptop", nil); !errors.Is(err, fieldsync.ErrInUse) {
			t.Fatalf("extract while another process takes it: %v", err)
		}
		// The claim of a process that died runs out.
		st.SetClock(func() time.Time { return time.Now().Add(sqlstore.ExtractClaimTimeout + time.Minute) })
		wanted(t, st, "ann-laptop")
		res, err := extract.Extract(ctx, st, dock, "ann-laptop", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(res.Path); err != nil {
			t.Fatal(err)
		}
		wanted(t, st)
	})
}

// TestFailedExtractTriedAgain: an extract that fails stays wanted, and the
// Database Extract takes it once it can.
func TestFailedExtractTriedAgain(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		st := withNode(t, b)
		ctx := context.Background()
		dock := docking.Folder(t.TempDir())
		// The node's folder cannot be made: a file is in the way.
		blocker := dock.Node("ann-laptop")
		if err := os.WriteFile(blocker, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := extract.Extract(ctx, st, dock, "ann-laptop", nil); err == nil {
			t.Fatal("extract into a blocked folder succeeded")
		}
		wanted(t, st, "ann-laptop") // given back for a later try
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- extract.Run(rctx, st, dock, nil, nil) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}()
		time.Sleep(200 * time.Millisecond) // Run fails once more, and waits
		if err := os.Remove(blocker); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			if _, err := os.Stat(dock.Extract("ann-laptop")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the failed extract was not tried again")
			}
			time.Sleep(20 * time.Millisecond)
		}
		deadline = time.Now().Add(10 * time.Second)
		for {
			got, err := st.WantedExtracts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still wanted after it was taken: %v", got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
