package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/schema"
)

// testConcurrentRefusals: writers at the same time, some of whose writes
// are refused (a dangling reference, an id taken, a clash of two writers
// inserting the same id), share commits (group commit): each write gets
// its own answer, a refused one leaves no row and no log entry, every
// accepted one is there whole, and the log stays gap-free with one entry
// per accepted change.
func testConcurrentRefusals(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	ctx := context.Background()
	apply(t, st, ins("account", map[string]any{"id": "acme", "name": "Acme"}))
	const writers, each = 16, 30
	type result struct {
		id   string
		kind string // "ok", "dangling", "taken"
		err  error
		txns int
	}
	results := make(chan result, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("o-%d-%d", w, i)
				r := result{id: id, kind: "ok"}
				vals := map[string]any{"id": id, "name": "deal", "account_id": "acme"}
				switch i % 5 {
				case 1:
					r.kind, vals["account_id"] = "dangling", "nobody"
				case 3:
					r.kind, vals["id"], r.id = "taken", "acme-deal", "acme-deal" // every writer tries it
				}
				txns, err := st.Apply(ctx, "", ins("opportunity", vals), upd("account", "acme", map[string]any{"industry": id}))
				r.err, r.txns = err, len(txns)
				results <- r
			}
		}()
	}
	wg.Wait()
	close(results)
	accepted, takenWon := 0, 0
	for r := range results {
		switch {
		case r.kind == "dangling":
			if !errors.Is(r.err, fieldsync.ErrInvalid) {
				t.Fatalf("%s with a dangling reference: %v", r.id, r.err)
			}
			if _, err := st.Get(ctx, "opportunity", r.id); !errors.Is(err, fieldsync.ErrNotFound) {
				t.Fatalf("refused %s is there: %v", r.id, err)
			}
			continue
		case r.kind == "taken" && r.err != nil:
			if !errors.Is(r.err, fieldsync.ErrExists) {
				t.Fatalf("a second insert of %s: %v", r.id, r.err)
			}
			continue
		case r.kind == "taken":
			takenWon++
		case r.err != nil:
			t.Fatalf("write %s refused: %v", r.id, r.err)
		}
		if r.txns != 2 {
			t.Fatalf("write %s logged %d transactions, want 2", r.id, r.txns)
		}
		if _, err := st.Get(ctx, "opportunity", r.id); err != nil {
			t.Fatalf("accepted %s is not there: %v", r.id, err)
		}
		accepted++
	}
	if takenWon != 1 {
		t.Fatalf("%d writers inserted acme-deal, want exactly 1", takenWon)
	}
	log := wholeLog(t, st)
	if len(log) != 1+2*accepted {
		t.Fatalf("log has %d entries, want %d", len(log), 1+2*accepted)
	}
	for i, tx := range log {
		if tx.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d: the log has a gap", i, tx.Seq)
		}
	}
}
