package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/schema"
)

func testReadTrimLog(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	seed(t, st)
	ctx := context.Background()
	part, err := st.ReadLog(ctx, 2, 2)
	if err != nil || len(part) != 2 || part[0].Seq != 3 || part[1].Seq != 4 {
		t.Fatalf("read log after 2: %+v, %v", part, err)
	}
	if err := st.TrimLog(ctx, 3); err != nil {
		t.Fatal(err)
	}
	rest := wholeLog(t, st)
	if len(rest) != 2 || rest[0].Seq != 4 {
		t.Fatalf("after trim: %+v", rest)
	}
	s, err := st.LogState(ctx)
	if err != nil || s.Pending != 2 || s.LastSeq != 5 || s.Trimmed != 3 {
		t.Fatalf("log state %+v, %v", s, err)
	}
	if err := st.TrimLog(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.LogState(ctx); s.Trimmed != 3 {
		t.Fatalf("trimming backwards moved the trimmed mark to %d", s.Trimmed)
	}
	// Sequence numbers keep counting after a trim.
	txns := apply(t, st, ins("account", map[string]any{"name": "after trim"}))
	if txns[0].Seq != 6 {
		t.Fatalf("seq after trim %d", txns[0].Seq)
	}
}

func testReopen(t *testing.T, open Opener) {
	s := schema.Default()
	st, reopen := open(t, s)
	seed(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2, err := reopen(schema.Default())
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	row, err := st2.Get(context.Background(), "opportunity", "o1")
	if err != nil || row["revenue"] != 5000.5 {
		t.Fatalf("after reopen: %v, %v", row, err)
	}
	txns := apply(t, st2, ins("account", map[string]any{"name": "next"}))
	if txns[0].Seq != 6 {
		t.Fatalf("seq after reopen %d, want 6", txns[0].Seq)
	}
	st2.Close()

	// A schema that gains a column upgrades the database in place.
	grown := schema.Default()
	grown.Table("account").Columns = append(grown.Table("account").Columns, &fieldsync.Column{Name: "rating", Type: fieldsync.TypeInteger})
	grown.Tables = append(grown.Tables, &fieldsync.Table{Name: "region", Rules: []fieldsync.Rule{{Kind: fieldsync.RuleAll}},
		Columns: []*fieldsync.Column{{Name: "id", Type: fieldsync.TypeText, Required: true},
			{Name: "name", Type: fieldsync.TypeText, Required: true}, {Name: "code", Type: fieldsync.TypeInteger}}})
	grown, err = fieldsync.NewSchema("grown.yaml", grown.Nodes, grown.Tables)
	if err != nil {
		t.Fatal(err)
	}
	st3, err := reopen(grown)
	if err != nil {
		t.Fatalf("open with a grown schema: %v", err)
	}
	apply(t, st3, ins("region", map[string]any{"name": "North", "code": 1}), upd("account", "a1", map[string]any{"rating": 5}))
	if row, _ := st3.Get(context.Background(), "account", "a1"); row["rating"] != int64(5) || row["name"] != "Acme" {
		t.Fatalf("account after upgrade: %v", row)
	}
	st3.Close()

	// A schema that drops a unique key stops enforcing it.
	loose := schema.Default()
	loose.Table("employee").Unique = nil
	st4, err := reopen(loose)
	if err != nil {
		t.Fatalf("open without the unique key: %v", err)
	}
	apply(t, st4, ins("employee", map[string]any{"id": "e9", "name": "Another Ann", "login": "ann"}))
	apply(t, st4, del("employee", "e9"))
	st4.Close()

	// A schema that changes a column's type is refused, naming the column.
	changed := schema.Default()
	changed.Table("opportunity").Column("revenue").Type = fieldsync.TypeText
	if _, err := reopen(changed); !errors.Is(err, fieldsync.ErrSchemaMismatch) || !contains(err.Error(), "opportunity.revenue") {
		t.Fatalf("type change: %v", err)
	}
}

func testProcessorLock(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	l, ok := st.(interface {
		LockProcessor(ctx context.Context) (func(), error)
	})
	if !ok {
		t.Fatal("store has no processor lock")
	}
	release, err := l.LockProcessor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A standby waits while the lock is held...
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if r2, err := l.LockProcessor(ctx); err == nil {
		r2()
		t.Fatal("two processors held the lock at once")
	}
	// ...and takes over once it is released.
	release()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	r3, err := l.LockProcessor(ctx2)
	if err != nil {
		t.Fatalf("standby did not take over: %v", err)
	}
	r3()
}
