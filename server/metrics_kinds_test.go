package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncproto"
)

// kindsYAML is the people schema with topics and notes seen by their
// owner, with a unique code.
const kindsYAML = testutil.PeopleYAML + `  topic:
    columns: {name: text}
    visibility: [all]
  note:
    columns:
      owner_id: {type: text, references: employee}
      topic_id: {type: text, references: topic}
      code: text
      body: text
    unique: [[code]]
    visibility:
      - owner: owner_id
    remote_write: true
    conflict: client_wins
`

// kindsCap is the merger's cap on the conflicts and refusals of one
// upload in TestMetricsRefusalsAndConflicts.
const kindsCap = 6

// series is a metric series with its labels, as scrape names it.
func series(name string, labels ...string) string {
	if len(labels) == 0 {
		return "fieldsync_" + name
	}
	var parts []string
	for i := 0; i+1 < len(labels); i += 2 {
		parts = append(parts, labels[i]+`="`+labels[i+1]+`"`)
	}
	return "fieldsync_" + name + "{" + strings.Join(parts, ",") + "}"
}

// movedBy fails unless each series moved from before to after by exactly
// the amount given.
func movedBy(t *testing.T, what string, before, after map[string]float64, want map[string]float64) {
	t.Helper()
	for s, n := range want {
		if got := after[s] - before[s]; got != n {
			t.Errorf("%s: %s moved by %v, want %v", what, s, got, n)
		}
	}
}

// scrapeUntil scrapes srv until s reaches at least n (a recorder is told
// just after the database says the work is done), then returns the page.
func scrapeUntil(t *testing.T, srv *server.Server, s string, n float64) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		m := scrape(t, srv)
		if m[s] >= n || time.Now().After(deadline) {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncOK syncs a client, applying what it fetched.
func syncOK(t *testing.T, c *client.Client) client.Summary {
	t.Helper()
	sum, err := c.Sync(context.Background(), client.SyncOptions{Apply: true})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestMetricsRefusalsAndConflicts drives a front process (API, sync,
// processor, router, extract) and a merger process on one database into
// a failed extract, an upload damaged on the server's disk and sent again
// by its node, an upload refused whole, one conflict of each kind a node
// makes alone, refused changes and an upload past the cap on its records.
// The counters of each process move by exactly what was done, under the
// labels of their kinds.
func TestMetricsRefusalsAndConflicts(t *testing.T) {
	testutil.ForBackends(t, testMetricsRefusalsAndConflicts)
}

func testMetricsRefusalsAndConflicts(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	sch, err := schema.Parse("kinds.yaml", []byte(kindsYAML))
	if err != nil {
		t.Fatal(err)
	}
	dir, db := t.TempDir(), b.DB(t)
	front, url := testutil.StartServer(t, server.Config{DataDir: dir, DB: db, Schema: sch, NoTokenFile: true, MetricsListen: "127.0.0.1:0",
		Poll: 20 * time.Millisecond, Only: []string{server.API, server.Sync, server.Processor, server.Router, server.Extract}})
	adm, dock := front.Admin(), front.Docking()
	if _, err := adm.Create(ctx, "employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"t1", "t2"} {
		if _, err := adm.Create(ctx, "topic", map[string]any{"id": id, "name": id}); err != nil {
			t.Fatal(err)
		}
	}
	fb := scrape(t, front)

	// A failed extract: the extract of a deactivated node (which the
	// Database Extract does not try again by itself) whose file cannot be
	// replaced.
	if _, err := adm.AddNode(ctx, "ann-tablet", "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeactivateNode(ctx, "ann-tablet"); err != nil {
		t.Fatal(err)
	}
	blocked := dock.Extract("ann-tablet")
	if err := os.RemoveAll(blocked); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(blocked, "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.Reextract(ctx, "ann-tablet"); err == nil {
		t.Fatal("an extract over a folder did not fail")
	}

	// Two nodes upload while no merger runs; the laptop's upload is
	// damaged on the server's disk, the phone is deactivated.
	laptop, _ := flowNode(t, front, url, "ann-laptop")
	phone, _ := flowNode(t, front, url, "ann-phone")
	if _, err := laptop.Apply(ctx, fieldsync.Insert("note", map[string]any{"id": "n1", "owner_id": "ann", "code": "A", "body": "offline"})); err != nil {
		t.Fatal(err)
	}
	if _, err := phone.Apply(ctx, fieldsync.Insert("note", map[string]any{"id": "p1", "owner_id": "ann", "code": "P", "body": "phone"})); err != nil {
		t.Fatal(err)
	}
	syncOK(t, laptop)
	syncOK(t, phone)
	if _, err := adm.DeactivateNode(ctx, "ann-phone"); err != nil {
		t.Fatal(err)
	}
	damage(t, dock, "ann-laptop")

	mp, _ := testutil.StartServer(t, server.Config{DataDir: dir, DB: db, NoTokenFile: true, MetricsListen: "127.0.0.1:0",
		Poll: 20 * time.Millisecond, Only: []string{server.Merger}, MaxUploadRecords: kindsCap})
	waitIdle(t, front)
	m0 := map[string]float64{}
	m1 := scrapeUntil(t, mp, series("merger_uploads_total", "result", "refused"), 1)
	movedBy(t, "damaged and deactivated", m0, m1, map[string]float64{
		series("merger_uploads_total", "result", "sent_again"):                    1,
		series("merger_upload_duration_seconds_count", "result", "sent_again"):    1,
		series("merger_uploads_total", "result", "refused"):                       1,
		series("merger_upload_duration_seconds_count", "result", "refused"):       1,
		series("merger_uploads_total", "result", "merged"):                        0,
		series("merger_records_total", "kind", string(fieldsync.ConflictRefused)): 0,
	})

	// The laptop sends its upload again; it is merged.
	syncOK(t, laptop)
	waitIdle(t, front)
	m2 := scrapeUntil(t, mp, series("merger_uploads_total", "result", "merged"), 1)
	movedBy(t, "sent again", m1, m2, map[string]float64{
		series("merger_uploads_total", "result", "merged"):     1,
		series("merger_uploads_total", "result", "sent_again"): 0,
		series("merger_changes_total"):                         1,
	})

	conflictsOfEachKind(t, front, laptop)
	m3 := scrapeUntil(t, mp, series("merger_uploads_total", "result", "merged"), 2)
	movedBy(t, "conflicts", m2, m3, map[string]float64{
		series("merger_uploads_total", "result", "merged"):                              1,
		series("merger_records_total", "kind", string(fieldsync.ConflictUpdate)):        1,
		series("merger_records_total", "kind", string(fieldsync.ConflictDeleteUpdated)): 1,
		series("merger_records_total", "kind", string(fieldsync.ConflictUpdateDeleted)): 1,
		series("merger_records_total", "kind", string(fieldsync.ConflictUnique)):        1,
		series("merger_records_total", "kind", string(fieldsync.ConflictRefused)):       1,
		series("merger_records_total", "kind", string(fieldsync.ConflictRefusedRest)):   0,
		series("merger_records_total", "kind", string(fieldsync.ConflictTeamMerged)):    0,
		series("merger_uploads_total", "result", "refused"):                             0,
	})

	// An upload of more refused changes than the cap (notes on a topic
	// deleted meanwhile): the cap's worth are refused one by one, the rest
	// as one record.
	for i := range kindsCap + 2 {
		if _, err := laptop.Apply(ctx, fieldsync.Insert("note", map[string]any{"id": fmt.Sprintf("r%d", i), "owner_id": "ann", "topic_id": "t2", "body": "on t2"})); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := adm.Delete(ctx, "topic", "t2"); err != nil {
		t.Fatal(err)
	}
	syncOK(t, laptop)
	waitIdle(t, front)
	m4 := scrapeUntil(t, mp, series("merger_uploads_total", "result", "merged"), 3)
	movedBy(t, "past the cap", m3, m4, map[string]float64{
		series("merger_uploads_total", "result", "merged"):                            1,
		series("merger_records_total", "kind", string(fieldsync.ConflictRefused)):     kindsCap,
		series("merger_records_total", "kind", string(fieldsync.ConflictRefusedRest)): 1,
		series("merger_changes_total"):                                                0,
	})

	fa := scrape(t, front)
	movedBy(t, "front", fb, fa, map[string]float64{
		series("extracts_total", "result", "taken"):                              3,
		series("extracts_total", "result", "failed"):                             1,
		series("extract_duration_seconds_count"):                                 3,
		series("sync_transfers_total", "direction", "up", "kind", "upload"):      5, // the laptop's four (one sent twice), the phone's
		series("sync_transfers_total", "direction", "down", "kind", "extract"):   2,
		series("merger_uploads_total", "result", "merged"):                       0, // the front runs no merger
		series("merger_records_total", "kind", string(fieldsync.ConflictUpdate)): 0,
	})
}

// damage flips a byte in the middle of each upload waiting in a node's
// server inbox.
func damage(t *testing.T, dock docking.Folder, node string) {
	t.Helper()
	files, err := docking.List(dock.Inbox(node))
	if err != nil || len(files) != 1 {
		t.Fatalf("uploads waiting of %s: %v %v, want 1", node, files, err)
	}
	path := dock.InboxFile(node, files[0].Number)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// conflictsOfEachKind makes the laptop upload, in one file, an update of
// a note the server changed too (update), a delete of one it changed
// (delete_updated), an update of one it deleted (update_deleted), an
// insert clashing with the server's on the unique code (unique), and a
// note on a topic the server deleted meanwhile (refused).
func conflictsOfEachKind(t *testing.T, srv *server.Server, laptop *client.Client) {
	t.Helper()
	ctx := context.Background()
	adm := srv.Admin()
	for _, id := range []string{"n2", "n3"} {
		if _, err := adm.Create(ctx, "note", map[string]any{"id": id, "owner_id": "ann", "code": strings.ToUpper(id), "body": "server"}); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, srv)
	syncOK(t, laptop)
	if _, err := laptop.Apply(ctx, fieldsync.Update("note", "n3", map[string]any{"code": "N3"})); err != nil {
		t.Fatalf("the laptop does not hold the server's notes: %v", err)
	}
	for _, c := range []func() error{
		func() error { _, err := adm.Update(ctx, "note", "n1", map[string]any{"body": "office"}); return err },
		func() error { _, err := adm.Update(ctx, "note", "n2", map[string]any{"body": "office"}); return err },
		func() error { _, err := adm.Delete(ctx, "note", "n3"); return err },
		func() error {
			_, err := adm.Create(ctx, "note", map[string]any{"id": "n4", "owner_id": "ann", "code": "U", "body": "server"})
			return err
		},
	} {
		if err := c(); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, srv)
	for _, c := range []fieldsync.Change{
		fieldsync.Update("note", "n1", map[string]any{"body": "road"}),
		fieldsync.Delete("note", "n2"),
		fieldsync.Update("note", "n3", map[string]any{"body": "road"}),
		fieldsync.Insert("note", map[string]any{"id": "n5", "owner_id": "ann", "code": "U", "body": "road"}),
		fieldsync.Insert("note", map[string]any{"id": "n6", "owner_id": "ann", "topic_id": "t1", "body": "on t1"}),
	} {
		if _, err := laptop.Apply(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := adm.Delete(ctx, "topic", "t1"); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	syncOK(t, laptop)
	waitIdle(t, srv)
}

// TestMetricsNewsCarriesOutbox: the outbox files a news answer carries
// count as outbox files sent down, as those served in a session do,
// though no session was opened.
func TestMetricsNewsCarriesOutbox(t *testing.T) {
	testutil.ForBackends(t, testMetricsNewsCarriesOutbox)
}

func testMetricsNewsCarriesOutbox(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t), Schema: notesSchema(t), NoTokenFile: true, MetricsListen: "127.0.0.1:0"})
	adm := srv.Admin()
	if _, err := adm.Create(ctx, "employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}); err != nil {
		t.Fatal(err)
	}
	_, secret := flowNode(t, srv, url, "ann-laptop")
	nr, err := srv.Store().NodeRouting(ctx, "ann-laptop")
	if err != nil {
		t.Fatal(err)
	}
	applied := nr.OutboxNext - 1
	for _, id := range []string{"n1", "n2"} {
		if _, err := adm.Create(ctx, "note", map[string]any{"id": id, "owner_id": "ann", "body": "from the office"}); err != nil {
			t.Fatal(err)
		}
		waitIdle(t, srv) // a routing each, so an outbox file each
	}
	before := scrape(t, srv)
	news, err := syncproto.NewClient(url, "ann-laptop", secret, nil).NewsApplied(ctx, applied, applied)
	if err != nil {
		t.Fatal(err)
	}
	if !news.News || len(news.Files) != 2 {
		t.Fatalf("news: %v with %d files, want the 2 outbox files", news.News, len(news.Files))
	}
	var size int
	for _, f := range news.Files {
		size += len(f.Data)
	}
	after := scrape(t, srv)
	movedBy(t, "news", before, after, map[string]float64{
		series("sync_transfers_total", "direction", "down", "kind", "outbox"):      2,
		series("sync_transfer_bytes_total", "direction", "down", "kind", "outbox"): float64(size),
		series("sync_sessions_started_total"):                                      0,
	})
	// A news answer without files (the node did not say what it applied)
	// counts nothing.
	if _, err := syncproto.NewClient(url, "ann-laptop", secret, nil).News(ctx, applied); err != nil {
		t.Fatal(err)
	}
	movedBy(t, "news without files", after, scrape(t, srv), map[string]float64{
		series("sync_transfers_total", "direction", "down", "kind", "outbox"): 0,
	})
}
