package server_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/server"
)

// notesPlusYAML is NotesYAML with a column and a table more.
var notesPlusYAML = strings.Replace(testutil.NotesYAML, "      color: text\n", "      color: text\n      size: integer\n", 1) +
	"  memo:\n    columns: {body: text}\n    visibility: [all]\n"

func parseSchema(t *testing.T, name, text string) *fieldsync.Schema {
	t.Helper()
	s, err := schema.Parse(name, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openServer(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	srv, err := server.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// rawDB is the server database's connection pool.
func rawDB(srv *server.Server) *sql.DB { return srv.Store().(interface{ DB() *sql.DB }).DB() }

// TestSchemaStoredInDatabase: a server started without a schema runs the
// one the database recorded, and a changed schema is recorded and said.
func TestSchemaStoredInDatabase(t *testing.T) { testutil.ForBackends(t, testSchemaStoredInDatabase) }

func testSchemaStoredInDatabase(t *testing.T, b testutil.Backend) {
	dir, db := t.TempDir(), b.DB(t)
	srv := openServer(t, server.Config{DataDir: dir, DB: db, Schema: parseSchema(t, "notes.yaml", testutil.NotesYAML)})
	if c := srv.Store().(interface{ SchemaChange() string }).SchemaChange(); c != "" {
		t.Fatalf("a new database reports a schema change: %q", c)
	}
	srv.Close()

	srv = openServer(t, server.Config{DataDir: dir, DB: db})
	if s := srv.Store().Schema(); s.Table("note") == nil || s.Table("account") != nil || s.Source != "notes.yaml" {
		t.Fatalf("restarted without a schema, the server runs %s with tables %v", s.Source, tableNames(s))
	}
	if _, err := rawDB(srv).Exec("SELECT COUNT(*) FROM account"); err == nil {
		t.Fatal("the built-in schema's table account was created")
	}
	srv.Close()

	srv = openServer(t, server.Config{DataDir: dir, DB: db, Schema: parseSchema(t, "notes2.yaml", notesPlusYAML)})
	type changer interface{ SchemaChange() string }
	if c := srv.Store().(changer).SchemaChange(); c != "table note: added column size; added table memo" {
		t.Fatalf("schema change %q", c)
	}
	srv.Close()
	srv = openServer(t, server.Config{DataDir: dir, DB: db})
	defer srv.Close()
	if c := srv.Store().(changer).SchemaChange(); c != "" || srv.Store().Schema().Table("memo") == nil {
		t.Fatalf("after the change, a start without a schema: change %q, tables %v", c, tableNames(srv.Store().Schema()))
	}
}

func tableNames(s *fieldsync.Schema) []string {
	var names []string
	for _, t := range s.Tables {
		names = append(names, t.Name)
	}
	return names
}

// TestSchemaOfEarlierBuild: a database an earlier build set up records
// only its schema's fingerprint and columns. Started without a schema, it
// runs the built-in one if that is what it holds, and is refused otherwise.
func TestSchemaOfEarlierBuild(t *testing.T) { testutil.ForBackends(t, testSchemaOfEarlierBuild) }

func testSchemaOfEarlierBuild(t *testing.T, b testutil.Backend) {
	forget := func(srv *server.Server) {
		t.Helper()
		if _, err := rawDB(srv).Exec("DELETE FROM fs_meta WHERE key IN ('schema_yaml', 'schema_source', 'schema_sha256')"); err != nil {
			t.Fatal(err)
		}
		srv.Close()
	}
	dir, db := t.TempDir(), b.DB(t)
	forget(openServer(t, server.Config{DataDir: dir, DB: db}))
	srv := openServer(t, server.Config{DataDir: dir, DB: db})
	if srv.Store().Schema().Table("account") == nil {
		t.Fatal("a database of the built-in schema does not run it")
	}
	srv.Close()

	dir, db = t.TempDir(), b.DB(t)
	forget(openServer(t, server.Config{DataDir: dir, DB: db, Schema: parseSchema(t, "notes.yaml", testutil.NotesYAML)}))
	_, err := server.Open(context.Background(), server.Config{DataDir: dir, DB: db})
	if !errors.Is(err, fieldsync.ErrSchemaMismatch) || !strings.Contains(err.Error(), "start once with that schema (--schema FILE) to record it") {
		t.Fatalf("a database of another schema, started without one: %v", err)
	}
}

// TestClaimRouterPartitions: one router partition runs in one server of a
// data folder at a time; another partition, or no router, is fine; a
// different number of partitions is refused.
func TestClaimRouterPartitions(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	router := func(parts, part int, only ...string) *server.Server {
		srv := openServer(t, server.Config{DataDir: dir, Only: append(only, server.Router), RouterPartitions: parts, RouterPartition: part, NoTokenFile: true})
		t.Cleanup(func() { srv.Close() })
		return srv
	}
	first := router(2, 0)
	if err := first.Claim(ctx); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("data folder %s is in use by fieldsync server pid %d (components router; router partition 0 of 2): stop it first or run other components with --only (or another --router-partition)", dir, os.Getpid())
	again := router(2, 0, server.Merger)
	if err := again.Claim(ctx); err == nil || err.Error() != want {
		t.Fatalf("the same partition again: %v\nwant %s", err, want)
	}
	if err := router(2, -1).Claim(ctx); err == nil || !strings.Contains(err.Error(), "router partition 0 of 2") {
		t.Fatalf("all partitions beside partition 0: %v", err)
	}
	if err := router(2, 1).Claim(ctx); err != nil {
		t.Fatalf("the other partition: %v", err)
	}
	if err := router(3, 2).Claim(ctx); err == nil || !strings.Contains(err.Error(), "which splits the Transaction Router into 2 partitions, not 3: give every process the same --router-partitions") {
		t.Fatalf("another number of partitions: %v", err)
	}
	api := openServer(t, server.Config{DataDir: dir, Only: []string{server.API, server.Sync, server.Processor}, NoTokenFile: true})
	defer api.Close()
	if err := api.Claim(ctx); err != nil {
		t.Fatalf("components without a router: %v", err)
	}
	first.Close()
	if err := again.Claim(ctx); err != nil {
		t.Fatalf("the partition once its server closed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "locks", "router-0.lock")); err != nil {
		t.Fatal(err)
	}
}

// TestTokensOfOthersKept: a server with a token of its own
// (NoTokenFile), a configured one or another data folder on the same
// database revokes no token another uses; its own token made for itself
// ends with it.
func TestTokensOfOthersKept(t *testing.T) { testutil.ForBackends(t, testTokensOfOthersKept) }

func testTokensOfOthersKept(t *testing.T, b testutil.Backend) {
	dir, db := t.TempDir(), b.DB(t)
	ctx := context.Background()
	srv := openServer(t, server.Config{DataDir: dir, DB: db})
	defer srv.Close()
	valid := func(token string) bool {
		_, err := srv.Store().TokenRole(ctx, fieldsync.HashSecret(token))
		if err != nil && !errors.Is(err, fieldsync.ErrUnauthorized) {
			t.Fatal(err)
		}
		return err == nil
	}
	own := openServer(t, server.Config{DataDir: dir, DB: db, NoTokenFile: true})
	if !valid(own.Token()) || !valid(srv.Token()) {
		t.Fatal("a NoTokenFile server's token, or the token file's, does not work")
	}
	own.Close()
	if valid(own.Token()) || !valid(srv.Token()) {
		t.Fatal("after a NoTokenFile server closed: its token works, or the token file's does not")
	}
	configured := openServer(t, server.Config{DataDir: dir, DB: db, AdminToken: "configured"})
	configured.Close()
	if !valid("configured") || !valid(srv.Token()) {
		t.Fatal("a configured token beside the token file's")
	}
	if db != "" {
		other := openServer(t, server.Config{DataDir: t.TempDir(), DB: db})
		other.Close()
		if other.Token() == srv.Token() || !valid(other.Token()) || !valid(srv.Token()) {
			t.Fatal("a second data folder on the database: both tokens should work")
		}
	}
}
