package console_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fieldsync/fieldsync/client"
	"github.com/fieldsync/fieldsync/client/localui"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

func TestFieldFlowDesktop(t *testing.T) { testFieldFlow(t, 1280, "flow-desktop") }

func TestFieldFlowPhone(t *testing.T) { testFieldFlow(t, 390, "flow-phone") }

// flow is one browser going through the console and the field user's view.
type flow struct {
	t   *testing.T
	ctx context.Context
	sh  *shots
}

// run does the actions of one step; a step that cannot happen fails, not hangs.
func (f *flow) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	f.t.Helper()
	step, cancel := context.WithTimeout(f.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(step, actions...); err != nil {
		page, _ := chromedp.Run(f.ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		f.t.Fatalf("%s: %v\n%s", what, err, page)
	}
}

// text is the text of what sel selects.
func (f *flow) text(sel string) string {
	f.t.Helper()
	s, err := chromedp.Run(f.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		f.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// testFieldFlow: the administrator signs in with the token, adds a
// connected user and a node, reading the node's secret off the page; the
// user signs in, creates an opportunity (seeing a revenue's type error
// next to its field) with the node's employee's position on its team; the
// pipeline shows the node's outbox grow; a client folder made with the
// secret is served by the field user's view, where the browser syncs,
// finds the opportunity, renames it and syncs again; the console's record
// page then shows the new name, and its History the node as the origin.
func testFieldFlow(t *testing.T, width int, prefix string) {
	f := &flow{t: t, ctx: browser(t, width)}
	f.sh = &shots{t: t, ctx: f.ctx, dir: screenshotDir(t), prefix: prefix}
	srv, base := testutil.StartServer(t, server.Config{})
	adm, bg := srv.Admin(), context.Background()
	if _, err := adm.Create(bg, "employee", map[string]any{"id": "emp-ann", "name": "Ann Field", "login": "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.Create(bg, "position", map[string]any{"id": "pos-ann", "name": "Ann's territory", "employee_id": "emp-ann"}); err != nil {
		t.Fatal(err)
	}
	ui := base + "/ui/"
	secret := f.adminSetup(ui, srv.Token())
	before := outboxFiles(t, f.ctx, ui)
	f.userCreates(ui)
	f.run("admin signs in again", chromedp.Navigate(ui+"signin"), chromedp.WaitVisible(chromedp.ID("#password")),
		chromedp.SendKeys(chromedp.ID("#password"), srv.Token()), chromedp.Submit(chromedp.ID("#password")), chromedp.WaitVisible(chromedp.ID("#log-pending")))
	for i := 0; outboxFiles(t, f.ctx, ui) <= before; i++ { // the router writes the outbox in its own time
		if i == 1000 {
			t.Fatalf("the outbox of ann-laptop never grew past %d files", before)
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.sh.take("pipeline-grown", "ann-laptop")

	c, err := client.Init(bg, client.Config{Dir: filepath.Join(t.TempDir(), "ann"), Server: base, Node: "ann-laptop", Secret: secret})
	if err != nil {
		t.Fatalf("client init with the secret read off the page: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	view, err := localui.New(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(view.Handler())
	t.Cleanup(func() { view.Close(); hs.Close() })
	f.fieldEdits(hs.URL, view.Token())

	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	if err := srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	f.run("the record on the server", chromedp.Navigate(ui+"t/opportunity/r/opp-1"), chromedp.WaitVisible(chromedp.ID("#history")))
	if got := f.text("#history tbody tr:first-child .origin"); got != "ann-laptop" {
		t.Fatalf("the latest change's origin is %q, want ann-laptop", got)
	}
	if got := f.text("#history tbody tr:last-child .user"); got != "tess" {
		t.Fatalf("the first change's user is %q, want tess", got)
	}
	f.sh.take("server-record", `value="Big deal, signed"`, "ann-laptop", "tess", "History")
}

// adminSetup signs the administrator in with the token, adds the user
// tess and the node ann-laptop, and returns the secret shown.
func (f *flow) adminSetup(ui, token string) string {
	f.run("open the console", chromedp.Navigate(ui+"signin"), chromedp.WaitVisible(chromedp.ID("#password")))
	f.sh.take("signin", "Sign in", "Login")
	f.run("admin signs in", chromedp.SendKeys(chromedp.ID("#password"), token), chromedp.Submit(chromedp.ID("#password")),
		chromedp.WaitVisible(chromedp.ID("#log-pending")))
	f.sh.take("pipeline-start", "Pipeline", "administrator (token)")
	f.run("add user", chromedp.Navigate(ui+"admin/users"), chromedp.WaitVisible(chromedp.ID("#user-login")),
		chromedp.SendKeys(chromedp.ID("#user-login"), "tess"), chromedp.SendKeys(chromedp.ID("#user-employee"), "emp-ann"),
		chromedp.SendKeys(chromedp.ID("#user-password"), pw), chromedp.Submit(chromedp.ID("#user-login")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-user="tess"]`)))
	f.sh.take("users", "tess", "emp-ann", "active")
	f.run("add node", chromedp.Navigate(ui+"admin/nodes"), chromedp.WaitVisible(chromedp.ID("#node-name")),
		chromedp.SendKeys(chromedp.ID("#node-name"), "ann-laptop"), chromedp.SendKeys(chromedp.ID("#node-employee"), "emp-ann"),
		chromedp.Submit(chromedp.ID("#node-name")), chromedp.WaitVisible(chromedp.ID("#secret")))
	secret := f.text("#secret code")
	if len(secret) < 20 {
		f.t.Fatalf("the page shows the secret %q", secret)
	}
	f.sh.take("nodes", "ann-laptop", "shown only now", secret)
	return secret
}

// userCreates signs the administrator out and tess in; tess creates the
// opportunity opp-1 with ann's position on its team.
func (f *flow) userCreates(ui string) {
	f.run("admin signs out", chromedp.Click(chromedp.CSS(`header button`)), chromedp.WaitVisible(chromedp.ID("#login")))
	f.run("user signs in", chromedp.SendKeys(chromedp.ID("#login"), "tess"), chromedp.SendKeys(chromedp.ID("#password"), pw),
		chromedp.Submit(chromedp.ID("#login")), chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/t/opportunity/"]`)))
	f.sh.take("tables", "tess", "opportunity")
	f.run("new opportunity with a bad revenue", chromedp.Navigate(ui+"t/opportunity/new"), chromedp.WaitVisible(chromedp.ID("#f-name")),
		chromedp.SendKeys(chromedp.ID("#f-id"), "opp-1"), chromedp.SendKeys(chromedp.ID("#f-name"), "Big deal"),
		chromedp.SendKeys(chromedp.ID("#f-revenue"), "lots"), chromedp.Submit(chromedp.ID("#f-name")),
		chromedp.WaitVisible(chromedp.ID("#f-revenue-err")))
	if msg := f.text(`[data-field="revenue"] .err`); !strings.Contains(msg, "expects real") {
		f.t.Fatalf("the revenue field shows %q, want its type error", msg)
	}
	f.sh.take("type-error", "expects real", "Big deal")
	f.run("fix the revenue", chromedp.SetValue(chromedp.ID("#f-revenue"), "1200.5"), chromedp.Submit(chromedp.ID("#f-name")),
		chromedp.WaitVisible(chromedp.ID("#history")))
	f.sh.take("opportunity", "Saved opp-1", "opp-1", "tess")
	f.run("add the team member", chromedp.Click(chromedp.CSS(`[data-related="opportunity_team"] a[href*="new"]`)),
		chromedp.WaitVisible(chromedp.ID("#f-position_id")), chromedp.SendKeys(chromedp.ID("#f-position_id"), "pos-ann"),
		chromedp.Submit(chromedp.ID("#f-position_id")), chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	f.sh.take("team-member", "pos-ann", "opp-1")
	f.run("user signs out", chromedp.Click(chromedp.CSS(`header button`)), chromedp.WaitVisible(chromedp.ID("#login")))
}

// fieldEdits opens the field user's view with its token, syncs, renames
// opp-1 and syncs the change up.
func (f *flow) fieldEdits(url, token string) {
	f.run("open the field user's view", chromedp.Navigate(url+"/?token="+token), chromedp.WaitVisible(chromedp.ID("#sync")))
	f.sh.take("field-home", "ann-laptop")
	f.syncButton(url, "sync down")
	f.sh.take("field-synced", "ann-laptop", "Sync done")
	f.run("open the opportunity", chromedp.Navigate(url+"/records/opportunity/opp-1"), chromedp.WaitVisible(chromedp.ID("#f-name")))
	f.sh.take("field-opportunity", "opp-1", `value="Big deal"`)
	f.run("rename it", chromedp.SetValue(chromedp.ID("#f-name"), "Big deal, signed"), chromedp.Submit(chromedp.ID("#f-name")),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	f.sh.take("field-saved", "opp-1", `value="Big deal, signed"`)
	f.syncButton(url, "sync the edit up")
	f.sh.take("field-uploaded", "ann-laptop", "1 changes sent")
}

// syncButton syncs with the field user's home page button and checks it
// went well.
func (f *flow) syncButton(url, what string) {
	f.t.Helper()
	f.run(what, chromedp.Navigate(url+"/"), chromedp.WaitVisible(chromedp.ID("#sync")), chromedp.Click(chromedp.ID("#sync")),
		chromedp.WaitVisible(chromedp.CSS(`#sync-form[data-done]`)))
	if msg := f.text("#sync-progress"); !strings.HasPrefix(msg, "Sync done") {
		f.t.Fatalf("%s: %q", what, msg)
	}
}
