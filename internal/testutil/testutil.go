// Package testutil holds what several packages' tests share: a real server
// on a loopback port, and the seeds of randomized tests.
package testutil

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to make test schemas

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/postgres"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/sqlite"
)

// StartServer runs a real server (SQLite file in a temporary folder unless
// cfg says otherwise) on 127.0.0.1 and returns it with its base URL
// (https:// when cfg has a TLS certificate). It is
// stopped, and checked to stop cleanly, when the test ends.
func StartServer(t testing.TB, cfg server.Config) (*server.Server, string) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		srv.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		srv.Close()
	})
	return srv, srv.Scheme() + "://" + ln.Addr().String()
}

// Seeds returns the seeds a randomized test runs: the one given by its
// -seed flag or the FIELDSYNC_SEED environment variable (once), else n
// seeds starting from the clock. Each run logs how to replay it.
func Seeds(t *testing.T, flagSeed uint64, n int) []uint64 {
	t.Helper()
	if flagSeed != 0 {
		return []uint64{flagSeed}
	}
	if s := os.Getenv("FIELDSYNC_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FIELDSYNC_SEED=%q: %v", s, err)
		}
		return []uint64{v}
	}
	start := uint64(time.Now().UnixNano())
	out := make([]uint64, n)
	for i := range out {
		out[i] = start + uint64(i)
	}
	return out
}

// PostgresURL makes a PostgreSQL schema of its own for one test, dropped
// when the test ends, and returns a URL whose connections use it. The
// server is $FIELDSYNC_TEST_POSTGRES, else the local one on 127.0.0.1:5432
// (trust authentication). Without a reachable PostgreSQL the test skips,
// saying how to enable it; in CI (CI set) it fails instead.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("FIELDSYNC_TEST_POSTGRES")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	db, err := sql.Open("pgx", base)
	if err == nil {
		err = db.Ping()
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL not reachable at %s: %v", base, err)
		}
		t.Skipf("PostgreSQL not reachable (%v): start it, or set FIELDSYNC_TEST_POSTGRES=postgres://..., to run this test", err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "fs_test_" + hex.EncodeToString(b[:])
	if _, err := db.Exec("CREATE SCHEMA " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Exec("DROP SCHEMA " + name + " CASCADE")
		db.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// Backend is a server database the tests run on.
type Backend struct {
	Name string
	// Open opens a fresh store of the backend for the schema; reopening
	// (same dir, or the returned DB) reaches the same data.
	Open func(t testing.TB, s *fieldsync.Schema) (*sqlstore.Store, func() (*sqlstore.Store, error))
	// DB is what server.Config.DB takes for a fresh database ("" for the
	// SQLite file in the data folder).
	DB func(t *testing.T) string
}

// Backends are the server databases every server test runs on.
var Backends = []Backend{
	{Name: "sqlite",
		Open: func(t testing.TB, s *fieldsync.Schema) (*sqlstore.Store, func() (*sqlstore.Store, error)) {
			t.Helper()
			path := filepath.Join(t.TempDir(), "server.db")
			return openStore(t, func() (*sqlstore.Store, error) { return sqlite.Open(context.Background(), path, s) })
		},
		DB: func(*testing.T) string { return "" }},
	{Name: "postgres",
		Open: func(t testing.TB, s *fieldsync.Schema) (*sqlstore.Store, func() (*sqlstore.Store, error)) {
			t.Helper()
			dsn := PostgresURL(t)
			return openStore(t, func() (*sqlstore.Store, error) { return postgres.Open(context.Background(), dsn, s) })
		},
		DB: func(t *testing.T) string { return PostgresURL(t) }},
}

func openStore(t testing.TB, open func() (*sqlstore.Store, error)) (*sqlstore.Store, func() (*sqlstore.Store, error)) {
	t.Helper()
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, open
}

// ForBackends runs fn as a subtest on every backend.
func ForBackends(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) { fn(t, b) })
	}
}
