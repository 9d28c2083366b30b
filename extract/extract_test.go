package extract_test

import (
	"context"
	"database/sql"
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
		claim, ok, err := st.ClaimExtract(ctx, "ann-laptop")
		if err != nil || !ok {
			t.Fatalf("first claim: %v %v", ok, err)
		}
		wanted(t, st) // taken: no other process lists it
		if _, ok, err := st.ClaimExtract(ctx, "ann-laptop"); err != nil || ok {
			t.Fatalf("second claim: %v %v", ok, err)
		}
		// The holder renews its claim; only its own claim renews.
		renewed, ok, err := st.RenewExtract(ctx, "ann-laptop", claim)
		if err != nil || !ok || renewed <= claim {
			t.Fatalf("renew: %d %v %v", renewed, ok, err)
		}
		if _, ok, err := st.RenewExtract(ctx, "ann-laptop", claim); err != nil || ok {
			t.Fatalf("renewing a claim renewed since: %v %v", ok, err)
		}
		if _, err := extract.Extract(ctx, st, dock, "ann-laptop", nil); !errors.Is(err, fieldsync.ErrInUse) {
			t.Fatalf("extract while another process takes it: %v", err)
		}
		// The claim of a process that died runs out within seconds.
		st.SetClock(func() time.Time { return time.Now().Add(fieldsync.ExtractLease + time.Second) })
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

// dyingStore is a server database whose extracts die after the snapshot is
// read, as a process killed while it builds the file would.
type dyingStore struct{ *sqlstore.Store }

var errDied = errors.New("the process died")

func (d dyingStore) StartExtract(ctx context.Context, node string, fn func(fieldsync.Snapshot) error) (int64, error) {
	return d.Store.StartExtract(ctx, node, func(s fieldsync.Snapshot) error {
		if err := fn(s); err != nil {
			return err
		}
		return errDied
	})
}

// TestDiedReextractKeepsTheNodesExtract: a re-extract that dies before its
// file is durable leaves the node on its old extract, routed from it (so
// it misses nothing), and the extract is asked for again; administrators
// see the old extract's time.
func TestDiedReextractKeepsTheNodesExtract(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		st := withNode(t, b)
		ctx := context.Background()
		dock := docking.Folder(t.TempDir())
		first, err := extract.Extract(ctx, st, dock, "ann-laptop", nil)
		if err != nil {
			t.Fatal(err)
		}
		before, err := st.NodeRouting(ctx, "ann-laptop")
		if err != nil || before.ExtractSeq != first.Seq || before.Extracted.IsZero() {
			t.Fatalf("after the first extract: %+v %v", before, err)
		}
		if _, err := st.Apply(ctx, "", fieldsync.Insert("account", map[string]any{"id": "acme", "name": "Acme"})); err != nil {
			t.Fatal(err)
		}
		if _, err := extract.Extract(ctx, dyingStore{st}, dock, "ann-laptop", nil); !errors.Is(err, errDied) {
			t.Fatalf("dying re-extract: %v", err)
		}
		after, err := st.NodeRouting(ctx, "ann-laptop")
		if err != nil || after.ExtractSeq != first.Seq || !after.Extracted.Equal(before.Extracted) {
			t.Fatalf("after a re-extract died: extract %d at %v, want %d at %v (%v)", after.ExtractSeq, after.Extracted, first.Seq, before.Extracted, err)
		}
		wanted(t, st, "ann-laptop")
		second, err := extract.Extract(ctx, st, dock, "ann-laptop", nil)
		if err != nil {
			t.Fatal(err)
		}
		if now, _ := st.NodeRouting(ctx, "ann-laptop"); second.Seq <= first.Seq || now.ExtractSeq != second.Seq {
			t.Fatalf("the retaken extract: %d, node at %d", second.Seq, now.ExtractSeq)
		}
	})
}

// TestNewNodeRoutedFromItsExtractAtOnce: a new node's outbox continues the
// extract being taken, so the router sends it what follows the snapshot
// while the file is built.
func TestNewNodeRoutedFromItsExtractAtOnce(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		st := withNode(t, b)
		ctx := context.Background()
		dock := docking.Folder(t.TempDir())
		if _, err := extract.Extract(ctx, dyingStore{st}, dock, "ann-laptop", nil); !errors.Is(err, errDied) {
			t.Fatalf("dying extract: %v", err)
		}
		nr, err := st.NodeRouting(ctx, "ann-laptop")
		if err != nil || nr.ExtractSeq == fieldsync.NoExtract || !nr.Extracted.IsZero() {
			t.Fatalf("a new node whose extract is being taken: %+v %v", nr, err)
		}
	})
}

// TestSharedRowsPerStore: two server databases at the same sequence number
// with different rows every node sees: each extract holds its own
// database's, though the rows every node sees are kept between extracts
// of one state.
func TestSharedRowsPerStore(t *testing.T) {
	ctx := context.Background()
	s := schema.Default()
	for _, campaign := range []string{"spring", "autumn", "winter"} {
		st, _ := testutil.Backends[0].Open(t, s)
		if _, err := st.Apply(ctx, "", fieldsync.Insert("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}),
			fieldsync.Insert("campaign", map[string]any{"id": campaign, "name": campaign})); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddNode(ctx, fieldsync.Node{Name: "ann-laptop", EmployeeID: "ann"}, fieldsync.HashSecret("s")); err != nil {
			t.Fatal(err)
		}
		dock := docking.Folder(t.TempDir())
		for i := 0; i < 2; i++ { // the second from the rows kept
			res, err := extract.Extract(ctx, st, dock, "ann-laptop", nil)
			if err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open("sqlite", "file:"+res.Path+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			ids, err := sqlstore.QueryStrings(ctx, db, "SELECT id FROM campaign")
			db.Close()
			if err != nil || !slices.Equal(ids, []string{campaign}) || res.Seq != 2 || res.Rows["employee"] != 1 {
				t.Fatalf("extract %d of the database with campaign %s: campaigns %v (%v), at %d, rows %v", i, campaign, ids, err, res.Seq, res.Rows)
			}
		}
	}
}
