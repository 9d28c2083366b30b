package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/schema"
)

// defaultsYAML declares a table whose columns have defaults of every type
// that takes one, one of them required.
const defaultsYAML = `fieldsync_schema: 1
nodes: {employee: employee}
tables:
  employee:
    columns: {name: text}
    visibility: [all]
  task:
    columns:
      title: text
      stage: {type: text, required: true, default: open}
      points: {type: integer, default: 3}
      weight: {type: real, default: 0.5}
      urgent: {type: boolean, default: false}
      due: {type: timestamp, default: "2026-12-01T10:00:00+01:00"}
    visibility: [all]
`

// testInsertDefaults: an insert that leaves a column with a default out
// gets the default, in the row and in the log; an explicit null stays null
// (and a required column refuses it); an update takes no default.
func testInsertDefaults(t *testing.T, open Opener) {
	s, err := schema.Parse("defaults.yaml", []byte(defaultsYAML))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := open(t, s)
	ctx := context.Background()
	defaults := fieldsync.Row{"id": "t1", "title": "x", "stage": "open", "points": int64(3), "weight": 0.5, "urgent": false,
		"due": "2026-12-01T09:00:00Z"}
	txns := apply(t, st, ins("task", map[string]any{"id": "t1", "title": "x"}))
	assertRow(t, txns[0].Values, defaults)
	got, err := st.Get(ctx, "task", "t1")
	if err != nil {
		t.Fatal(err)
	}
	assertRow(t, got, defaults)
	log := wholeLog(t, st)
	assertRow(t, log[len(log)-1].Values, defaults)

	// Given values and explicit nulls win over the defaults.
	apply(t, st, ins("task", map[string]any{"id": "t2", "stage": "done", "points": nil, "weight": 2, "urgent": true, "due": nil}))
	got, err = st.Get(ctx, "task", "t2")
	if err != nil {
		t.Fatal(err)
	}
	assertRow(t, got, fieldsync.Row{"id": "t2", "title": nil, "stage": "done", "points": nil, "weight": 2.0, "urgent": true, "due": nil})

	// A required column's default does not let a null through.
	if _, err := st.Apply(ctx, "", ins("task", map[string]any{"id": "t3", "stage": nil})); !errors.Is(err, fieldsync.ErrInvalid) || !contains(err.Error(), "column stage is required") {
		t.Fatalf("an explicit null in a required column with a default: %v", err)
	}
	if _, err := st.Get(ctx, "task", "t3"); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("the refused insert left a row: %v", err)
	}

	// An update leaves the columns it does not carry as they are, and a
	// null it sets stays null.
	apply(t, st, upd("task", "t1", map[string]any{"points": nil}))
	got, err = st.Get(ctx, "task", "t1")
	if err != nil {
		t.Fatal(err)
	}
	want := defaults.Clone()
	want["points"] = nil
	assertRow(t, got, want)
}
