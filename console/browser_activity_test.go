package console_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// unlabelled lists the fields of the page's main part that no label names.
const unlabelled = `[...document.querySelectorAll('main input:not([type=hidden]), main select')]
	.filter(e => !(e.id && document.querySelector('label[for="' + e.id + '"]')) && !e.closest('label')).map(e => e.name)`

// overflows says whether the page is wider than the window.
const overflows = `document.documentElement.scrollWidth > window.innerWidth`

// TestActivityPagesPhone: at 390 px an administrator reads the conflicts,
// refusals and sessions pages, uploads a file on an attachment's page,
// and sees the pipeline chart fill; every field is labelled and no page
// is wider than the phone.
func TestActivityPagesPhone(t *testing.T) {
	ctx := browser(t, 390)
	srv, base := testutil.StartServer(t, server.Config{})
	bg := context.Background()
	adm := srv.Admin()
	addNodes(t, srv, "ann-laptop")
	recordConflicts(t, srv, []fieldsync.Conflict{
		{Node: "ann-laptop", Kind: fieldsync.ConflictUpdate, Table: "account", RowID: "acme", Field: "name", Winner: `"Acme Corporation"`, Loser: `"ACME Inc."`},
		{Node: "ann-laptop", Kind: fieldsync.ConflictRefused, Table: "activity", RowID: "act-1", Change: 2, Reason: "change 2 of 3 (insert activity act-1): no such opportunity"},
	})
	if err := srv.Store().SaveSession(bg, fieldsync.Session{ID: "s-1", Node: "ann-laptop", Started: time.Now().Add(-time.Minute),
		Ended: time.Now(), UpFiles: 1, UpBytes: 812, DownFiles: 3, DownBytes: 20480, Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		table string
		vals  map[string]any
	}{{"account", map[string]any{"id": "acme", "name": "Acme"}}, {"opportunity", map[string]any{"id": "opp-1", "name": "Big deal", "account_id": "acme"}},
		{"attachment", map[string]any{"id": "att-1", "opportunity_id": "opp-1"}}} {
		if _, err := adm.Create(bg, r.table, r.vals); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(t.TempDir(), "quote.pdf")
	if err := os.WriteFile(file, []byte("%PDF-1.4 a quote"), 0o644); err != nil {
		t.Fatal(err)
	}
	sh := &shots{t: t, ctx: ctx, dir: screenshotDir(t), prefix: "activity"}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		step, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := chromedp.Do(step, actions...); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
			t.Fatalf("%s: %v\n%s", what, err, page)
		}
	}
	fits := func(page string) {
		t.Helper()
		if names, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](unlabelled)); err != nil || len(names) > 0 {
			t.Errorf("%s: fields without a label: %v, %v", page, names, err)
		}
		if wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](overflows)); err != nil || wide {
			t.Errorf("%s: wider than 390 px (%v)", page, err)
		}
	}
	ui := base + "/ui/"
	run("sign in", chromedp.Navigate(ui+"signin"), chromedp.WaitVisible(chromedp.ID("#password")),
		chromedp.SendKeys(chromedp.ID("#password"), srv.Token()), chromedp.Submit(chromedp.ID("#password")), chromedp.WaitVisible(chromedp.ID("#log-pending")))
	run("conflicts", chromedp.Click(chromedp.CSS(`nav a[href="/ui/admin/conflicts"]`)), chromedp.WaitVisible(chromedp.ID("#conflicts")))
	fits("conflicts")
	sh.take("conflicts", "Acme Corporation", "ACME Inc.", "update")
	run("conflicts of a ghost", chromedp.SetValue(chromedp.ID("#flt-node"), "ghost"), chromedp.Submit(chromedp.ID("#flt-node")),
		chromedp.WaitVisible(chromedp.ID("#activity-error")))
	sh.take("conflicts-unknown-node", `unknown node "ghost"`)
	run("refusals", chromedp.Navigate(ui+"admin/refusals"), chromedp.WaitVisible(chromedp.ID("#conflicts")))
	fits("refusals")
	sh.take("refusals", "no such opportunity", "No upload was refused whole")
	run("sessions", chromedp.Navigate(ui+"admin/sessions"), chromedp.WaitVisible(chromedp.ID("#sessions")))
	fits("sessions")
	sh.take("sessions", "ann-laptop", "20480")

	run("attachment", chromedp.Navigate(ui+"t/attachment/r/att-1"), chromedp.WaitVisible(chromedp.ID("#file-input")))
	fits("attachment")
	run("upload", chromedp.SetUploadFiles(chromedp.ID("#file-input"), []string{file}), chromedp.Submit(chromedp.ID("#file-input")),
		chromedp.WaitVisible(chromedp.ID("#file-size")))
	fits("attachment with its file")
	sh.take("attachment", "quote.pdf", "16 bytes", "published")

	run("pipeline", chromedp.Navigate(ui+"admin/pipeline"), chromedp.WaitVisible(chromedp.ID("#log-pending")))
	for i := 0; ; i++ { // the sampler reads the pipeline every 10 s: the chart appears after its second reading
		if _, err := adm.Create(bg, "account", map[string]any{"id": "acc-" + strings.Repeat("x", i+1), "name": "Account"}); err != nil {
			t.Fatal(err)
		}
		run("pipeline", chromedp.Navigate(ui+"admin/pipeline"), chromedp.WaitVisible(chromedp.ID("#log-pending")))
		if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#chart-throughput rect').length`)); err == nil && n >= 2 {
			break
		}
		if i == 600 {
			t.Fatal("the pipeline chart never appeared")
		}
		time.Sleep(100 * time.Millisecond)
	}
	fits("pipeline")
	sh.take("pipeline-chart", "Transactions per minute, last hour", "Log backlog")
}
