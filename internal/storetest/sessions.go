package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/schema"
)

func testSessions(t *testing.T, open Opener) {
	st, _ := open(t, schema.Default())
	ctx := context.Background()
	day := func(d int) time.Time { return time.Date(2026, 1, d, 12, 0, 0, 0, time.UTC) }
	save := func(id, node string, started, ended time.Time) {
		t.Helper()
		if err := st.SaveSession(ctx, fieldsync.Session{ID: id, Node: node, Started: started, Ended: ended, Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	save("a1", "ann", day(1), day(1))
	save("a2", "ann", day(2), day(2))
	save("a3", "ann", day(10), time.Time{}) // still running
	save("b1", "bob", day(1), day(1))       // bob's latest, however old
	save("c1", "cem", day(3), day(3))
	save("c2", "cem", day(4), day(4))
	last, err := st.LastSessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(last) != 3 || last["ann"].ID != "a3" || last["bob"].ID != "b1" || last["cem"].ID != "c2" {
		t.Fatalf("latest sessions: %+v", last)
	}
	n, err := st.PruneSessions(ctx, day(5))
	if err != nil || n != 3 {
		t.Fatalf("pruned %d sessions (%v), want 3 (a1, a2, c1)", n, err)
	}
	for node, want := range map[string][]string{"ann": {"a3"}, "bob": {"b1"}, "cem": {"c2"}} {
		got, err := st.Sessions(ctx, node, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range got {
			ids = append(ids, s.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Errorf("%s's sessions after pruning: %v, want %v", node, ids, want)
		}
	}
}
