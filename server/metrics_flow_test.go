package server_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncproto"
)

// docsYAML is the notes schema with an attachment file and a topic on
// each note.
const docsYAML = testutil.PeopleYAML + `  topic:
    columns: {name: text}
    visibility: [all]
  note:
    columns:
      owner_id: {type: text, references: employee}
      topic_id: {type: text, references: topic}
      body: text
      doc: file
    visibility:
      - owner: owner_id
    remote_write: true
    conflict: client_wins
`

// flowNode registers a node of ann and starts its client from its extract.
func flowNode(t *testing.T, srv *server.Server, url, name string) (*client.Client, string) {
	t.Helper()
	added, err := srv.Admin().AddNode(context.Background(), name, "ann")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Init(context.Background(), client.Config{Dir: filepath.Join(t.TempDir(), name), Server: url, Node: name, Secret: added.Secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, added.Secret
}

// flowSync syncs a client and waits until the server is idle.
func flowSync(t *testing.T, srv *server.Server, c *client.Client) client.Summary {
	t.Helper()
	sum, err := c.Sync(context.Background(), client.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	return sum
}

// TestMetricsComponents scrapes a server while a node's uploads conflict
// and are refused, extracts are taken and an attachment file goes up from
// one node and down to another: the merger's, the extract's and the
// Synchronization Manager's metrics move by what was done.
func TestMetricsComponents(t *testing.T) { testutil.ForBackends(t, testMetricsComponents) }

func testMetricsComponents(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	sch, err := schema.Parse("docs.yaml", []byte(docsYAML))
	if err != nil {
		t.Fatal(err)
	}
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t), Schema: sch, NoTokenFile: true, MetricsListen: "127.0.0.1:0"})
	adm := srv.Admin()
	for _, e := range []string{"ann", "bob"} {
		if _, err := adm.Create(ctx, "employee", map[string]any{"id": e, "name": e, "login": e}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := adm.Create(ctx, "topic", map[string]any{"id": "t1", "name": "visits"}); err != nil {
		t.Fatal(err)
	}
	before := scrape(t, srv)
	laptop, _ := flowNode(t, srv, url, "ann-laptop")

	// An upload with a note and its attachment file.
	doc := bytes.Repeat([]byte("visit report "), 3000)
	path := filepath.Join(t.TempDir(), "report.txt")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := laptop.Apply(ctx, fieldsync.Insert("note", map[string]any{"id": "n1", "owner_id": "ann", "body": "offline"})); err != nil {
		t.Fatal(err)
	}
	if _, err := laptop.Attach(ctx, "note", "n1", path, "published"); err != nil {
		t.Fatal(err)
	}
	flowSync(t, srv, laptop)
	mid := scrape(t, srv)

	// An upload that conflicts (the body changed on both sides) and holds
	// a change that is refused (a note on a topic deleted meanwhile).
	if _, err := adm.Update(ctx, "note", "n1", map[string]any{"body": "from the office"}); err != nil {
		t.Fatal(err)
	}
	if _, err := laptop.Apply(ctx, fieldsync.Update("note", "n1", map[string]any{"body": "from the road"})); err != nil {
		t.Fatal(err)
	}
	if _, err := laptop.Apply(ctx, fieldsync.Insert("note", map[string]any{"id": "n2", "owner_id": "ann", "topic_id": "t1", "body": "on t1"})); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.Delete(ctx, "topic", "t1"); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, srv)
	if sum := flowSync(t, srv, laptop); len(sum.Refused) != 1 {
		t.Fatalf("refusals of the second upload: %q", sum.Refused)
	}

	// Ann's second node starts from its extract and fetches the file.
	phone, _ := flowNode(t, srv, url, "ann-phone")
	if sum := flowSync(t, srv, phone); sum.Files != 1 {
		t.Fatalf("the phone fetched %d files, want the report", sum.Files)
	}
	after := scrape(t, srv)

	delta := func(s string) float64 { return after[s] - before[s] }
	exact := map[string]float64{
		`fieldsync_merger_records_total{kind="update"}`:                     1,
		`fieldsync_merger_records_total{kind="refused"}`:                    1,
		`fieldsync_merger_records_total{kind="unique"}`:                     0,
		`fieldsync_merger_uploads_total{result="merged"}`:                   2,
		`fieldsync_merger_uploads_total{result="refused"}`:                  0,
		`fieldsync_merger_upload_duration_seconds_count{result="merged"}`:   2,
		`fieldsync_merger_changes_total`:                                    3, // the insert of n1, its file, the update of its body
		`fieldsync_extracts_total{result="taken"}`:                          2,
		`fieldsync_extracts_total{result="failed"}`:                         0,
		`fieldsync_extract_duration_seconds_count`:                          2,
		`fieldsync_sync_transfers_total{direction="up",kind="file"}`:        1,
		`fieldsync_sync_transfer_bytes_total{direction="up",kind="file"}`:   float64(len(doc)),
		`fieldsync_sync_transfers_total{direction="down",kind="file"}`:      1,
		`fieldsync_sync_transfer_bytes_total{direction="down",kind="file"}`: float64(len(doc)),
		`fieldsync_sync_transfers_total{direction="down",kind="extract"}`:   2,
		`fieldsync_sync_sessions_ended_total{result="extract"}`:             2,
		`fieldsync_sync_news_waiters`:                                       0,
	}
	for s, want := range exact {
		if got := delta(s); got != want {
			t.Errorf("%s moved by %v, want %v", s, got, want)
		}
	}
	if got := mid[`fieldsync_merger_changes_total`] - before[`fieldsync_merger_changes_total`]; got != 2 {
		t.Errorf("changes merged by the first upload: %v, want 2", got)
	}
	moved(t, before, after, "fieldsync_extract_rows_total", "fieldsync_extract_bytes_total",
		"fieldsync_sync_sessions_started_total", `fieldsync_sync_sessions_ended_total{result="ok"}`,
		"fieldsync_sync_session_duration_seconds_count", `fieldsync_sync_session_bytes_sum{direction="up"}`,
		`fieldsync_sync_session_bytes_sum{direction="down"}`, `fieldsync_sync_session_files_sum{direction="up"}`,
		`fieldsync_sync_transfers_total{direction="up",kind="upload"}`, "fieldsync_txnproc_txns_total",
		`fieldsync_routed_txns_total{partition="0"}`)
	if after["fieldsync_sync_sessions_started_total"] != after[`fieldsync_sync_sessions_ended_total{result="ok"}`]+after[`fieldsync_sync_sessions_ended_total{result="extract"}`] {
		t.Errorf("sessions started %v, ended ok %v and extract %v", after["fieldsync_sync_sessions_started_total"],
			after[`fieldsync_sync_sessions_ended_total{result="ok"}`], after[`fieldsync_sync_sessions_ended_total{result="extract"}`])
	}
	if after["fieldsync_txnproc_txns_total"] < after["fieldsync_txnproc_files_written_total"] {
		t.Errorf("%v transactions in %v txnproc files", after["fieldsync_txnproc_txns_total"], after["fieldsync_txnproc_files_written_total"])
	}
}

// TestMetricsHostileSession: a session result a client makes up is
// counted as "other", never as a label of its own; a news request
// counts as a waiter while it waits.
func TestMetricsHostileSession(t *testing.T) { testutil.ForBackends(t, testMetricsHostileSession) }

func testMetricsHostileSession(t *testing.T, b testutil.Backend) {
	ctx := context.Background()
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t), Schema: notesSchema(t), NoTokenFile: true, MetricsListen: "127.0.0.1:0"})
	if _, err := srv.Admin().Create(ctx, "employee", map[string]any{"id": "ann", "name": "Ann", "login": "ann"}); err != nil {
		t.Fatal(err)
	}
	_, secret := flowNode(t, srv, url, "ann-laptop")
	rc := syncproto.NewClient(url, "ann-laptop", secret, nil)
	st, err := rc.Start(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.End(ctx, st.Session, `made up "result" {x="y"}`); err != nil {
		t.Fatal(err)
	}
	m := scrape(t, srv)
	if m[`fieldsync_sync_sessions_ended_total{result="other"}`] != 1 {
		t.Errorf("a made-up result: other %v", m[`fieldsync_sync_sessions_ended_total{result="other"}`])
	}
	for s := range m {
		if bytes.Contains([]byte(s), []byte("made up")) {
			t.Errorf("the client's result became a series: %s", s)
		}
	}

	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := rc.News(wctx, 1<<40)
		done <- err
	}()
	for scrape(t, srv)["fieldsync_sync_news_waiters"] != 1 {
		select {
		case err := <-done:
			t.Fatalf("the news request ended before it waited: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	<-done
	for scrape(t, srv)["fieldsync_sync_news_waiters"] != 0 {
		time.Sleep(10 * time.Millisecond) // the server notices the request is gone
	}
}
