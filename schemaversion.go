package fieldsync

import (
	"fmt"
	"strconv"
	"time"
)

// SchemaTable names the schema-change marker: a transaction that says a
// new version of the schema is in force from its place in the flow on.
//
//   - In the Transaction Log and the txnproc files, the server's schema
//     apply writes one marker per new version, in the transaction that
//     changes the database; the Transaction Router, reaching it, switches
//     to the version's rules, sends each node the rows it now sees and
//     purges the rows it no longer sees, and copies the marker into every
//     active node's outbox before them.
//   - In an outbox file, a node applying the marker migrates its local
//     database to the version in place, in the applying transaction, and
//     applies what follows under it.
//   - As the first transaction of an upload, it says which version the
//     node's changes were made under (an upload without one was made under
//     the version in force).
//
// Names starting with fs_ are reserved, so no schema table has this name,
// and a node of an earlier build skips the marker as a row of an unknown
// table.
const SchemaTable = "fs_schema"

// SchemaVersion is one version of the schema a server database has had in
// force.
type SchemaVersion struct {
	// Version numbers the versions of one database from 1, in the order
	// they were applied.
	Version int64 `json:"version"`
	// Source names the file the schema came from; YAML is its text (not
	// in a version's JSON: the schema in force has it beside).
	Source string `json:"source"`
	YAML   []byte `json:"-"`
	// Seq is the Transaction Log sequence number of the version's marker:
	// transactions after it were made under it. 0 for the first version of
	// a database, in force from the start.
	Seq int64 `json:"seq"`
	// Applied is when it was applied (UTC); By who applied it.
	Applied time.Time `json:"applied"`
	By      string    `json:"by"`
}

// SchemaMarker returns the marker transaction of version v (Seq and Time
// are the log's to set). A marker in an upload needs only Version.
func SchemaMarker(v SchemaVersion) Txn {
	vals := Row{"id": strconv.FormatInt(v.Version, 10), "version": v.Version}
	if v.YAML != nil {
		vals["source"], vals["yaml"] = v.Source, string(v.YAML)
	}
	return Txn{Op: OpInsert, Table: SchemaTable, RowID: strconv.FormatInt(v.Version, 10), Values: vals}
}

// IsSchemaMarker reports whether t is a schema-change marker.
func IsSchemaMarker(t Txn) bool { return t.Table == SchemaTable }

// ParseSchemaMarker reads the version a marker transaction names, with its
// source and YAML text when it carries them. It fails, saying why, on a
// transaction of SchemaTable that is not a well-formed marker.
func ParseSchemaMarker(t Txn) (SchemaVersion, error) {
	if t.Table != SchemaTable || t.Op != OpInsert {
		return SchemaVersion{}, fmt.Errorf("not a schema marker: %s of %s", t.Op, t.Table)
	}
	v, ok := t.Values["version"].(int64)
	if !ok || v < 1 || t.RowID != strconv.FormatInt(v, 10) {
		return SchemaVersion{}, fmt.Errorf("schema marker %q: version %v is not a positive integer matching its id", t.RowID, t.Values["version"])
	}
	sv := SchemaVersion{Version: v, Seq: t.Seq, Applied: t.Time}
	if y, ok := t.Values["yaml"].(string); ok {
		sv.YAML = []byte(y)
		sv.Source, _ = t.Values["source"].(string)
	}
	return sv, nil
}

// SchemaPlan is what putting a new schema in force does to the server
// database, found without changing anything.
type SchemaPlan struct {
	// From is the version in force; To the version the new schema becomes
	// (From when it is the same schema).
	From, To int64
	Source   string
	// Same: the new schema is the one in force; nothing to do.
	Same bool
	// Steps are the migration steps, one line each, in the order they run.
	Steps []string
	// Refused, when not nil, is every reason the change cannot be applied,
	// one a line with the new schema file's line ("FILE:LINE: why"); a
	// refused change changes nothing. It wraps ErrSchemaMismatch.
	Refused error
}
