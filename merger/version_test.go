package merger_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/merger"
	"github.com/fieldsync/fieldsync/schema"
)

// v1YAML is the first schema version of the tests of uploads made under an
// earlier version: notes with a column dropped since, a table dropped
// since, and tasks.
const v1YAML = testutil.PeopleYAML + `  note:
    columns:
      owner_id: {type: text, references: employee}
      body: text
      color: text
      legacy: text
    visibility:
      - owner: owner_id
    remote_write: true
  scrap:
    columns:
      owner_id: {type: text, references: employee}
    visibility:
      - owner: owner_id
    remote_write: true
  task:
    columns:
      owner_id: {type: text, references: employee}
      title: text
    visibility:
      - owner: owner_id
    remote_write: true
`

// v2YAML is the second: note.legacy and scrap dropped, note.color required
// with a default, note.size new with a default, note.tag new, task.due new
// and required without a default, and a new table memo.
const v2YAML = testutil.PeopleYAML + `  note:
    columns:
      owner_id: {type: text, references: employee}
      body: text
      color: {type: text, required: true, default: yellow}
      size: {type: integer, required: true, default: 1}
      tag: text
    visibility:
      - owner: owner_id
    remote_write: true
  task:
    columns:
      owner_id: {type: text, references: employee}
      title: text
      due: {type: timestamp, required: true}
    visibility:
      - owner: owner_id
    remote_write: true
  memo:
    columns:
      owner_id: {type: text, references: employee}
    visibility:
      - owner: owner_id
    remote_write: true
`

// marker is the schema marker that begins an upload made under version v.
func marker(v int64) fieldsync.Txn {
	return fieldsync.SchemaMarker(fieldsync.SchemaVersion{Version: v})
}

func ins(table, id string, vals fieldsync.Row) fieldsync.Txn {
	vals["id"] = id
	return fieldsync.Txn{Op: fieldsync.OpInsert, Table: table, RowID: id, Values: vals}
}

// versionsWorld is a server database that had v1YAML in force, with ann's
// note n0 and scrap s0 written then, and has v2YAML in force now, applied
// on the running server.
func versionsWorld(t *testing.T, b testutil.Backend) (*sqlstore.Store, docking.Folder) {
	t.Helper()
	st, _ := b.Open(t, parseSchema(t, "v1.yaml", v1YAML))
	ctx := context.Background()
	for _, ch := range []fieldsync.Change{
		fieldsync.Insert("employee", map[string]any{"id": "ann", "name": "ann", "login": "ann"}),
		fieldsync.Insert("employee", map[string]any{"id": "bob", "name": "bob", "login": "bob"}),
		fieldsync.Insert("note", map[string]any{"id": "n0", "owner_id": "ann", "body": "old body", "color": "red", "legacy": "y"}),
		fieldsync.Insert("scrap", map[string]any{"id": "s0", "owner_id": "ann"}),
	} {
		if _, err := st.Apply(ctx, "", ch); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.AddNode(ctx, fieldsync.Node{Name: "ann-laptop", EmployeeID: "ann"}, fieldsync.HashSecret("s")); err != nil {
		t.Fatal(err)
	}
	if v := st.SchemaVersion(); v != 1 {
		t.Fatalf("schema version %d in force, want 1", v)
	}
	if _, err := st.ApplySchema(ctx, parseSchema(t, "v2.yaml", v2YAML), "admin"); err != nil {
		t.Fatal(err)
	}
	if v := st.SchemaVersion(); v != 2 {
		t.Fatalf("schema version %d in force after the apply, want 2", v)
	}
	if _, err := st.Apply(ctx, "", fieldsync.Update("note", "n0", map[string]any{"size": 5, "tag": "t0"})); err != nil {
		t.Fatal(err)
	}
	return st, docking.Folder(t.TempDir())
}

// refusals returns the reasons of the change refusals of ann's upload n.
func refusals(t *testing.T, st *sqlstore.Store, n int64) map[int64]string {
	t.Helper()
	rs, err := st.RefusedChanges(context.Background(), "ann-laptop", n-1)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]string{}
	for _, r := range rs {
		if r.Upload == n {
			out[r.Change] = r.Reason
		}
	}
	return out
}

// getRow reads a row that must exist.
func getRow(t *testing.T, st *sqlstore.Store, table, id string) fieldsync.Row {
	t.Helper()
	r, err := st.Get(context.Background(), table, id)
	if err != nil {
		t.Fatalf("%s %s: %v", table, id, err)
	}
	return r
}

// TestUploadMadeUnderEarlierVersion: the changes of an upload made under
// an earlier schema version merge under the version in force: values of
// dropped columns are left out and counted, a column required since gets
// its default, an update leaves the columns it does not carry alone;
// changes to a dropped table, to a column or table the version never had
// (a hostile node declaring an old version to smuggle a column), or
// lacking a required column without a default are refused each alone,
// and the node still writes only what it may.
func TestUploadMadeUnderEarlierVersion(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		st, dock := versionsWorld(t, b)
		ctx := context.Background()
		var logs bytes.Buffer
		m := merger.New(st, dock, slog.New(slog.NewTextHandler(&logs, nil)))
		putUpload(t, dock, 1, []fieldsync.Txn{
			marker(1),
			ins("note", "n1", fieldsync.Row{"owner_id": "ann", "body": "b1", "color": nil, "legacy": "old"}),
			{Op: fieldsync.OpUpdate, Table: "note", RowID: "n0", Values: fieldsync.Row{"body": "new", "legacy": "x"},
				Prev: fieldsync.Row{"body": "old body", "legacy": "y"}},
			ins("scrap", "s1", fieldsync.Row{"owner_id": "ann"}),
			ins("task", "k1", fieldsync.Row{"owner_id": "ann", "title": "t"}),
			ins("note", "n2", fieldsync.Row{"owner_id": "ann", "body": "b2", "tag": "smuggled"}),
			ins("memo", "m1", fieldsync.Row{"owner_id": "ann"}),
			ins("note", "n3", fieldsync.Row{"owner_id": "bob", "body": "not hers"}),
			ins("note", "n4", fieldsync.Row{"owner_id": "ann", "body": "b4", "color": "blue", "legacy": nil}),
			{Op: fieldsync.OpDelete, Table: "scrap", RowID: "s0", Prev: fieldsync.Row{"id": "s0", "owner_id": "ann"}},
		})
		if _, err := m.MergeNode(ctx, "ann-laptop"); err != nil {
			t.Fatal(err)
		}
		want := map[int64]string{
			3: `change 3 of 9 (insert scrap s1): table scrap was dropped from the schema (version 2): its changes are no longer merged`,
			4: `change 4 of 9 (insert task k1): task: column due is required`,
			5: `change 5 of 9 (insert note n2): table note has no column "tag" in schema version 1, which the upload was made under`,
			6: `change 6 of 9 (insert memo m1): unknown table "memo" (schema version 1, which the upload was made under, has no such table)`,
			7: `change 7 of 9 (insert note n3): node ann-laptop would not see this note row once its upload is merged: it may not write it`,
			9: `change 9 of 9 (delete scrap s0): table scrap was dropped from the schema (version 2): its changes are no longer merged`,
		}
		got := refusals(t, st, 1)
		for n, w := range want {
			if got[n] != w {
				t.Errorf("change %d: refusal %q, want %q", n, got[n], w)
			}
		}
		if len(got) != len(want) {
			t.Errorf("refusals %v, want those of changes 3, 4, 5, 6, 7 and 9", got)
		}
		for _, c := range []struct {
			id   string
			want fieldsync.Row
		}{
			{"n1", fieldsync.Row{"id": "n1", "owner_id": "ann", "body": "b1", "color": "yellow", "size": int64(1), "tag": nil}},
			{"n0", fieldsync.Row{"id": "n0", "owner_id": "ann", "body": "new", "color": "red", "size": int64(5), "tag": "t0"}},
			{"n4", fieldsync.Row{"id": "n4", "owner_id": "ann", "body": "b4", "color": "blue", "size": int64(1), "tag": nil}},
		} {
			if r := getRow(t, st, "note", c.id); !rowsEqual(r, c.want) {
				t.Errorf("note %s: %v, want %v", c.id, r, c.want)
			}
		}
		for _, k := range [][2]string{{"note", "n2"}, {"note", "n3"}, {"task", "k1"}, {"memo", "m1"}} {
			if _, err := st.Get(ctx, k[0], k[1]); !errors.Is(err, fieldsync.ErrNotFound) {
				t.Errorf("%s %s was merged: %v", k[0], k[1], err)
			}
		}
		line := logLine(t, logs.String(), "upload merged")
		for _, w := range []string{"schema_version=1", "dropped_values=3", "refused=6"} {
			if !strings.Contains(line, w) {
				t.Errorf("log line %q lacks %s", line, w)
			}
		}
	})
}

// TestUploadSchemaMarkerRefusedWhole: an upload whose marker is not its
// first change, is malformed, or names a version newer than the one in
// force or one the database never had is refused whole, nothing of it
// merged; an upload without a marker, or with the version in force,
// merges under the version in force.
func TestUploadSchemaMarkerRefusedWhole(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		st, dock := versionsWorld(t, b)
		ctx := context.Background()
		m := merger.New(st, dock, nil)
		badMarker := marker(1)
		badMarker.Values["version"] = "1"
		cases := []struct {
			txns []fieldsync.Txn
			want string // the upload's refusal; "" when merged
		}{
			{[]fieldsync.Txn{ins("note", "w1", fieldsync.Row{"owner_id": "ann"}), marker(1)},
				"upload 1: transaction 2 of the file is a schema marker, and only the first may be one"},
			{[]fieldsync.Txn{marker(3), ins("note", "w2", fieldsync.Row{"owner_id": "ann"})},
				"upload 2 was made under schema version 3, newer than the version in force (2)"},
			{[]fieldsync.Txn{badMarker, ins("note", "w3", fieldsync.Row{"owner_id": "ann"})},
				`upload 3: schema marker "1": version 1 is not a positive integer matching its id`},
			{[]fieldsync.Txn{marker(1), marker(1), ins("note", "w4", fieldsync.Row{"owner_id": "ann"})},
				"upload 4: transaction 2 of the file is a schema marker, and only the first may be one"},
			{[]fieldsync.Txn{ins("note", "w5", fieldsync.Row{"owner_id": "ann", "tag": "now"})}, ""},
			{[]fieldsync.Txn{marker(2), ins("note", "w6", fieldsync.Row{"owner_id": "ann", "tag": "now"})}, ""},
		}
		for i, c := range cases {
			n := int64(i + 1)
			putUpload(t, dock, n, c.txns)
			if _, err := m.MergeNode(ctx, "ann-laptop"); err != nil {
				t.Fatal(err)
			}
			refused, err := st.Refused(ctx, "ann-laptop")
			if err != nil {
				t.Fatal(err)
			}
			reason := ""
			for _, r := range refused {
				if r.Number == n {
					reason = r.Reason
				}
			}
			if reason != c.want {
				t.Errorf("upload %d: refused %q, want %q", n, reason, c.want)
			}
			id := c.txns[len(c.txns)-1].RowID
			_, err = st.Get(ctx, "note", id)
			if merged := err == nil; merged != (c.want == "") {
				t.Errorf("upload %d: note %s merged %v (%v)", n, id, merged, err)
			}
			if r := refusals(t, st, n); len(r) != 0 {
				t.Errorf("upload %d: change refusals %v", n, r)
			}
		}
		if r := getRow(t, st, "note", "w6"); r["tag"] != "now" || r["color"] != "yellow" {
			t.Errorf("note w6 %v", r)
		}

		// A version the database never had (its record lost here by hand).
		if _, err := st.DB().ExecContext(ctx, "DELETE FROM fs_schema WHERE version = 1"); err != nil {
			t.Fatal(err)
		}
		putUpload(t, dock, 7, []fieldsync.Txn{marker(1), ins("note", "w7", fieldsync.Row{"owner_id": "ann"})})
		if _, err := m.MergeNode(ctx, "ann-laptop"); err != nil {
			t.Fatal(err)
		}
		refused, err := st.Refused(ctx, "ann-laptop")
		if err != nil {
			t.Fatal(err)
		}
		if last := refused[len(refused)-1]; last.Number != 7 || last.Reason != "upload 7 was made under schema version 1, which this server database never had" {
			t.Errorf("upload 7: refusal %+v", last)
		}
		if _, err := st.Get(ctx, "note", "w7"); !errors.Is(err, fieldsync.ErrNotFound) {
			t.Errorf("note w7 merged: %v", err)
		}
	})
}

// TestUploadMadeUnderEarlierVersionResumes: an upload made under an
// earlier version, stopped between batches, resumes under the same
// version: the marker is not merged, and the changes are numbered after it.
func TestUploadMadeUnderEarlierVersionResumes(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		st, dock := versionsWorld(t, b)
		ctx := context.Background()
		txns := []fieldsync.Txn{marker(1)}
		for _, id := range []string{"r1", "r2", "r3", "r4"} {
			txns = append(txns, ins("note", id, fieldsync.Row{"owner_id": "ann", "legacy": "x"}))
		}
		txns = append(txns, ins("scrap", "s9", fieldsync.Row{"owner_id": "ann"}))
		putUpload(t, dock, 1, txns)
		m := merger.New(st, dock, nil).WithLimits(merger.Limits{Batch: 2})
		crash := errors.New("crash")
		m.SetBetweenBatches(func(string, int64, int64) error { return crash })
		if _, err := m.MergeNode(ctx, "ann-laptop"); !errors.Is(err, crash) {
			t.Fatalf("merge: %v, want the crash", err)
		}
		m.SetBetweenBatches(nil)
		if _, err := m.MergeNode(ctx, "ann-laptop"); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"r1", "r2", "r3", "r4"} {
			if r := getRow(t, st, "note", id); r["color"] != "yellow" || r["size"] != int64(1) {
				t.Errorf("note %s: %v", id, r)
			}
		}
		want := map[int64]string{5: "change 5 of 5 (insert scrap s9): table scrap was dropped from the schema (version 2): its changes are no longer merged"}
		if got := refusals(t, st, 1); len(got) != 1 || got[5] != want[5] {
			t.Errorf("refusals %v, want %v", got, want)
		}
	})
}

func rowsEqual(a, b fieldsync.Row) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if w, ok := a[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// logLine returns the first line of logs holding msg.
func logLine(t *testing.T, logs, msg string) string {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, msg) {
			return l
		}
	}
	t.Fatalf("no log line %q in:\n%s", msg, logs)
	return ""
}

// parseSchema parses a test schema.
func parseSchema(t *testing.T, name, yaml string) *fieldsync.Schema {
	t.Helper()
	s, err := schema.Parse(name, []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestUploadMadeTwoVersionsBack: a refusal names the version that dropped
// the table, not the one in force, and an upload made under a version
// between merges what that version had.
func TestUploadMadeTwoVersionsBack(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		st, dock := versionsWorld(t, b)
		ctx := context.Background()
		v3 := strings.Replace(v2YAML, "      tag: text\n", "      tag: text\n      mood: {type: text, default: calm}\n", 1)
		if _, err := st.ApplySchema(ctx, parseSchema(t, "v3.yaml", v3), "admin"); err != nil {
			t.Fatal(err)
		}
		m := merger.New(st, dock, nil)
		putUpload(t, dock, 1, []fieldsync.Txn{marker(1), ins("scrap", "s1", fieldsync.Row{"owner_id": "ann"}),
			ins("note", "q1", fieldsync.Row{"owner_id": "ann", "legacy": "x"})})
		putUpload(t, dock, 2, []fieldsync.Txn{marker(2), ins("note", "q2", fieldsync.Row{"owner_id": "ann", "tag": "v2", "mood": "smuggled"}),
			ins("note", "q3", fieldsync.Row{"owner_id": "ann", "tag": "v2", "color": "green"})})
		if _, err := m.MergeNode(ctx, "ann-laptop"); err != nil {
			t.Fatal(err)
		}
		if got := refusals(t, st, 1); len(got) != 1 || got[1] != "change 1 of 2 (insert scrap s1): table scrap was dropped from the schema (version 2): its changes are no longer merged" {
			t.Errorf("upload 1: refusals %v", got)
		}
		if got := refusals(t, st, 2); len(got) != 1 || got[1] != `change 1 of 2 (insert note q2): table note has no column "mood" in schema version 2, which the upload was made under` {
			t.Errorf("upload 2: refusals %v", got)
		}
		want := fieldsync.Row{"id": "q1", "owner_id": "ann", "body": nil, "color": "yellow", "size": int64(1), "tag": nil, "mood": "calm"}
		if r := getRow(t, st, "note", "q1"); !rowsEqual(r, want) {
			t.Errorf("note q1 %v, want %v", r, want)
		}
		want = fieldsync.Row{"id": "q3", "owner_id": "ann", "body": nil, "color": "green", "size": int64(1), "tag": "v2", "mood": "calm"}
		if r := getRow(t, st, "note", "q3"); !rowsEqual(r, want) {
			t.Errorf("note q3 %v, want %v", r, want)
		}
	})
}
