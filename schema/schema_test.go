package schema_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/schema"
)

// col is the expected shape of one column.
type col struct {
	name     string
	typ      fieldsync.ColumnType
	ref      string
	onDelete fieldsync.OnDelete
	required bool
}

const (
	text      = fieldsync.TypeText
	realT     = fieldsync.TypeReal
	timestamp = fieldsync.TypeTimestamp
	file      = fieldsync.TypeFile
	restrict  = fieldsync.OnDeleteRestrict
	cascade   = fieldsync.OnDeleteCascade
	setNull   = fieldsync.OnDeleteSetNull
)

var id = col{name: "id", typ: text, required: true}

// TestDefault pins the built-in CRM schema: its names are a contract that
// other packages, the docs and tests outside the repository rely on.
func TestDefault(t *testing.T) {
	want := []struct {
		name        string
		cols        []col
		unique      [][]string
		rules       []string
		remoteWrite bool
	}{
		{name: "employee",
			cols:   []col{id, {name: "name", typ: text, required: true}, {name: "login", typ: text, required: true}},
			unique: [][]string{{"login"}}, rules: []string{"all"}},
		{name: "position",
			cols:  []col{id, {name: "name", typ: text}, {name: "employee_id", typ: text, ref: "employee", onDelete: setNull}},
			rules: []string{"all"}},
		{name: "account",
			cols:        []col{id, {name: "name", typ: text, required: true}, {name: "industry", typ: text}},
			rules:       []string{"referenced_by: account_team.account_id", "referenced_by: opportunity.account_id"},
			remoteWrite: true},
		{name: "account_team",
			cols: []col{id,
				{name: "account_id", typ: text, ref: "account", onDelete: cascade, required: true},
				{name: "position_id", typ: text, ref: "position", onDelete: cascade, required: true}},
			unique:      [][]string{{"account_id", "position_id"}},
			rules:       []string{"position: position_id", "parent: account_id"},
			remoteWrite: true},
		{name: "contact",
			cols: []col{id, {name: "account_id", typ: text, ref: "account", onDelete: cascade},
				{name: "first_name", typ: text}, {name: "last_name", typ: text}, {name: "email", typ: text}, {name: "phone", typ: text}},
			rules: []string{"parent: account_id"}, remoteWrite: true},
		{name: "campaign",
			cols:  []col{id, {name: "name", typ: text, required: true}, {name: "channel", typ: text}, {name: "starts_on", typ: timestamp}},
			rules: []string{"all"}},
		{name: "product",
			cols:  []col{id, {name: "name", typ: text, required: true}, {name: "price", typ: realT}},
			rules: []string{"all"}},
		{name: "opportunity",
			cols: []col{id, {name: "name", typ: text, required: true},
				{name: "account_id", typ: text, ref: "account", onDelete: restrict},
				{name: "campaign_id", typ: text, ref: "campaign", onDelete: setNull},
				{name: "stage", typ: text}, {name: "revenue", typ: realT}, {name: "close_date", typ: timestamp}},
			rules: []string{"referenced_by: opportunity_team.opportunity_id"}, remoteWrite: true},
		{name: "opportunity_team",
			cols: []col{id,
				{name: "opportunity_id", typ: text, ref: "opportunity", onDelete: cascade, required: true},
				{name: "position_id", typ: text, ref: "position", onDelete: cascade, required: true}},
			unique:      [][]string{{"opportunity_id", "position_id"}},
			rules:       []string{"position: position_id", "parent: opportunity_id"},
			remoteWrite: true},
		{name: "activity",
			cols: []col{id,
				{name: "opportunity_id", typ: text, ref: "opportunity", onDelete: cascade},
				{name: "account_id", typ: text, ref: "account", onDelete: cascade},
				{name: "owner_id", typ: text, ref: "employee", onDelete: restrict},
				{name: "type", typ: text}, {name: "description", typ: text}, {name: "due", typ: timestamp}},
			rules:       []string{"owner: owner_id", "parent: opportunity_id", "parent: account_id"},
			remoteWrite: true},
		{name: "attachment",
			cols: []col{id, {name: "opportunity_id", typ: text, ref: "opportunity", onDelete: cascade},
				{name: "file_name", typ: text}, {name: "file", typ: file}, {name: "mode", typ: text}},
			rules: []string{"parent: opportunity_id"}, remoteWrite: true},
	}

	s := schema.Default()
	if s.Source != "builtin:crm.yaml" {
		t.Errorf("Source %q", s.Source)
	}
	wantNodes := fieldsync.NodeBinding{EmployeeTable: "employee", PositionTable: "position", PositionEmployee: "employee_id"}
	if s.Nodes != wantNodes {
		t.Errorf("nodes %+v, want %+v", s.Nodes, wantNodes)
	}
	var names, wantNames []string
	for _, tb := range s.Tables {
		names = append(names, tb.Name)
	}
	for _, w := range want {
		wantNames = append(wantNames, w.name)
	}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("tables %v\nwant %v", names, wantNames)
	}
	for _, w := range want {
		tb := s.Table(w.name)
		var got []col
		for _, c := range tb.Columns {
			got = append(got, col{c.Name, c.Type, c.References, c.OnDelete, c.Required})
			if c.Line == 0 {
				t.Errorf("%s.%s has no line", w.name, c.Name)
			}
		}
		if !slices.Equal(got, w.cols) {
			t.Errorf("%s columns\n got %+v\nwant %+v", w.name, got, w.cols)
		}
		if !slices.EqualFunc(tb.Unique, w.unique, slices.Equal) {
			t.Errorf("%s unique %v, want %v", w.name, tb.Unique, w.unique)
		}
		var rules []string
		for _, r := range tb.Rules {
			rules = append(rules, r.String())
			if r.Line == 0 {
				t.Errorf("%s rule %s has no line", w.name, r)
			}
		}
		if !slices.Equal(rules, w.rules) {
			t.Errorf("%s rules %q, want %q", w.name, rules, w.rules)
		}
		if tb.RemoteWrite != w.remoteWrite {
			t.Errorf("%s remote_write %v, want %v", w.name, tb.RemoteWrite, w.remoteWrite)
		}
		if tb.Private || tb.Conflict != fieldsync.ServerWins || tb.Line == 0 {
			t.Errorf("%s: private %v, conflict %s, line %d", w.name, tb.Private, tb.Conflict, tb.Line)
		}
		if tb.HasFile() != (w.name == "attachment") {
			t.Errorf("%s HasFile %v", w.name, tb.HasFile())
		}
	}
}

// TestDefaultIsFresh checks that callers cannot change each other's schema.
func TestDefaultIsFresh(t *testing.T) {
	a, b := schema.Default(), schema.Default()
	a.Table("account").Rules = nil
	a.Table("employee").Columns[1].Name = "changed"
	if len(b.Table("account").Rules) != 2 || b.Table("employee").Columns[1].Name != "name" {
		t.Fatal("two Default schemas share state")
	}
	if !bytes.Equal(a.YAML, schema.DefaultYAML()) {
		t.Fatal("the schema does not carry the text it was read from")
	}
	y := schema.DefaultYAML()
	y[0] = 'X'
	if b.YAML[0] == 'X' {
		t.Fatal("Schema.YAML shares the embedded bytes")
	}
	if schema.DefaultYAML()[0] == 'X' {
		t.Fatal("DefaultYAML returns the embedded bytes themselves")
	}
	if a.Fingerprint() != schema.Default().Fingerprint() && b.Fingerprint() != schema.Default().Fingerprint() {
		t.Fatal("fingerprint not stable")
	}
}

// base is a valid schema missing the table under test. Appended text starts
// on line 13.
const base = `fieldsync_schema: 1
nodes:
  employee: employee
  positions: position.employee_id
tables:
  employee:
    columns: {name: text}
    visibility: [all]
  position:
    columns:
      employee_id: {type: text, references: employee}
    visibility: [all]
`

// thing declares a table thing on line 13 with columns able to carry every
// rule kind, with its visibility replaced by vis (lines from 20).
func thing(vis string) string {
	return base + `  thing:
    columns:
      owner_id: {type: text, references: employee}
      position_id: {type: text, references: position}
      parent_id: {type: text, references: thing}
      label: text
    visibility:
` + vis + `  other:
    columns:
      thing_id: {type: text, references: thing}
    visibility: [all]
`
}

// TestRuleKinds reads every rule kind, checks what it becomes, and that the
// rule written back as Rule.String reads the same.
func TestRuleKinds(t *testing.T) {
	cases := []struct {
		rule string
		want fieldsync.Rule
	}{
		{"all", fieldsync.Rule{Kind: fieldsync.RuleAll, Line: 20}},
		{"owner: owner_id", fieldsync.Rule{Kind: fieldsync.RuleOwner, Column: "owner_id", Line: 20}},
		{"owner: label", fieldsync.Rule{Kind: fieldsync.RuleOwner, Column: "label", Line: 20}},
		{"position: position_id", fieldsync.Rule{Kind: fieldsync.RulePosition, Column: "position_id", Line: 20}},
		{"parent: parent_id", fieldsync.Rule{Kind: fieldsync.RuleParent, Column: "parent_id", Line: 20}},
		{"parent: owner_id", fieldsync.Rule{Kind: fieldsync.RuleParent, Column: "owner_id", Line: 20}},
		{"referenced_by: other.thing_id", fieldsync.Rule{Kind: fieldsync.RuleReferencedBy, Table: "other", Column: "thing_id", Line: 20}},
		{"referenced_by: thing.parent_id", fieldsync.Rule{Kind: fieldsync.RuleReferencedBy, Table: "thing", Column: "parent_id", Line: 20}},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			s, err := schema.Parse("rules.yaml", []byte(thing("      - "+tc.rule+"\n")))
			if err != nil {
				t.Fatal(err)
			}
			rules := s.Table("thing").Rules
			if len(rules) != 1 || rules[0] != tc.want {
				t.Fatalf("rules %+v, want %+v", rules, tc.want)
			}
			if rules[0].String() != tc.rule {
				t.Fatalf("String() = %q, want %q", rules[0].String(), tc.rule)
			}
			again, err := schema.Parse("again.yaml", []byte(thing("      - "+rules[0].String()+"\n")))
			if err != nil {
				t.Fatal(err)
			}
			if again.Fingerprint() != s.Fingerprint() {
				t.Fatal("rule does not round-trip")
			}
		})
	}

	// Every kind at once, in order, in the flow style too.
	s, err := schema.Parse("rules.yaml", []byte(thing(`      - all
      - owner: owner_id
      - {position: position_id}
      - parent: parent_id
      - referenced_by: other.thing_id
`)))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range s.Table("thing").Rules {
		got = append(got, r.String())
	}
	want := []string{"all", "owner: owner_id", "position: position_id", "parent: parent_id", "referenced_by: other.thing_id"}
	if !slices.Equal(got, want) {
		t.Fatalf("rules %q, want %q", got, want)
	}

	// private in place of the rule list.
	s, err = schema.Parse("private.yaml", []byte(base+`  note:
    columns: {body: text}
    visibility: private
    remote_write: true
`))
	if err != nil {
		t.Fatal(err)
	}
	if note := s.Table("note"); !note.Private || len(note.Rules) != 0 || !note.RemoteWrite {
		t.Fatalf("note %+v", note)
	}
}

// TestCycles checks that rules may refer to each other in cycles: visibility
// is a least fixed point, so the schema allows them.
func TestCycles(t *testing.T) {
	cases := map[string]string{
		"referenced_by and parent": base + `  account:
    columns: {name: text}
    visibility:
      - referenced_by: opportunity.account_id
  opportunity:
    columns:
      account_id: {type: text, references: account}
    visibility:
      - parent: account_id
`,
		"self reference": base + `  folder:
    columns:
      parent_id: {type: text, references: folder}
      owner_id: {type: text, references: employee}
    visibility:
      - owner: owner_id
      - parent: parent_id
      - referenced_by: folder.parent_id
`,
		"parents both ways": base + `  a:
    columns:
      b_id: {type: text, references: b}
    visibility:
      - parent: b_id
  b:
    columns:
      a_id: {type: text, references: a}
    visibility:
      - parent: a_id
`,
	}
	for name, y := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := schema.Parse("cycle.yaml", []byte(y)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestColumnsAndOptions covers the column forms, defaults and table options.
func TestColumnsAndOptions(t *testing.T) {
	s, err := schema.Parse("ok.yaml", []byte(base+`  id:
    columns:
      title: text
      count: {type: integer, required: true}
      score: real
      done: boolean
      at: timestamp
      blob: file
      boss_id: {type: text, references: employee.id, on_delete: cascade}
      seat_id: {references: position, on_delete: set_null}
      self_id: {type: text, references: id}
      by_anchor: &fk {type: text, references: employee}
      by_alias: *fk
    unique: [[count], [score, done]]
    visibility: [all, {owner: boss_id}]
    remote_write: True
    server_columns: [score, done]
    remote_delete: no
    conflict: client_wins
  log:
    visibility: private
    remote_write: no
`))
	if err != nil {
		t.Fatal(err)
	}
	if names := []string{s.Tables[0].Name, s.Tables[1].Name, s.Tables[2].Name, s.Tables[3].Name}; !slices.Equal(names, []string{"employee", "position", "id", "log"}) {
		t.Fatalf("table order %v", names)
	}
	tb := s.Table("id")
	want := []col{id,
		{name: "title", typ: text},
		{name: "count", typ: fieldsync.TypeInteger, required: true},
		{name: "score", typ: realT},
		{name: "done", typ: fieldsync.TypeBoolean},
		{name: "at", typ: timestamp},
		{name: "blob", typ: file},
		{name: "boss_id", typ: text, ref: "employee", onDelete: cascade},
		{name: "seat_id", typ: text, ref: "position", onDelete: setNull},
		{name: "self_id", typ: text, ref: "id", onDelete: restrict},
		{name: "by_anchor", typ: text, ref: "employee", onDelete: restrict},
		{name: "by_alias", typ: text, ref: "employee", onDelete: restrict},
	}
	var got []col
	for _, c := range tb.Columns {
		got = append(got, col{c.Name, c.Type, c.References, c.OnDelete, c.Required})
	}
	if !slices.Equal(got, want) {
		t.Fatalf("columns\n got %+v\nwant %+v", got, want)
	}
	if !slices.Equal(tb.ServerColumns, []string{"score", "done"}) || !tb.ServerColumn("done") || tb.ServerColumn("title") || tb.RemoteDelete() {
		t.Fatalf("server columns %v, remote delete %v", tb.ServerColumns, tb.RemoteDelete())
	}
	if tb.Line != 13 || tb.Columns[0].Line != 13 || tb.Column("title").Line != 15 || tb.Rules[0].Line != 27 {
		t.Fatalf("lines: table %d, id %d, title %d, rule %d", tb.Line, tb.Columns[0].Line, tb.Column("title").Line, tb.Rules[0].Line)
	}
	if !slices.EqualFunc(tb.Unique, [][]string{{"count"}, {"score", "done"}}, slices.Equal) {
		t.Fatalf("unique %v", tb.Unique)
	}
	if !tb.RemoteWrite || tb.Conflict != fieldsync.ClientWins || tb.Private {
		t.Fatalf("options %+v", tb)
	}
	if l := s.Table("log"); !l.Private || l.RemoteWrite || len(l.Columns) != 1 || l.Conflict != fieldsync.ServerWins {
		t.Fatalf("log %+v", l)
	}
	if refs := s.ReferencesTo("employee"); len(refs) != 4 {
		t.Fatalf("%d references to employee", len(refs))
	}

	// nodes.positions is optional when no rule needs it.
	s, err = schema.Parse("ok.yaml", []byte(`fieldsync_schema: 1
nodes: {employee: staff}
tables:
  staff:
    columns: {name: text}
    visibility: [all]
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Nodes != (fieldsync.NodeBinding{EmployeeTable: "staff"}) {
		t.Fatalf("nodes %+v", s.Nodes)
	}
}

// TestColumnDefaults: a column's default is read in its type's canonical
// form, comes back the same from the schema's own text (as the database
// keeps it), and changes the schema's fingerprint.
func TestColumnDefaults(t *testing.T) {
	yaml := base + `  thing:
    columns:
      title: {type: text, default: "untitled"}
      code: {type: text, default: 007}
      count: {type: integer, required: true, default: 3}
      score: {type: real, default: 0.5}
      done: {type: boolean, default: no}
      at: {type: timestamp, default: "2026-12-01T10:30:00+01:00"}
      day: {type: timestamp, default: 2026-12-01}
      plain: integer
    visibility: [all]
`
	s, err := schema.Parse("defaults.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": nil, "title": "untitled", "code": "007", "count": int64(3), "score": 0.5, "done": false,
		"at": "2026-12-01T09:30:00Z", "day": "2026-12-01T00:00:00Z", "plain": nil}
	check := func(s *fieldsync.Schema) {
		t.Helper()
		for _, c := range s.Table("thing").Columns {
			if w, ok := want[c.Name]; !ok || c.Default != w {
				t.Errorf("%s: default %#v (%T), want %#v (%T)", c.Name, c.Default, c.Default, w, w)
			}
		}
	}
	check(s)
	again, err := schema.Parse(s.Source, s.YAML)
	if err != nil {
		t.Fatal(err)
	}
	check(again)
	if again.Fingerprint() != s.Fingerprint() {
		t.Fatal("the same schema text gave two fingerprints")
	}
	fp := map[string]string{s.Fingerprint(): "the schema"}
	for _, change := range [][2]string{
		{"default: 3}", "default: 4}"},
		{"default: 0.5}", "default: 0.25}"},
		{"default: no}", "default: yes}"},
		{`default: "untitled"}`, `default: "Untitled"}`},
		{"required: true, default: 3}", "required: true}"},
		{"plain: integer", "plain: {type: integer, default: 0}"},
	} {
		if !strings.Contains(yaml, change[0]) {
			t.Fatalf("the schema has no %q", change[0])
		}
		other, err := schema.Parse("defaults.yaml", []byte(strings.Replace(yaml, change[0], change[1], 1)))
		if err != nil {
			t.Fatal(err)
		}
		what := change[0] + " to " + change[1]
		if prev, dup := fp[other.Fingerprint()]; dup {
			t.Errorf("%s: the fingerprint is that of %s", what, prev)
		}
		fp[other.Fingerprint()] = what
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crm.yaml")
	if err := os.WriteFile(path, schema.DefaultYAML(), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := schema.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Source != path || s.Fingerprint() != schema.Default().Fingerprint() {
		t.Fatalf("loaded %s, fingerprint differs from the built-in schema", s.Source)
	}

	missing := filepath.Join(t.TempDir(), "missing.yaml")
	if _, err := schema.Load(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing file: %v", err)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, bytes.Replace(schema.DefaultYAML(), []byte("references: account,"), []byte("references: acount,"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = schema.Load(bad)
	if err == nil || !regexp.MustCompile(`^`+regexp.QuoteMeta(bad)+`:\d+: table "account_team": foreign key account_id references unknown table "acount" \(did you mean account\?\)$`).MatchString(err.Error()) {
		t.Fatalf("bad file: %v", err)
	}
}

var errLine = regexp.MustCompile(`^bad\.yaml:[1-9][0-9]*: \S`)

// TestBadSchemas checks that each mistake is reported with file, line and
// reason, every line of the error in that form.
func TestBadSchemas(t *testing.T) {
	table := func(body string) string { return base + "  thing:\n" + body }
	cases := []struct {
		name, yaml, want string
	}{
		// YAML itself
		{"malformed yaml", "fieldsync_schema: 1\ntables: [\n", "bad.yaml:2: did not find expected node content"},
		{"tab indentation", "fieldsync_schema: 1\nnodes:\n\temployee: employee\n", "bad.yaml:3: found character that cannot start any token"},
		{"error on the first line", "fieldsync_schema: 1: 2\n", "bad.yaml:1: mapping values are not allowed in this context"},
		{"control character", base + "  thing:\n    columns: {a: \"x\x01\"}\n", "bad.yaml:14: control characters are not allowed"},
		{"invalid utf-8", "fieldsync_schema: 1\nnodes: \xff\n", "bad.yaml:2: invalid"},
		{"two documents", base + "---\nfieldsync_schema: 1\n", "bad.yaml:13: a schema file holds one YAML document, and a second one starts here"},
		{"empty", "", "bad.yaml:1: the schema is empty"},
		{"only comments", "# nothing yet\n", "bad.yaml:1: the schema is empty"},
		{"not a mapping", "- fieldsync_schema\n- tables\n", "bad.yaml:1: the schema must be a mapping of fieldsync_schema, nodes and tables, not a list"},

		// top level
		{"missing version", strings.Replace(base, "fieldsync_schema: 1\n", "", 1), "bad.yaml:1: missing fieldsync_schema: 1 (the format version)"},
		{"unknown version", strings.Replace(base, "fieldsync_schema: 1", "fieldsync_schema: 2", 1), `bad.yaml:1: unsupported fieldsync_schema "2" (this fieldsync reads version 1)`},
		{"version as a list", strings.Replace(base, "fieldsync_schema: 1", "fieldsync_schema: [1]", 1), `bad.yaml:1: fieldsync_schema must be a single value, not a list`},
		{"misspelt top-level key", base + "tabels: {}\n", `bad.yaml:13: unknown key "tabels" (did you mean tables?)`},
		{"unknown top-level key", base + "extra: 1\n", `bad.yaml:13: unknown key "extra" (expected fieldsync_schema, nodes, tables)`},
		{"duplicate top-level key", base + "nodes: {employee: employee}\n", `bad.yaml:13: key "nodes" is declared twice (first on line 2)`},
		{"missing tables", "fieldsync_schema: 1\nnodes: {employee: employee}\n", "bad.yaml:1: missing tables (the synchronized tables, each with its columns and visibility)"},
		{"no tables", "fieldsync_schema: 1\nnodes: {employee: employee}\ntables: {}\n", "bad.yaml:3: tables: the schema declares no tables"},
		{"tables as a list", "fieldsync_schema: 1\nnodes: {employee: employee}\ntables: [employee]\n", "bad.yaml:3: tables must be a mapping, not a list"},

		// nodes
		{"missing nodes", strings.Replace(base, "nodes:\n  employee: employee\n  positions: position.employee_id\n", "", 1), "bad.yaml:1: missing nodes"},
		{"nodes as a list", strings.Replace(base, "  employee: employee\n  positions: position.employee_id\n", "  - employee\n  - position\n", 1), "bad.yaml:3: nodes must be a mapping, not a list"},
		{"nodes unknown key", strings.Replace(base, "  positions:", "  position:", 1), `bad.yaml:4: nodes: unknown key "position" (did you mean positions?)`},
		{"nodes missing employee", strings.Replace(base, "  employee: employee\n", "", 1), "bad.yaml:2: nodes: missing employee: TABLE"},
		{"nodes unknown employee table", strings.Replace(base, "employee: employee\n  positions", "employee: employe\n  positions", 1),
			`bad.yaml:3: nodes: employee names unknown table "employe" (did you mean employee?)`},
		{"nodes positions not dotted", strings.Replace(base, "position.employee_id", "position", 1), `bad.yaml:4: nodes: positions "position" must be TABLE.COLUMN`},
		{"nodes positions unknown table", strings.Replace(base, "position.employee_id", "seat.employee_id", 1), `bad.yaml:4: nodes: positions names unknown table "seat"`},
		{"nodes positions unknown column", strings.Replace(base, "position.employee_id", "position.holder_id", 1), `bad.yaml:4: nodes: positions names unknown column position.holder_id`},
		{"nodes positions not an fk to employee", strings.Replace(base, "position.employee_id", "employee.name", 1),
			`bad.yaml:4: nodes: positions column employee.name must be a foreign key to the employee table "employee"`},

		// tables
		{"duplicate table", base + "  employee:\n    columns: {x: text}\n    visibility: [all]\n", `bad.yaml:13: table "employee" is declared twice (first on line 6)`},
		{"table as a value", table("    yes\n"), `bad.yaml:14: table "thing" must be a mapping of columns, unique, visibility, remote_write and conflict, not "yes"`},
		{"table as a list", table("    - columns\n"), `bad.yaml:14: table "thing" must be a mapping of columns, unique, visibility, remote_write and conflict, not a list`},
		{"misspelt table key", table("    columns: {a: text}\n    visiblity: [all]\n"), `bad.yaml:15: table "thing": unknown key "visiblity" (did you mean visibility?)`},
		{"unknown table key", table("    columns: {a: text}\n    visibility: [all]\n    owner: a\n"), `bad.yaml:16: table "thing": unknown key "owner" (expected columns, unique, visibility, remote_write, server_columns, remote_delete, conflict)`},
		{"server columns of a table nodes do not write", table("    columns: {a: text}\n    visibility: [all]\n    server_columns: [a]\n"),
			`bad.yaml:16: table "thing": server_columns narrows what nodes write, but nodes may not write the table (add remote_write: true, or drop server_columns)`},
		{"remote delete of a table nodes do not write", table("    columns: {a: text}\n    visibility: [all]\n    remote_delete: false\n"),
			`bad.yaml:16: table "thing": remote_delete narrows what nodes write, but nodes may not write the table`},
		{"server columns unknown", table("    columns: {stage: text}\n    visibility: [{owner: stage}]\n    remote_write: true\n    server_columns: [stag]\n"),
			`bad.yaml:17: table "thing": server_columns names unknown column "stag" (did you mean stage?)`},
		{"server columns id", table("    columns: {a: text}\n    visibility: [{owner: a}]\n    remote_write: true\n    server_columns: [id]\n"),
			`bad.yaml:17: table "thing": server_columns: id is set when a row is created and never changes`},
		{"server columns twice", table("    columns: {a: text}\n    visibility: [{owner: a}]\n    remote_write: true\n    server_columns: [a, a]\n"),
			`bad.yaml:17: table "thing": server_columns names column a twice`},
		{"server columns not a list", table("    columns: {a: text}\n    visibility: [{owner: a}]\n    remote_write: true\n    server_columns: a\n"),
			`bad.yaml:17: table "thing": server_columns must be a list of columns, like [stage], not "a"`},
		{"remote write of a table seen through all only", table("    columns: {a: text}\n    visibility: [all]\n    remote_write: true\n"),
			`bad.yaml:16: table "thing": nodes see its rows only through the rule all, which leaves them read-only to nodes`},
		{"duplicate table key", table("    columns: {a: text}\n    visibility: [all]\n    columns: {b: text}\n"), `bad.yaml:16: table "thing": key "columns" is declared twice (first on line 14)`},
		{"no visibility", table("    columns: {a: text}\n"), `bad.yaml:13: table "thing": declare visibility rules or visibility: private`},
		{"bad table name", base + "  Thing:\n    columns: {a: text}\n    visibility: [all]\n", `bad.yaml:13: table "Thing" is not a valid name: use lowercase letters, digits and _`},
		{"table name starts with a digit", base + "  2things:\n    columns: {a: text}\n    visibility: [all]\n", `bad.yaml:13: table "2things" is not a valid name`},
		{"table name too long", base + "  " + strings.Repeat("t", 64) + ":\n    columns: {a: text}\n    visibility: [all]\n", `bad.yaml:13: table "` + strings.Repeat("t", 64) + `" is not a valid name`},
		{"reserved prefix", base + "  fs_log:\n    columns: {a: text}\n    visibility: [all]\n", `bad.yaml:13: table "fs_log": names starting with fs_ are reserved for fieldsync's own tables`},
		{"sql reserved table name", base + "  order:\n    columns: {a: text}\n    visibility: [all]\n", `bad.yaml:13: table "order" is an SQL reserved word; choose another name`},
		{"user table", base + "  user:\n    columns: {a: text}\n    visibility: [all]\n", `bad.yaml:13: table "user" is an SQL reserved word`},
		{"bad conflict policy", table("    columns: {a: text}\n    visibility: [all]\n    conflict: node_wins\n"),
			`bad.yaml:16: table "thing": unknown conflict policy "node_wins" (expected server_wins, client_wins)`},
		{"bad bool", table("    columns: {a: text}\n    visibility: [all]\n    remote_write: maybe\n"), `bad.yaml:16: table "thing": remote_write must be true or false, not "maybe"`},

		// columns
		{"columns as a list", table("    columns: [a, b]\n    visibility: [all]\n"), `bad.yaml:14: table "thing": columns must be a mapping, not a list`},
		{"duplicate column", table("    columns:\n      a: text\n      a: integer\n    visibility: [all]\n"), `bad.yaml:16: table "thing": column "a" is declared twice (first on line 15)`},
		{"declared id", table("    columns: {id: text}\n    visibility: [all]\n"), `bad.yaml:14: table "thing": do not declare id: every table has the text primary key id`},
		{"bad column name", table("    columns: {firstName: text}\n    visibility: [all]\n"), `bad.yaml:14: table "thing": column "firstName" is not a valid name`},
		{"reserved column prefix", table("    columns: {fs_seq: integer}\n    visibility: [all]\n"), `bad.yaml:14: table "thing": column "fs_seq": names starting with fs_ are reserved`},
		{"sql reserved column name", table("    columns: {select: text}\n    visibility: [all]\n"), `bad.yaml:14: table "thing": column "select" is an SQL reserved word; choose another name`},
		{"misspelt type", table("    columns: {a: txt}\n    visibility: [all]\n"), `bad.yaml:14: table "thing": column a: unknown type "txt" (did you mean text?)`},
		{"unknown type", table("    columns:\n      a: {type: varchar}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: unknown type "varchar" (expected text, integer, real, boolean, timestamp, file)`},
		{"missing type", table("    columns:\n      a: {required: true}\n    visibility: [all]\n"), `bad.yaml:15: table "thing": column a: missing type`},
		{"empty column", table("    columns:\n      a:\n    visibility: [all]\n"), `bad.yaml:15: table "thing": column a must be a type, like text, or a mapping, like {type: text, required: true}, not an empty value`},
		{"column as a list", table("    columns:\n      a: [text]\n    visibility: [all]\n"), `bad.yaml:15: table "thing": column a must be a type, like text, or a mapping`},
		{"misspelt column key", table("    columns:\n      a: {type: text, refrences: employee}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: unknown key "refrences" (did you mean references?)`},
		{"fk to missing table", base + "  account:\n    columns: {name: text}\n    visibility: [all]\n  opportunity:\n    columns:\n      account_id: {type: text, references: acount}\n    visibility: [all]\n",
			`bad.yaml:18: table "opportunity": foreign key account_id references unknown table "acount" (did you mean account?)`},
		{"fk in block style", table("    columns:\n      a:\n        type: text\n        references: nowhere\n    visibility: [all]\n"),
			`bad.yaml:17: table "thing": foreign key a references unknown table "nowhere"`},
		{"fk to a column", table("    columns:\n      a: {type: text, references: employee.name}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: references "employee.name": a foreign key holds the id of a row of another table; write references: employee`},
		{"fk not text", table("    columns:\n      a: {type: integer, references: employee}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: a foreign key must be of type text, not integer`},
		{"unknown on_delete", table("    columns:\n      a: {type: text, references: employee, on_delete: nullify}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: unknown on_delete "nullify" (expected restrict, cascade, set_null)`},
		{"on_delete without fk", table("    columns:\n      a: {type: text, on_delete: cascade}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: on_delete applies to a foreign key only`},
		{"set_null on required", table("    columns:\n      a: {type: text, references: employee, required: true, on_delete: set_null}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: on_delete: set_null cannot clear a required column`},
		{"required not a bool", table("    columns:\n      a: {type: text, required: sometimes}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: required must be true or false, not "sometimes"`},
		{"default not an integer", table("    columns:\n      a: {type: integer, default: many}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: default "many" is not an integer (write a whole number, like 0)`},
		{"default a fraction for an integer", table("    columns:\n      a: {type: integer, default: 1.5}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: default "1.5" is not an integer`},
		{"default not a real", table("    columns:\n      a: {type: real, default: lots}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: default "lots" is not a real (write a number, like 0.5)`},
		{"default infinite real", table("    columns:\n      a: {type: real, default: inf}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: default "inf" is not a real`},
		{"default not a boolean", table("    columns:\n      a: {type: boolean, default: 1}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: default "1" is not a boolean (write true or false)`},
		{"default not a timestamp", table("    columns:\n      a: {type: timestamp, default: yesterday}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: default "yesterday" is not a timestamp (write RFC 3339 in UTC, like 2026-12-01T09:30:00Z`},
		{"default of a file column", table("    columns:\n      a: {type: file, default: x}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: a file column takes no default`},
		{"default of a foreign key", table("    columns:\n      a: {references: employee, default: ann}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: a foreign key takes no default`},
		{"default empty", table("    columns:\n      a: {type: text, default: }\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: default must be a single value, not an empty value`},
		{"default a list", table("    columns:\n      a: {type: text, default: [x]}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: default must be a single value, not a list`},
		{"default text with a nul", table("    columns:\n      a: {type: text, default: \"x\\0y\"}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: default: text holds a NUL byte at byte 1`},
		{"misspelt default", table("    columns:\n      a: {type: text, defualt: x}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: unknown key "defualt" (did you mean default?)`},

		// unique keys
		{"unique on missing column", table("    columns: {a: text}\n    unique: [[b]]\n    visibility: [all]\n"), `bad.yaml:15: table "thing": unique key names unknown column "b"`},
		{"unique as a flat list", table("    columns: {a: text, b: text}\n    unique: [a, b]\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": unique is a list of keys, each a list of columns: write unique: [[a, b]] for one key`},
		{"unique as a value", table("    columns: {a: text}\n    unique: a\n    visibility: [all]\n"), `bad.yaml:15: table "thing": unique must be a list of keys, each a list of columns, like [[login]], not "a"`},
		{"empty unique key", table("    columns: {a: text}\n    unique: [[a], []]\n    visibility: [all]\n"), `bad.yaml:15: table "thing": a unique key is a list of one or more columns, like [login], not a list`},
		{"column twice in a unique key", table("    columns: {a: text}\n    unique: [[a, a]]\n    visibility: [all]\n"), `bad.yaml:15: table "thing": unique key names column a twice`},

		// visibility
		{"visibility all without a list", table("    columns: {a: text}\n    visibility: all\n"), `bad.yaml:15: table "thing": visibility is a list of rules: write visibility: [all]`},
		{"visibility as a value", table("    columns: {a: text}\n    visibility: public\n"), `bad.yaml:15: table "thing": visibility must be a list of rules or private, not "public"`},
		{"visibility as a mapping", table("    columns: {a: text}\n    visibility: {parent: a}\n"), `bad.yaml:15: table "thing": visibility must be a list of rules or private, not a mapping`},
		{"empty visibility", table("    columns: {a: text}\n    visibility: []\n"), `bad.yaml:15: table "thing": visibility lists no rules`},
		{"private in the list", table("    columns: {a: text}\n    visibility: [private]\n"), `bad.yaml:15: table "thing": private is not a rule: write visibility: private in place of the list`},
		{"unknown rule kind", table("    columns: {a: text}\n    visibility:\n      - owns: a\n"), `bad.yaml:16: table "thing": unknown visibility rule "owns" (expected all, owner, position, parent, referenced_by)`},
		{"misspelt rule kind", table("    columns: {a: text}\n    visibility:\n      - parnet: a\n"), `bad.yaml:16: table "thing": unknown visibility rule "parnet" (did you mean parent?)`},
		{"unknown bare rule", table("    columns: {a: text}\n    visibility: [everyone]\n"), `bad.yaml:15: table "thing": unknown visibility rule "everyone"`},
		{"rule without argument", table("    columns: {a: text}\n    visibility: [owner]\n"), `bad.yaml:15: table "thing": rule owner needs a column: write - owner: COLUMN`},
		{"all with an argument", table("    columns: {a: text}\n    visibility:\n      - all: yes\n"), `bad.yaml:16: table "thing": the rule all takes no argument`},
		{"two rules in one item", table("    columns: {a: text}\n    visibility:\n      - {owner: a, parent: a}\n"),
			`bad.yaml:16: table "thing": a rule is one kind and its argument, like - parent: account_id (one rule per list item)`},
		{"rule argument a list", table("    columns: {a: text}\n    visibility:\n      - parent: [a]\n"), `bad.yaml:16: table "thing": rule parent must be a single value, not a list`},
		{"owner on missing column", table("    columns: {a: text}\n    visibility:\n      - owner: b\n"), `bad.yaml:16: table "thing": rule owner names unknown column "b"`},
		{"owner on a number", table("    columns: {a: integer}\n    visibility:\n      - owner: a\n"), `bad.yaml:16: table "thing": rule owner: column a must be text (it holds an employee id), not integer`},
		{"owner on an fk to another table", table("    columns:\n      a: {type: text, references: position}\n    visibility:\n      - owner: a\n"),
			`bad.yaml:17: table "thing": rule owner: column a references position, not the employee table "employee"`},
		{"position on missing column", table("    columns: {a: text}\n    visibility:\n      - position: b\n"), `bad.yaml:16: table "thing": rule position names unknown column "b"`},
		{"position on an fk to another table", table("    columns:\n      a: {type: text, references: employee}\n    visibility:\n      - position: a\n"),
			`bad.yaml:17: table "thing": rule position: column a must be a foreign key to the position table "position"`},
		{"position without nodes.positions", strings.Replace(table("    columns:\n      a: {type: text, references: position}\n    visibility:\n      - position: a\n"), "  positions: position.employee_id\n", "", 1),
			`bad.yaml:16: table "thing": rule position needs nodes: positions: TABLE.COLUMN`},
		{"parent on missing column", table("    columns: {a: text}\n    visibility:\n      - parent: b\n"), `bad.yaml:16: table "thing": rule parent names unknown column "b"`},
		{"parent on a non-fk", table("    columns: {a: text}\n    visibility:\n      - parent: a\n"), `bad.yaml:16: table "thing": rule parent: column a is not a foreign key (give it references: TABLE)`},
		{"referenced_by not dotted", table("    columns: {a: text}\n    visibility:\n      - referenced_by: position\n"),
			`bad.yaml:16: table "thing": rule referenced_by "position" must be TABLE.COLUMN`},
		{"referenced_by missing table", table("    columns: {a: text}\n    visibility:\n      - referenced_by: positon.thing_id\n"),
			`bad.yaml:16: table "thing": rule referenced_by names unknown table "positon" (did you mean position?)`},
		{"referenced_by missing column", table("    columns: {a: text}\n    visibility:\n      - referenced_by: position.thing_id\n"),
			`bad.yaml:16: table "thing": rule referenced_by names unknown column position.thing_id`},
		{"referenced_by wrong target", table("    columns: {a: text}\n    visibility:\n      - referenced_by: position.employee_id\n"),
			`bad.yaml:16: table "thing": rule referenced_by: column position.employee_id is not a foreign key to thing`},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("two cases named %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			s, err := schema.Parse("bad.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted, with tables %v", s.Tables)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n%v\nwant it to contain\n%s", err, tc.want)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !errLine.MatchString(line) {
					t.Errorf("error line %q is not FILE:LINE: REASON", line)
				}
			}
			if !errors.Is(err, fieldsync.ErrInvalid) {
				t.Error("error does not wrap fieldsync.ErrInvalid")
			}
			var one *schema.Error
			if !errors.As(err, &one) || one.File != "bad.yaml" || one.Line == 0 {
				t.Errorf("errors.As *schema.Error: %+v", one)
			}
		})
	}
}

// TestAllErrorsAtOnce checks that every problem is reported, one per line in
// line order, and that one mistake does not set off a cascade of others.
func TestAllErrorsAtOnce(t *testing.T) {
	_, err := schema.Parse("bad.yaml", []byte(base+`  Thing:
    columns:
      x: txt
      y: {type: text, references: nope}
    visibility:
      - sometimes
      - parent: x
  other:
    columns:
      thing_id: {type: text, references: Thing}
    visibility:
      - parent: thing_id
      - referenced_by: Thing.y
      - referenced_by: position.employee_id
    visiblity: [all]
`))
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		`bad.yaml:13: table "Thing" is not a valid name: use lowercase letters, digits and _, starting with a letter, at most 63 characters`,
		`bad.yaml:15: table "Thing": column x: unknown type "txt" (did you mean text?)`,
		`bad.yaml:16: table "Thing": foreign key y references unknown table "nope"`,
		`bad.yaml:18: table "Thing": unknown visibility rule "sometimes" (expected all, owner, position, parent, referenced_by)`,
		`bad.yaml:26: table "other": rule referenced_by: column position.employee_id is not a foreign key to other`,
		`bad.yaml:27: table "other": unknown key "visiblity" (did you mean visibility?)`,
	}
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Fatalf("errors:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	var all schema.Errors
	if !errors.As(err, &all) || len(all) != len(want) || all[0].Line != 13 || all[0].File != "bad.yaml" {
		t.Fatalf("errors.As Errors: %v", all)
	}
}

// TestNoCascades checks that one mistake is reported once, not again by
// everything that depends on it.
func TestNoCascades(t *testing.T) {
	table := func(body string) string { return base + "  thing:\n" + body }
	cases := []struct{ name, yaml, want string }{
		{"misspelt visibility key", table("    columns: {a: text}\n    visiblity: [all]\n"),
			`bad.yaml:15: table "thing": unknown key "visiblity" (did you mean visibility?)`},
		{"misspelt columns key", table("    colums: {a: text}\n    unique: [[a]]\n    visibility:\n      - parent: a\n"),
			`bad.yaml:14: table "thing": unknown key "colums" (did you mean columns?)`},
		{"columns not a mapping", table("    columns: [a]\n    visibility:\n      - owner: a\n"),
			`bad.yaml:14: table "thing": columns must be a mapping, not a list`},
		{"column of unknown type used by rules", table("    columns: {a: txt}\n    unique: [[a]]\n    visibility:\n      - owner: a\n  other:\n    columns: {x: text}\n    visibility:\n      - referenced_by: thing.a\n"),
			`bad.yaml:14: table "thing": column a: unknown type "txt" (did you mean text?)`},
		{"foreign key to unknown table used by rules", table("    columns:\n      a: {type: text, references: nope}\n    visibility:\n      - parent: a\n  other:\n    columns: {x: text}\n    visibility:\n      - referenced_by: thing.a\n"),
			`bad.yaml:15: table "thing": foreign key a references unknown table "nope"`},
		{"bad table name still declares the table", base + "  Thing:\n    columns: {a: text}\n    visibility: [all]\n  other:\n    columns:\n      thing_id: {type: text, references: Thing}\n    visibility:\n      - parent: thing_id\n",
			`bad.yaml:13: table "Thing" is not a valid name: use lowercase letters, digits and _, starting with a letter, at most 63 characters`},
		{"misspelt tables key", strings.Replace(base, "tables:", "tabels:", 1), `bad.yaml:5: unknown key "tabels" (did you mean tables?)`},
		{"misspelt nodes key", strings.Replace(base, "nodes:", "node:", 1), `bad.yaml:2: unknown key "node" (did you mean nodes?)`},
		{"misspelt version key", strings.Replace(base, "fieldsync_schema:", "fieldsync_shema:", 1), `bad.yaml:1: unknown key "fieldsync_shema" (did you mean fieldsync_schema?)`},
		{"misspelt type key", table("    columns:\n      a: {tpye: text}\n    visibility:\n      - owner: a\n"),
			`bad.yaml:15: table "thing": column a: unknown key "tpye" (did you mean type?)`},
		{"misspelt references key without a type", table("    columns:\n      a: {refrences: employee}\n    visibility:\n      - parent: a\n"),
			`bad.yaml:15: table "thing": column a: unknown key "refrences" (did you mean references?)`},
		{"bad references without a type", table("    columns:\n      a: {references: employee.name}\n    visibility: [all]\n"),
			`bad.yaml:15: table "thing": column a: references "employee.name": a foreign key holds the id of a row of another table; write references: employee`},
		{"missing tables", "fieldsync_schema: 1\nnodes: {employee: employee, positions: position.employee_id}\n",
			`bad.yaml:1: missing tables (the synchronized tables, each with its columns and visibility)`},
		{"bad positions binding used by rules", strings.Replace(table("    columns:\n      a: {type: text, references: position}\n    visibility:\n      - position: a\n"), "position.employee_id", "position.nobody", 1),
			`bad.yaml:4: nodes: positions names unknown column position.nobody`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := schema.Parse("bad.yaml", []byte(tc.yaml))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error:\n%v\nwant exactly:\n%s", err, tc.want)
			}
		})
	}
}

// TestDocExamples parses every complete schema in docs/schema.md, so the
// documentation cannot drift from the code: an example followed by a block of
// FILE:LINE: errors must fail with exactly those errors, any other must parse.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "schema.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?ms)^ *```(\\w*)\n(.*?)^ *```").FindAllStringSubmatch(string(doc), -1)
	errorsBlock := regexp.MustCompile(`^(\S+):[0-9]+: `)
	n := 0
	for i, b := range blocks {
		if b[1] != "yaml" || !strings.HasPrefix(b[2], "fieldsync_schema:") {
			continue
		}
		n++
		name, want := "example.yaml", ""
		if i+1 < len(blocks) && blocks[i+1][1] == "" {
			if m := errorsBlock.FindStringSubmatch(blocks[i+1][2]); m != nil {
				name, want = m[1], strings.TrimSuffix(blocks[i+1][2], "\n")
			}
		}
		_, err := schema.Parse(name, []byte(b[2]))
		switch {
		case want == "" && err != nil:
			t.Errorf("example %d does not parse:\n%s\n%v", n, b[2], err)
		case want != "" && (err == nil || err.Error() != want):
			t.Errorf("example %d:\n%s\nerrors:\n%v\nthe documentation shows:\n%s", n, b[2], err, want)
		}
	}
	if n == 0 {
		t.Fatal("docs/schema.md has no complete example")
	}
}

// TestCRMNodeWrites: the built-in schema narrows what nodes write where the
// server decides.
func TestCRMNodeWrites(t *testing.T) {
	s := schema.Default()
	for _, w := range []struct {
		table   string
		write   bool
		delete  bool
		servers []string
	}{
		{"employee", false, false, nil},
		{"position", false, false, nil},
		{"account", true, false, nil},
		{"account_team", true, false, nil},
		{"contact", true, true, nil},
		{"opportunity", true, false, []string{"campaign_id"}},
		{"opportunity_team", true, false, nil},
		{"activity", true, true, nil},
		{"attachment", true, true, nil},
	} {
		tb := s.Table(w.table)
		if tb.RemoteWrite != w.write || tb.RemoteDelete() != w.delete || !slices.Equal(tb.ServerColumns, w.servers) {
			t.Errorf("%s: remote write %v, delete %v, server columns %v", w.table, tb.RemoteWrite, tb.RemoteDelete(), tb.ServerColumns)
		}
	}
}
