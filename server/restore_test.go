package server_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// restoreRig is a server that the test stops and starts again on the same
// data folder and database, and the two nodes syncing with it.
type restoreRig struct {
	t        *testing.T
	cfg      server.Config
	srv      *server.Server
	url      string
	stop     func()
	ann, bob *client.Client
	// keep is the nodes' client.Config.KeepMerged and KeepMergedDays (0:
	// the defaults).
	keep int
}

func (r *restoreRig) start() {
	t := r.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.Open(ctx, r.cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	addr := "127.0.0.1:0"
	if r.url != "" {
		addr = strings.TrimPrefix(r.url, "http://") // the nodes keep the address
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		cancel()
		srv.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	r.srv, r.url = srv, "http://"+ln.Addr().String()
	r.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		srv.Close()
		r.stop = nil
	}
}

func (r *restoreRig) create(c *client.Client, id, owner, body string) {
	r.t.Helper()
	ch := fieldsync.Change{Op: fieldsync.OpInsert, Table: "note", ID: id, Values: map[string]any{"owner_id": owner, "body": body}}
	if _, err := c.Apply(context.Background(), ch); err != nil {
		r.t.Fatalf("%s creates %s: %v", c.Node(), id, err)
	}
}

func (r *restoreRig) update(c *client.Client, id, body string) {
	r.t.Helper()
	ch := fieldsync.Change{Op: fieldsync.OpUpdate, Table: "note", ID: id, Values: map[string]any{"body": body}}
	if _, err := c.Apply(context.Background(), ch); err != nil {
		r.t.Fatalf("%s updates %s: %v", c.Node(), id, err)
	}
}

// syncAll syncs both nodes, each twice with the server idle between, so
// that what one sent reaches the other.
func (r *restoreRig) syncAll() {
	r.t.Helper()
	for range 2 {
		for _, c := range []*client.Client{r.ann, r.bob} {
			if _, err := c.Sync(context.Background(), client.SyncOptions{Apply: true}); err != nil {
				r.t.Fatalf("sync %s: %v", c.Node(), err)
			}
			waitIdle(r.t, r.srv)
		}
	}
}

// notes lists "id=body" of the notes a reader holds, sorted.
func notes(t *testing.T, list func(ctx context.Context, table string, q fieldsync.Query) (fieldsync.Page, error), owner string) []string {
	t.Helper()
	var out []string
	q := fieldsync.Query{Limit: 1000}
	if owner != "" {
		q.Where = map[string]any{"owner_id": owner}
	}
	p, err := list(context.Background(), "note", q)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range p.Rows {
		out = append(out, fmt.Sprintf("%v=%v", row["id"], row["body"]))
	}
	slices.Sort(out)
	return out
}

// TestRestoreFromBackup restores the server database from a backup taken
// while the server ran, after the nodes' changes were merged and more
// server writes made, and checks that admin restored and the nodes' next
// syncs bring every node's changes, made before and after the backup,
// back to the server exactly once, and the nodes in step with it.
func TestRestoreFromBackup(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { testRestore(t, backend) })
	}
}

func testRestore(t *testing.T, backend string) {
	ctx := context.Background()
	dir := t.TempDir()
	r := &restoreRig{t: t, cfg: server.Config{DataDir: dir, Schema: notesSchema(t), NoTokenFile: true}}
	var bk backup
	if backend == "postgres" {
		r.cfg.DB, bk = pgBackup(t)
	} else {
		bk = sqliteBackup(t, dir)
	}
	r.start()
	defer func() {
		if r.stop != nil {
			r.stop()
		}
	}()
	r.ann, r.bob = r.nodes()
	defer r.ann.Close()
	defer r.bob.Close()
	adm := r.srv.Admin()

	// Before the backup: each node writes and syncs, the server writes.
	r.create(r.ann, "a1", "ann", "ann one")
	r.create(r.bob, "b1", "bob", "bob one")
	if _, err := adm.Create(ctx, "note", map[string]any{"id": "s1", "owner_id": "ann", "body": "server one"}); err != nil {
		t.Fatal(err)
	}
	r.syncAll()
	bk.take()

	// After it: more node changes merged, in several uploads (the first
	// ones retired to upload/kept by the syncs that follow), and server
	// writes, which the restore loses.
	r.update(r.ann, "a1", "ann one, edited")
	r.syncAll()
	r.create(r.ann, "a2", "ann", "ann two")
	r.create(r.bob, "b2", "bob", "bob two")
	if _, err := adm.Create(ctx, "note", map[string]any{"id": "s2", "owner_id": "bob", "body": "server two"}); err != nil {
		t.Fatal(err)
	}
	r.syncAll()
	r.create(r.bob, "b3", "bob", "bob three")
	r.syncAll()
	r.stop()

	bk.restore()
	rep, err := server.Restored(ctx, r.cfg)
	if err != nil {
		t.Fatalf("admin restored: %v", err)
	}
	if rep.Incarnation == "" || rep.Incarnation == rep.Previous || len(rep.Nodes) != 2 {
		t.Fatalf("admin restored: %+v", rep)
	}
	t.Logf("admin restored: %+v", rep)
	r.start()
	r.catchUp()

	want := []string{"a1=ann one, edited", "a2=ann two", "b1=bob one", "b2=bob two", "b3=bob three", "s1=server one"}
	r.checkConverged(want)

	// No node is stuck: a change made now goes up and across as usual.
	r.create(r.ann, "a3", "ann", "ann three")
	r.syncAll()
	r.checkConverged(append(want[:2:2], append([]string{"a3=ann three"}, want[2:]...)...))
}

// nodes registers two nodes and makes their folders.
func (r *restoreRig) nodes() (*client.Client, *client.Client) {
	t, ctx, adm := r.t, context.Background(), r.srv.Admin()
	var cs []*client.Client
	for _, emp := range []string{"ann", "bob"} {
		if _, err := adm.Create(ctx, "employee", map[string]any{"id": emp, "name": emp, "login": emp}); err != nil {
			t.Fatal(err)
		}
		added, err := adm.AddNode(ctx, emp+"-laptop", emp)
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.Init(ctx, client.Config{Dir: filepath.Join(t.TempDir(), emp), Server: r.url, Node: emp + "-laptop", Secret: added.Secret,
			KeepMerged: r.keep, KeepMergedDays: r.keep})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs[0], cs[1]
}

// TestRestoreOlderThanKept restores a backup older than what the nodes
// keep of their merged uploads (here: nothing): the changes merged after
// the backup are lost, each loss is in the node's state, and the node's
// later changes are merged as usual.
func TestRestoreOlderThanKept(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := &restoreRig{t: t, cfg: server.Config{DataDir: dir, Schema: notesSchema(t), NoTokenFile: true}, keep: -1}
	bk := sqliteBackup(t, dir)
	r.start()
	defer func() {
		if r.stop != nil {
			r.stop()
		}
	}()
	r.ann, r.bob = r.nodes()
	defer r.ann.Close()
	defer r.bob.Close()
	r.create(r.ann, "a1", "ann", "ann one")
	r.syncAll()
	bk.take()
	r.create(r.ann, "a2", "ann", "ann two")
	r.syncAll()
	r.create(r.bob, "b1", "bob", "bob one") // not synced yet: kept until merged
	r.stop()
	bk.restore()
	if _, err := server.Restored(ctx, r.cfg); err != nil {
		t.Fatal(err)
	}
	r.start()
	r.catchUp()
	r.create(r.ann, "a3", "ann", "ann three")
	r.syncAll()
	r.checkConverged([]string{"a1=ann one", "a3=ann three", "b1=bob one"})
	local, err := r.ann.Store().State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, rec := range local.Recoveries {
		if strings.Contains(rec.What, "is no longer kept: its changes are lost") {
			lost++
		}
	}
	if lost == 0 {
		t.Fatalf("ann's state records no lost upload: %+v", local.Recoveries)
	}
}

// catchUp syncs the nodes until each has taken its new extract (the
// restarted server takes them in the background).
func (r *restoreRig) catchUp() {
	t := r.t
	for i := 0; ; i++ {
		done := 0
		for _, c := range []*client.Client{r.ann, r.bob} {
			sum, err := c.Sync(context.Background(), client.SyncOptions{Apply: true})
			if err != nil {
				t.Fatalf("sync %s after the restore: %v", c.Node(), err)
			}
			if sum.Reextracted {
				t.Logf("%s took its new extract at sync %d: %v", c.Node(), i+1, sum.Recovered)
			}
			waitIdle(t, r.srv)
			if known, resetFor, _ := c.Store().ServerIncarnation(context.Background()); resetFor == "" && known != "" {
				done++
			}
		}
		if done == 2 {
			break
		}
		if i == 200 {
			t.Fatal("the nodes did not take their new extracts in 200 syncs")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.syncAll()
}

// checkConverged checks the server's notes are want, each once with no
// conflict recorded, and that each node holds exactly its own.
func (r *restoreRig) checkConverged(want []string) {
	t := r.t
	t.Helper()
	adm := r.srv.Admin()
	if got := notes(t, adm.List, ""); !slices.Equal(got, want) {
		t.Fatalf("server notes:\n got %v\nwant %v", got, want)
	}
	if cs, err := adm.Conflicts(context.Background(), ""); err != nil || len(cs) != 0 {
		t.Fatalf("conflicts: %+v %v", cs, err)
	}
	for _, c := range []*client.Client{r.ann, r.bob} {
		owner := strings.TrimSuffix(c.Node(), "-laptop")
		if got, server := notes(t, c.List, ""), notes(t, adm.List, owner); !slices.Equal(got, server) {
			t.Fatalf("%s holds\n %v\nthe server has for it\n %v", c.Node(), got, server)
		}
	}
}

// backup takes a backup of the server database and puts it back.
type backup struct{ take, restore func() }

func sqliteBackup(t *testing.T, dir string) backup {
	file := filepath.Join(t.TempDir(), "server-backup.db")
	db := filepath.Join(dir, "server.db")
	return backup{
		take: func() {
			if err := server.Backup(context.Background(), dir, "", file); err != nil {
				t.Fatalf("backup: %v", err)
			}
		},
		restore: func() {
			for _, p := range []string{db, db + "-wal", db + "-shm"} {
				os.Remove(p)
			}
			data, err := os.ReadFile(file)
			if err == nil {
				err = os.WriteFile(db, data, 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
		},
	}
}

// pgBackup gives a fresh PostgreSQL schema, backed up with pg_dump and
// put back with pg_restore (the schema dropped first).
func pgBackup(t *testing.T) (string, backup) {
	dsn := testutil.PostgresURL(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	base := u.String()
	file := filepath.Join(t.TempDir(), "fieldsync.dump")
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	return dsn, backup{
		take: func() { run("pg_dump", "--dbname", base, "--schema", schema, "--format", "custom", "--file", file) },
		restore: func() {
			run("psql", "--dbname", base, "-c", "DROP SCHEMA "+schema+" CASCADE")
			run("pg_restore", "--dbname", base, file)
		},
	}
}
