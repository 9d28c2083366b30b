package main

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
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// adminOf is an API client of the server process p with the token of the
// data folder data.
func adminOf(t *testing.T, p *serverProc, data string) *api.Client {
	t.Helper()
	return &api.Client{BaseURL: "http://" + p.addr(t), Token: strings.TrimSpace(readFile(t, filepath.Join(data, "admin.token")))}
}

func mustCreate(t *testing.T, c *api.Client, table string, vals map[string]any) {
	t.Helper()
	if _, err := c.Create(context.Background(), table, vals); err != nil {
		t.Fatalf("create %s: %v", table, err)
	}
}

// TestServerKeepsItsSchema: a server started with a schema file, stopped
// and started again without --schema serves that schema's tables (and not
// the built-in CRM's); started with another schema, it says what changed in
// one log line, and that one is kept from then on.
func TestServerKeepsItsSchema(t *testing.T) {
	bin := buildBinary(t)
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		dir, db := t.TempDir(), b.DB(t)
		data := filepath.Join(dir, "data")
		notes, notes2 := filepath.Join(dir, "notes.yaml"), filepath.Join(dir, "notes2.yaml")
		plus := strings.Replace(testutil.NotesYAML, "      color: text\n", "      color: text\n      size: integer\n", 1) +
			"  memo:\n    columns: {body: text}\n    visibility: [all]\n"
		for path, text := range map[string]string{notes: testutil.NotesYAML, notes2: plus} {
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		p := startProc(t, bin, db, "--data", data, "--schema", notes)
		c := adminOf(t, p, data)
		mustCreate(t, c, "employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"})
		mustCreate(t, c, "note", map[string]any{"id": "n1", "owner_id": "ann", "body": "first"})
		p.stop(t)

		p = startProc(t, bin, db, "--data", data)
		c = adminOf(t, p, data)
		p.waitLog(t, "using the schema stored in the database")
		mustCreate(t, c, "note", map[string]any{"id": "n2", "owner_id": "ann", "body": "after the restart"})
		if _, err := c.Create(context.Background(), "account", map[string]any{"name": "Acme"}); err == nil || !strings.Contains(err.Error(), `unknown table "account"`) {
			t.Fatalf("create account on the notes schema: %v", err)
		}
		if strings.Contains(p.log.String(), "schema changed") {
			t.Fatalf("a start without --schema logged a change:\n%s", p.log.String())
		}
		p.stop(t)
		checkTables(t, data, db, map[string]int{"note": 2}, "account")

		p = startProc(t, bin, db, "--data", data, "--schema", notes2)
		c = adminOf(t, p, data)
		p.waitLog(t, "schema changed: ")
		var lines []string
		for _, line := range strings.Split(p.log.String(), "\n") {
			if strings.Contains(line, "schema changed") {
				lines = append(lines, line)
			}
		}
		if len(lines) != 1 || !strings.Contains(lines[0], `level=WARN msg="schema changed: table note: added column size; added table memo"`) {
			t.Fatalf("the schema change was logged as %q", lines)
		}
		mustCreate(t, c, "memo", map[string]any{"body": "new table"})
		p.stop(t)

		p = startProc(t, bin, db, "--data", data)
		c = adminOf(t, p, data)
		mustCreate(t, c, "memo", map[string]any{"body": "still there"})
		mustCreate(t, c, "note", map[string]any{"owner_id": "ann", "size": 3})
		if strings.Contains(p.log.String(), "schema changed") {
			t.Fatalf("a start without --schema after the change logged one:\n%s", p.log.String())
		}
		p.stop(t)
	})
}

// checkTables opens the stopped server's database and checks how many
// rows tables hold, and that the table absent does not exist.
func checkTables(t *testing.T, data, db string, rows map[string]int, absent string) {
	t.Helper()
	srv, err := server.Open(context.Background(), server.Config{DataDir: data, DB: db})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	q := srv.Store().(interface{ DB() *sql.DB }).DB()
	for table, want := range rows {
		var n int
		if err := q.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil || n != want {
			t.Fatalf("%s holds %d rows (%v), want %d", table, n, err, want)
		}
	}
	if _, err := q.Exec("SELECT COUNT(*) FROM " + absent); err == nil {
		t.Fatalf("table %s exists in the database", absent)
	}
}

// TestDataFolderInUse: a second server process on a data folder whose
// router partitions a running one runs is refused in one line naming the
// first one's pid; processes with disjoint components, or other router
// partitions, run side by side.
func TestDataFolderInUse(t *testing.T) {
	bin := buildBinary(t)
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		data, db := filepath.Join(t.TempDir(), "data"), b.DB(t)
		refused := func(want string, args ...string) {
			t.Helper()
			p := startProc(t, bin, db, append([]string{"--data", data}, args...)...)
			if code := p.exitCode(t); code != 1 || p.log.String() != want+"\n" || p.out.String() != "" {
				t.Fatalf("server %v: exit %d, stderr %q, stdout %q\nwant exit 1 and %q", args, code, p.log.String(), p.out.String(), want)
			}
		}
		full := startProc(t, bin, db, "--data", data)
		adminOf(t, full, data)
		refused(fmt.Sprintf("fieldsync: data folder %s is in use by fieldsync server pid %d (components api, sync, processor, router, merger, extract): stop it first or run other components with --only",
			data, full.cmd.Process.Pid))
		// Other components than the router beside it are fine.
		apiOnly := startProc(t, bin, db, "--data", data, "--only", "api,sync")
		mustCreate(t, adminOf(t, apiOnly, data), "account", map[string]any{"name": "beside a full server"})
		apiOnly.stop(t)
		full.stop(t)

		// Disjoint components share the folder.
		back := startProc(t, bin, db, "--data", data, "--only", "processor,router")
		back.waitLog(t, "holding the Transaction Processor lock")
		front := startProc(t, bin, db, "--data", data, "--only", "api,sync,merger,extract")
		mustCreate(t, adminOf(t, front, data), "account", map[string]any{"name": "disjoint"})
		if !back.running() || !front.running() {
			t.Fatal("processes with disjoint components did not both run")
		}
		front.stop(t)
		back.stop(t)

		// One process per router partition.
		part0 := startProc(t, bin, db, "--data", data, "--only", "router", "--router-partitions", "2", "--router-partition", "0")
		part0.waitOut(t, "fieldsync server running router")
		refused(fmt.Sprintf("fieldsync: data folder %s is in use by fieldsync server pid %d (components router; router partition 0 of 2): stop it first or run other components with --only (or another --router-partition)",
			data, part0.cmd.Process.Pid), "--only", "router,merger", "--router-partitions", "2", "--router-partition", "0")
		part1 := startProc(t, bin, db, "--data", data, "--only", "router", "--router-partitions", "2", "--router-partition", "1")
		part1.waitOut(t, "fieldsync server running router")
		refused(fmt.Sprintf("fieldsync: data folder %s is in use by fieldsync server pid %d (components router; router partition 0 of 2), which splits the Transaction Router into 2 partitions, not 3: give every process the same --router-partitions",
			data, part0.cmd.Process.Pid), "--only", "router", "--router-partitions", "3", "--router-partition", "2")
		part0.stop(t)
		part1.stop(t)
	})
}

// TestTokensOfTwoFolders: servers on one database never revoke each
// other's administrator tokens: a second data folder on the same
// PostgreSQL database gets a token of its own and the first one's keeps
// working, and so does it beside a program embedding the server with a
// token of its own or a configured one; a data folder's token is rotated
// (deleted and remade) without touching the others.
func TestTokensOfTwoFolders(t *testing.T) {
	bin := buildBinary(t)
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		dir, db := t.TempDir(), b.DB(t)
		ctx := context.Background()
		dataA, dataB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		a := startProc(t, bin, db, "--data", dataA)
		tokenA := adminOf(t, a, dataA).Token
		works := func(p *serverProc, token string) bool {
			t.Helper()
			_, err := (&api.Client{BaseURL: "http://" + p.addr(t), Token: token}).ListNodes(ctx)
			if err != nil && !errors.Is(err, fieldsync.ErrUnauthorized) {
				t.Fatal(err)
			}
			return err == nil
		}
		embedded, err := server.Open(ctx, server.Config{DataDir: dataA, DB: db, NoTokenFile: true})
		if err != nil {
			t.Fatal(err)
		}
		if !works(a, embedded.Token()) || !works(a, tokenA) {
			t.Fatal("beside an embedded server, its token or the folder's does not work")
		}
		embedded.Close()
		configured, err := server.Open(ctx, server.Config{DataDir: dataA, DB: db, AdminToken: "configured-" + fieldsync.NewSecret()})
		if err != nil {
			t.Fatal(err)
		}
		configured.Close()
		if works(a, embedded.Token()) || !works(a, configured.Token()) || !works(a, tokenA) {
			t.Fatal("after the embedded servers: the closed one's own token works, or the configured or the folder's does not")
		}
		if db == "" {
			// SQLite: one database per data folder. Rotate the folder's token.
			a.stop(t)
			os.Remove(filepath.Join(dataA, "admin.token"))
			a = startProc(t, bin, db, "--data", dataA)
			if works(a, tokenA) || !works(a, adminOf(t, a, dataA).Token) || !works(a, configured.Token()) {
				t.Fatal("after rotating the folder's token: the old one works, or the new or the configured one does not")
			}
			a.stop(t)
			return
		}
		bproc := startProc(t, bin, db, "--data", dataB, "--only", "api,sync")
		tokenB := adminOf(t, bproc, dataB).Token
		for _, p := range []*serverProc{a, bproc} {
			if tokenB == tokenA || !works(p, tokenA) || !works(p, tokenB) {
				t.Fatal("two data folders on one database: both tokens should work at both servers")
			}
		}
		a.stop(t)
		a = startProc(t, bin, db, "--data", dataA)
		if !works(a, tokenA) || !works(a, tokenB) {
			t.Fatal("after a restart of the first server, a token does not work")
		}
		bproc.stop(t)
		os.Remove(filepath.Join(dataB, "admin.token"))
		bproc = startProc(t, bin, db, "--data", dataB, "--only", "api,sync")
		newB := adminOf(t, bproc, dataB).Token
		if works(a, tokenB) || !works(a, newB) || !works(a, tokenA) || !works(bproc, tokenA) {
			t.Fatal("after rotating the second folder's token: its old one works, or its new one or the first folder's does not")
		}
		a.stop(t)
		bproc.stop(t)
	})
}
