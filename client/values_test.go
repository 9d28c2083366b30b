package client_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
)

// TestSameValueTypes: a row read through the API client and through a
// remote client's local database gives equal Go values: int64 for an
// integer column, float64 for a real one, whatever the JSON looked like.
func TestSameValueTypes(t *testing.T) { testutil.ForBackends(t, testSameValueTypes) }

func testSameValueTypes(t *testing.T, b testutil.Backend) {
	s, err := schema.Parse("readings.yaml", []byte(testutil.PeopleYAML+`  reading:
    columns:
      count: integer
      level: real
      whole: real
      ok: boolean
      taken: timestamp
    visibility: [all]
`))
	if err != nil {
		t.Fatal(err)
	}
	w := newWorldWith(t, b, s)
	ctx := context.Background()
	w.create("employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
	created, err := w.api.Create(ctx, "reading", map[string]any{"id": "r1", "count": 9007199254740993, "level": 2.5, "whole": 3, "ok": true, "taken": "2026-12-01"})
	if err != nil {
		t.Fatal(err)
	}
	ann := w.node("ann-laptop", "ann")
	local, ok := has(t, ann, "reading", "r1")
	if !ok {
		t.Fatal("the node lacks the reading")
	}
	got, err := w.api.Get(ctx, "reading", "r1")
	if err != nil {
		t.Fatal(err)
	}
	page, err := w.api.List(ctx, "reading", nil, "", 0)
	if err != nil || len(page.Rows) != 1 {
		t.Fatalf("list: %v %v", page, err)
	}
	if got["count"] != int64(9007199254740993) || got["level"] != 2.5 || got["whole"] != 3.0 {
		t.Errorf("api.Client values %#v", got)
	}
	for name, row := range map[string]map[string]any{"Create": created, "Get": got, "List": page.Rows[0]} {
		if !reflect.DeepEqual(row, map[string]any(local)) {
			t.Errorf("api.Client.%s gives %#v, the local database %#v", name, row, local)
		}
	}
}
