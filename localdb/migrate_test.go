package localdb_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/localdb"
	"github.com/fieldsync/fieldsync/schema"
)

// crmV2 is the built-in CRM schema's text as a server's next version might
// change it: the product and attachment tables dropped, contact.phone and
// activity.account_id dropped (the latter a foreign key, indexed), a region
// table added, account.tier, contact.status (required), contact.vip and
// opportunity.probability added with defaults, and the foreign key
// activity.contact_id added.
func crmV2(t *testing.T) []byte {
	t.Helper()
	y := string(schema.DefaultYAML())
	for _, r := range [][2]string{
		{"  product:\n    columns:\n      name: {type: text, required: true}\n      price: real\n    visibility: [all]\n\n", ""},
		{"  attachment:\n    columns:\n      opportunity_id: {type: text, references: opportunity, on_delete: cascade}\n", "  region:\n    columns:\n"},
		{"      file_name: text\n      file: file   # content hash and size; the bytes live in the server's file store\n" +
			"      mode: text   # published, requested or broadcast (broadcast rows only the server writes)\n    visibility:\n      - parent: opportunity_id\n    remote_write: true\n",
			"      name: text\n    visibility: [all]\n"},
		{"      phone: text\n", "      status: {type: text, required: true, default: active}\n      vip: {type: boolean, default: false}\n"},
		{"      industry: text\n", "      industry: text\n      tier: {type: text, default: standard}\n"},
		{"      stage: text\n", "      stage: text\n      probability: {type: integer, default: 10}\n"},
		{"      account_id: {type: text, references: account, on_delete: cascade}\n      owner_id:",
			"      contact_id: {type: text, references: contact, on_delete: set_null}\n      owner_id:"},
		{"      - parent: account_id       # and of the accounts I see\n", ""},
	} {
		if !strings.Contains(y, r[0]) {
			t.Fatalf("the built-in schema no longer has %q", r[0])
		}
		y = strings.Replace(y, r[0], r[1], 1)
	}
	return []byte(y)
}

func parseV2(t *testing.T, yaml []byte) *fieldsync.Schema {
	t.Helper()
	s, err := schema.Parse("crm-v2.yaml", yaml)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// crmRows is a small CRM extract of ann: her position on the team of the
// account acme and of its opportunity o1, a contact, an activity, a
// product and an attachment.
var crmRows = map[string][]fieldsync.Row{
	"employee":         {{"id": "ann", "name": "Ann", "login": "ann"}},
	"position":         {{"id": "p1", "name": "Rep", "employee_id": "ann"}},
	"account":          {{"id": "acme", "name": "Acme"}},
	"account_team":     {{"id": "at1", "account_id": "acme", "position_id": "p1"}},
	"contact":          {{"id": "k1", "account_id": "acme", "first_name": "Kay", "phone": "555"}},
	"opportunity":      {{"id": "o1", "name": "Deal", "account_id": "acme"}},
	"opportunity_team": {{"id": "ot1", "opportunity_id": "o1", "position_id": "p1"}},
	"activity":         {{"id": "a1", "opportunity_id": "o1", "account_id": "acme", "owner_id": "ann", "type": "call"}},
	"product":          {{"id": "pr1", "name": "Widget", "price": 9.5}},
	"attachment":       {{"id": "f1", "opportunity_id": "o1", "file_name": "a.txt"}},
}

// openCRM builds and opens ann's CRM database at seq 10.
func openCRM(t *testing.T) (*localdb.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "local.db")
	build(t, path, schema.Default(), 10, crmRows)
	db, err := localdb.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func marker(seq, version int64, yaml []byte) fieldsync.Txn {
	t := fieldsync.SchemaMarker(fieldsync.SchemaVersion{Version: version, Source: "crm-v2.yaml", YAML: yaml})
	t.Seq = seq
	return t
}

func ins(seq int64, table string, row fieldsync.Row) fieldsync.Txn {
	return fieldsync.Txn{Seq: seq, Op: fieldsync.OpInsert, Table: table, RowID: row.ID(), Values: row}
}

// sqliteFile reads the file's tables, columns and indexes as SQLite has
// them, on a connection of its own.
type sqliteFile struct {
	t  *testing.T
	db *sql.DB
}

func readFile(t *testing.T, path string) *sqliteFile {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &sqliteFile{t: t, db: db}
}

func (f *sqliteFile) names(q string, args ...any) []string {
	f.t.Helper()
	rows, err := f.db.Query(q, args...)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func (f *sqliteFile) columns(table string) []string {
	return f.names("SELECT name FROM pragma_table_info(?1) ORDER BY name", table)
}

func (f *sqliteFile) exists(kind, name string) bool {
	return len(f.names("SELECT name FROM sqlite_master WHERE type = ?1 AND name = ?2", kind, name)) > 0
}

func get(t *testing.T, db *localdb.DB, table, id string) fieldsync.Row {
	t.Helper()
	r, err := db.Get(context.Background(), table, id)
	if err != nil {
		t.Fatalf("%s %s: %v", table, id, err)
	}
	return r
}

// pendingChanges makes ann's changes before the marker: two packaged into
// upload 1 (an attachment inserted, a contact's phone and name changed),
// and three not packaged yet (the phone alone, a new contact with a phone,
// another attachment).
func pendingChanges(t *testing.T, db *localdb.DB) {
	t.Helper()
	ctx := context.Background()
	apply := func(ch fieldsync.Change) []fieldsync.Txn {
		t.Helper()
		txns, err := db.Apply(ctx, ch)
		if err != nil {
			t.Fatalf("local change %v: %v", ch, err)
		}
		return txns
	}
	up := apply(fieldsync.Insert("attachment", map[string]any{"id": "f2", "opportunity_id": "o1", "file_name": "b.txt"}))
	up = append(up, apply(fieldsync.Update("contact", "k1", map[string]any{"phone": "556", "first_name": "Kim"}))...)
	if err := db.RecordUpload(ctx, 1, up); err != nil {
		t.Fatal(err)
	}
	apply(fieldsync.Update("contact", "k1", map[string]any{"phone": "557"}))
	apply(fieldsync.Insert("contact", map[string]any{"id": "k2", "account_id": "acme", "first_name": "New", "phone": "1"}))
	apply(fieldsync.Insert("attachment", map[string]any{"id": "f3", "opportunity_id": "o1", "file_name": "c.txt"}))
}

// TestMigrateInPlace: an inbox file whose schema-change marker names a
// newer version migrates the database in the applying transaction: tables
// and columns added (defaults in the rows held) and dropped, foreign keys
// indexed, the header's schema and version the new ones; the rows after the
// marker apply under it; the node's pending changes stay, without the
// values of dropped columns, and those of a dropped table not yet packaged
// are dropped; a reopened database has the new version.
func TestMigrateInPlace(t *testing.T) {
	ctx := context.Background()
	db, path := openCRM(t)
	pendingChanges(t, db)
	v2 := crmV2(t)
	file := []fieldsync.Txn{
		{Seq: 11, Op: fieldsync.OpUpdate, Table: "contact", RowID: "k1", Values: fieldsync.Row{"last_name": "Before"}},
		marker(12, 2, v2),
		ins(13, "region", fieldsync.Row{"id": "north", "name": "North"}),
		ins(14, "account", fieldsync.Row{"id": "globex", "name": "Globex", "tier": "gold"}),
		ins(15, "activity", fieldsync.Row{"id": "a2", "contact_id": "k1", "owner_id": "ann", "type": "visit"}),
		ins(16, "product", fieldsync.Row{"id": "pr2", "name": "Gone"}), // a table of no version the node has now: skipped
	}
	if ok, err := db.ApplyInbox(ctx, 1, file, nil); err != nil || !ok {
		t.Fatalf("apply the file with the marker: %v %v", ok, err)
	}
	want := parseV2(t, v2)
	if db.SchemaVersion() != 2 || db.Schema().Fingerprint() != want.Fingerprint() {
		t.Fatalf("schema in force: version %d, fingerprint %.12s, want 2 and %.12s", db.SchemaVersion(), db.Schema().Fingerprint(), want.Fingerprint())
	}
	checkV2Data(t, db, path)
	checkV2Pending(t, db)
	for _, h := range []localdb.Header{db.Header(), readHeaderOf(t, path)} {
		if h.SchemaVersion != 2 || h.SchemaFingerprint != want.Fingerprint() || h.SchemaYAML != string(v2) || h.SchemaSource != "crm-v2.yaml" || h.ExtractSeq != 10 {
			t.Fatalf("header after the migration: version %d source %s fingerprint %.12s seq %d", h.SchemaVersion, h.SchemaSource, h.SchemaFingerprint, h.ExtractSeq)
		}
	}
	db.Close()
	db, err := localdb.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen after the migration: %v", err)
	}
	defer db.Close()
	if db.SchemaVersion() != 2 || db.Schema().Fingerprint() != want.Fingerprint() {
		t.Fatalf("reopened: version %d, fingerprint %.12s", db.SchemaVersion(), db.Schema().Fingerprint())
	}
	checkV2Data(t, db, path)
	checkV2Pending(t, db)
}

func readHeaderOf(t *testing.T, path string) localdb.Header {
	t.Helper()
	h, err := localdb.ReadHeader(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// checkV2Data checks the tables, columns, indexes and rows of the file
// after the migration to crmV2.
func checkV2Data(t *testing.T, db *localdb.DB, path string) {
	t.Helper()
	f := readFile(t, path)
	for _, gone := range []string{"product", "attachment"} {
		if f.exists("table", gone) {
			t.Errorf("table %s not dropped", gone)
		}
	}
	for table, cols := range map[string][]string{
		"contact":  {"account_id", "email", "first_name", "id", "last_name", "status", "vip"},
		"activity": {"contact_id", "description", "due", "id", "opportunity_id", "owner_id", "type"},
		"region":   {"id", "name"},
		"account":  {"id", "industry", "name", "tier"},
	} {
		if got := f.columns(table); !slices.Equal(got, cols) {
			t.Errorf("columns of %s: %v, want %v", table, got, cols)
		}
	}
	if !f.exists("index", "fs_ix_activity_contact_id") || f.exists("index", "fs_ix_activity_account_id") || !f.exists("index", "fs_ix_activity_opportunity_id") {
		t.Errorf("activity's indexes: %v", f.names("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'activity'"))
	}
	if f.exists("index", "fs_ux_employee_login") {
		t.Error("a local database enforces no unique key")
	}
	acme, globex, k1 := get(t, db, "account", "acme"), get(t, db, "account", "globex"), get(t, db, "contact", "k1")
	if acme["tier"] != "standard" || globex["tier"] != "gold" {
		t.Errorf("tier: acme %v (the default), globex %v (sent)", acme["tier"], globex["tier"])
	}
	if k1["status"] != "active" || k1["vip"] != false || k1["first_name"] != "Kim" || k1["last_name"] != "Before" {
		t.Errorf("contact k1: %v", k1)
	}
	if _, has := k1["phone"]; has {
		t.Errorf("contact k1 still has a phone: %v", k1)
	}
	if o1 := get(t, db, "opportunity", "o1"); o1["probability"] != int64(10) {
		t.Errorf("opportunity o1's probability %v (%T), want the default 10", o1["probability"], o1["probability"])
	}
	if r := get(t, db, "region", "north"); r["name"] != "North" {
		t.Errorf("region north: %v", r)
	}
	if a2 := get(t, db, "activity", "a2"); a2["contact_id"] != "k1" {
		t.Errorf("activity a2: %v", a2)
	}
	if _, err := db.Get(context.Background(), "product", "pr1"); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Errorf("a dropped table still reads: %v", err)
	}
}

// checkV2Pending checks the local log after the migration to crmV2: of
// the changes not packaged, the new contact (without its phone) is what
// the next upload is built from; the update of the phone alone and the
// attachment are gone. Upload 1 keeps its two changes, the attachment's
// emptied and the contact's without the phone.
func checkV2Pending(t *testing.T, db *localdb.DB) {
	t.Helper()
	ctx := context.Background()
	ls, err := db.LogState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next, err := db.ReadLog(ctx, ls.Trimmed, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if ls.Pending != 1 || len(next) != 1 || next[0].Table != "contact" || next[0].RowID != "k2" {
		t.Fatalf("pending after the migration: %d, %+v", ls.Pending, next)
	}
	if _, has := next[0].Values["phone"]; has || next[0].Values["first_name"] != "New" {
		t.Fatalf("the new contact's values: %v", next[0].Values)
	}
	up, _, ok, err := db.UploadChanges(ctx, 1)
	if err != nil || !ok || len(up) != 2 {
		t.Fatalf("upload 1 from the log: %v %v %+v", ok, err, up)
	}
	if up[0].Table != "attachment" || up[0].Values != nil || up[1].Table != "contact" || up[1].Values["first_name"] != "Kim" {
		t.Fatalf("upload 1 from the log: %+v", up)
	}
	if _, has := up[1].Values["phone"]; has {
		t.Fatalf("upload 1's contact change kept the phone: %v", up[1].Values)
	}
}

// TestMigrateMarkerAgain: a marker whose version is not newer than the
// database's is skipped, even with other text (a file applied again after
// a crash); a marker without schema text (an upload's) is refused as
// damaged input, and nothing of its file is applied.
func TestMigrateMarkerAgain(t *testing.T) {
	ctx := context.Background()
	db, path := openCRM(t)
	v2 := crmV2(t)
	if _, err := db.ApplyInbox(ctx, 1, []fieldsync.Txn{marker(11, 2, v2)}, nil); err != nil {
		t.Fatal(err)
	}
	other := []byte(strings.Replace(string(v2), "      tier: text\n", "", 1))
	file := []fieldsync.Txn{marker(12, 2, other), marker(13, 1, other),
		{Seq: 14, Op: fieldsync.OpUpdate, Table: "account", RowID: "acme", Values: fieldsync.Row{"tier": "platinum"}}}
	if ok, err := db.ApplyInbox(ctx, 2, file, nil); err != nil || !ok {
		t.Fatalf("the marker again: %v %v", ok, err)
	}
	if acme := get(t, db, "account", "acme"); acme["tier"] != "platinum" || db.SchemaVersion() != 2 {
		t.Fatalf("after the marker again: version %d, acme %v", db.SchemaVersion(), acme)
	}
	if !slices.Contains(readFile(t, path).columns("account"), "tier") {
		t.Fatal("the marker of the same version migrated again")
	}

	bare := fieldsync.SchemaMarker(fieldsync.SchemaVersion{Version: 3})
	bare.Seq = 16
	file = []fieldsync.Txn{{Seq: 15, Op: fieldsync.OpUpdate, Table: "account", RowID: "acme", Values: fieldsync.Row{"name": "Changed"}}, bare}
	_, err := db.ApplyInbox(ctx, 3, file, nil)
	if !errors.Is(err, fieldsync.ErrDamagedFile) || !strings.Contains(err.Error(), "no schema text") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("a marker without schema text: %v", err)
	}
	if acme := get(t, db, "account", "acme"); acme["name"] != "Acme" {
		t.Fatalf("the file with a bad marker was applied in part: %v", acme)
	}
	if st, _ := db.State(ctx); st.InboxApplied != 2 {
		t.Fatalf("the file with a bad marker recorded as applied: %d", st.InboxApplied)
	}
}

// TestMigrateFails: a migration that cannot be done (a column's type
// changed), or a file that fails after its marker, leaves the database,
// its header and the schema in force as they were, and the database goes
// on working under that schema.
func TestMigrateFails(t *testing.T) {
	ctx := context.Background()
	db, path := openCRM(t)
	before := db.Schema()
	retyped := strings.Replace(string(schema.DefaultYAML()), "      industry: text\n", "      industry: integer\n", 1)
	file := []fieldsync.Txn{{Seq: 11, Op: fieldsync.OpUpdate, Table: "account", RowID: "acme", Values: fieldsync.Row{"name": "Changed"}},
		marker(12, 2, []byte(retyped))}
	_, err := db.ApplyInbox(ctx, 1, file, nil)
	if !errors.Is(err, fieldsync.ErrSchemaMismatch) || !strings.Contains(err.Error(), "account.industry") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("a type change: %v", err)
	}
	// A marker that migrates, then a transaction that cannot apply.
	file = []fieldsync.Txn{marker(12, 2, crmV2(t)), ins(13, "region", fieldsync.Row{"id": "north", "name": "North"}),
		{Seq: 14, Op: "bogus", Table: "account", RowID: "acme"}}
	if _, err := db.ApplyInbox(ctx, 1, file, nil); err == nil {
		t.Fatal("a file failing after its marker applied")
	}
	if db.Schema() != before || db.SchemaVersion() != 0 {
		t.Fatalf("schema in force after the failures: version %d, same %v", db.SchemaVersion(), db.Schema() == before)
	}
	for _, h := range []localdb.Header{db.Header(), readHeaderOf(t, path)} {
		if h.SchemaVersion != 0 || h.SchemaFingerprint != before.Fingerprint() {
			t.Fatalf("header after the failures: version %d fingerprint %.12s", h.SchemaVersion, h.SchemaFingerprint)
		}
	}
	f := readFile(t, path)
	if !f.exists("table", "product") || f.exists("table", "region") || !slices.Contains(f.columns("contact"), "phone") {
		t.Fatalf("the file changed: tables %v, contact %v", f.names("SELECT name FROM sqlite_master WHERE type = 'table'"), f.columns("contact"))
	}
	// The old schema's statements work on the old tables.
	file = []fieldsync.Txn{{Seq: 11, Op: fieldsync.OpUpdate, Table: "contact", RowID: "k1", Values: fieldsync.Row{"phone": "999"}},
		ins(12, "product", fieldsync.Row{"id": "pr2", "name": "Gadget", "price": 1.5})}
	if _, err := db.ApplyInbox(ctx, 1, file, nil); err != nil {
		t.Fatalf("apply under the old schema after the failures: %v", err)
	}
	if k1 := get(t, db, "contact", "k1"); k1["phone"] != "999" {
		t.Fatalf("contact k1: %v", k1)
	}
	if pr2 := get(t, db, "product", "pr2"); pr2["price"] != 1.5 {
		t.Fatalf("product pr2: %v", pr2)
	}
}

// TestReplaceDataTakesNewSchema: a newer extract of another schema
// version is taken: the database migrates to its schema, holds its rows,
// and keeps the node's pending changes over them without the values of
// columns the schema dropped.
func TestReplaceDataTakesNewSchema(t *testing.T) {
	ctx := context.Background()
	db, path := openCRM(t)
	if _, err := db.Apply(ctx, fieldsync.Update("contact", "k1", map[string]any{"phone": "556", "first_name": "Kim"})); err != nil {
		t.Fatal(err)
	}
	v2 := parseV2(t, crmV2(t))
	extract := filepath.Join(t.TempDir(), "extract.db")
	h := localdb.Header{Node: "ann-laptop", EmployeeID: "ann", ExtractSeq: 50, SchemaVersion: 4}
	err := localdb.Build(ctx, extract, v2, h, func(insert func(string, fieldsync.Row) error) error {
		for _, ins := range []struct {
			table string
			row   fieldsync.Row
		}{
			{"employee", fieldsync.Row{"id": "ann", "name": "Ann", "login": "ann"}},
			{"account", fieldsync.Row{"id": "acme", "name": "Acme Inc", "tier": "gold"}},
			{"contact", fieldsync.Row{"id": "k1", "account_id": "acme", "first_name": "Kay", "status": "active"}},
			{"region", fieldsync.Row{"id": "north", "name": "North"}},
		} {
			if err := insert(ins.table, ins.row); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.ReplaceData(ctx, extract, nil, nil); err != nil {
		t.Fatalf("take the extract of another schema: %v", err)
	}
	if db.SchemaVersion() != 4 || db.Schema().Fingerprint() != v2.Fingerprint() || db.Header().SchemaVersion != 4 || readHeaderOf(t, path).SchemaVersion != 4 {
		t.Fatalf("schema after the extract: version %d", db.SchemaVersion())
	}
	if k1 := get(t, db, "contact", "k1"); k1["first_name"] != "Kim" || k1["status"] != "active" {
		t.Fatalf("contact k1 (the node's name over the extract's): %v", k1)
	}
	if acme := get(t, db, "account", "acme"); acme["tier"] != "gold" || acme["name"] != "Acme Inc" {
		t.Fatalf("account acme: %v", acme)
	}
	if r := get(t, db, "region", "north"); r["name"] != "North" {
		t.Fatalf("region: %v", r)
	}
	if st, _ := db.State(ctx); st.ExtractSeq != 50 {
		t.Fatalf("extract seq %d", st.ExtractSeq)
	}
	ls, _ := db.LogState(ctx)
	next, err := db.ReadLog(ctx, ls.Trimmed, 10)
	if err != nil || len(next) != 1 || next[0].Values["first_name"] != "Kim" {
		t.Fatalf("pending changes: %v %+v", err, next)
	}
	if _, has := next[0].Values["phone"]; has {
		t.Fatalf("the pending change kept a dropped column: %v", next[0].Values)
	}
}
