package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// browser starts headless Chromium at the given viewport width, or skips
// the test (fails it under CI) when Chromium is not installed.
func browser(t *testing.T, width int) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed: browser tests cannot run (apt-get install chromium)")
		}
		t.Skip("chromium is not installed: browser tests skipped")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(width, 900), chromedp.UserDataDir(t.TempDir()), chromedp.Flag("proxy-server", "direct://"))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), 900)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// shots saves screenshots to FIELDSYNC_SCREENSHOTS (default a temporary
// folder), each checked to show what it is about.
type shots struct {
	t      *testing.T
	ctx    context.Context
	dir    string
	prefix string
	n      int
}

// take saves a screenshot of the page after checking that its text (or a
// field's value) holds every one of want at that moment.
func (s *shots) take(name string, want ...string) {
	s.t.Helper()
	text, err := chromedp.Run(s.ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		s.t.Fatalf("page text %s: %v", name, err)
	}
	html, err := chromedp.Run(s.ctx, chromedp.OuterHTML(chromedp.CSS("main")))
	if err != nil {
		s.t.Fatalf("page %s: %v", name, err)
	}
	text += "\n" + html // what the fields hold is in their value attributes
	png, err := chromedp.Run(s.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			s.t.Fatalf("page %s does not show %q:\n%s", name, w, text)
		}
	}
	s.n++
	file := filepath.Join(s.dir, fmt.Sprintf("%s-%02d-%s.png", s.prefix, s.n, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func screenshotDir(t *testing.T) string {
	if d := os.Getenv("FIELDSYNC_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func TestConsoleFlowDesktop(t *testing.T) { testConsoleFlow(t, 1280, "desktop") }

func TestConsoleFlowPhone(t *testing.T) { testConsoleFlow(t, 390, "phone") }

// testConsoleFlow: an administrator signs in, adds a connected user and a
// node; the user signs in (setting a password), creates an opportunity,
// sees a type error next to its field, puts the node's employee's position
// on the sales team; the pipeline shows the node's outbox grow.
func testConsoleFlow(t *testing.T, width int, prefix string) {
	ctx := browser(t, width)
	srv, base := testutil.StartServer(t, server.Config{})
	adm := srv.Admin()
	bg := context.Background()
	if _, err := adm.Create(bg, "employee", map[string]any{"id": "emp-ann", "name": "Ann Field", "login": "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.Create(bg, "position", map[string]any{"id": "pos-ann", "name": "Ann's territory", "employee_id": "emp-ann"}); err != nil {
		t.Fatal(err)
	}
	sh := &shots{t: t, ctx: ctx, dir: screenshotDir(t), prefix: prefix}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		step, cancel := context.WithTimeout(ctx, time.Minute) // a step that cannot happen fails, not hangs
		defer cancel()
		if err := chromedp.Do(step, actions...); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
			t.Fatalf("%s: %v\n%s", what, err, page)
		}
	}
	ui := base + "/ui/"
	run("admin signs in", chromedp.Navigate(ui+"signin"), chromedp.WaitVisible(chromedp.ID("#password")))
	sh.take("signin", "Sign in", "Login")
	run("admin signs in", chromedp.SendKeys(chromedp.ID("#password"), srv.Token()), chromedp.Submit(chromedp.ID("#password")),
		chromedp.WaitVisible(chromedp.ID("#log-pending")))
	sh.take("pipeline-start", "Pipeline", "administrator (token)")

	run("add user", chromedp.Navigate(ui+"admin/users"), chromedp.WaitVisible(chromedp.ID("#user-login")),
		chromedp.SendKeys(chromedp.ID("#user-login"), "tess"), chromedp.SendKeys(chromedp.ID("#user-employee"), "emp-ann"),
		chromedp.Submit(chromedp.ID("#user-login")), chromedp.WaitVisible(chromedp.CSS(`tr[data-user="tess"]`)))
	sh.take("users", "tess", "no password yet")

	run("add node", chromedp.Navigate(ui+"admin/nodes"), chromedp.WaitVisible(chromedp.ID("#node-name")),
		chromedp.SendKeys(chromedp.ID("#node-name"), "ann-laptop"), chromedp.SendKeys(chromedp.ID("#node-employee"), "emp-ann"),
		chromedp.Submit(chromedp.ID("#node-name")), chromedp.WaitVisible(chromedp.ID("#secret")))
	sh.take("nodes", "ann-laptop", "shown only now")
	before := outboxFiles(t, ctx, ui)

	run("admin signs out", chromedp.Click(chromedp.CSS(`header button`)), chromedp.WaitVisible(chromedp.ID("#login")))
	run("user signs in first", chromedp.SendKeys(chromedp.ID("#login"), "tess"), chromedp.SendKeys(chromedp.ID("#password"), "x"),
		chromedp.Submit(chromedp.ID("#login")), chromedp.WaitVisible(chromedp.ID("#new_password")))
	sh.take("first-signin", "choose a password")
	run("user sets a password", chromedp.SendKeys(chromedp.ID("#new_password"), "correct horse battery"),
		chromedp.Submit(chromedp.ID("#login")), chromedp.WaitVisible(chromedp.CSS(`a[href="/ui/t/opportunity/"]`)))
	sh.take("tables", "tess", "opportunity")

	run("new opportunity with a bad revenue", chromedp.Navigate(ui+"t/opportunity/new"), chromedp.WaitVisible(chromedp.ID("#f-name")),
		chromedp.SendKeys(chromedp.ID("#f-id"), "opp-1"), chromedp.SendKeys(chromedp.ID("#f-name"), "Big deal"),
		chromedp.SendKeys(chromedp.ID("#f-revenue"), "lots"), chromedp.Submit(chromedp.ID("#f-name")),
		chromedp.WaitVisible(chromedp.ID("#f-revenue-err")))
	fieldErr, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-field="revenue"] .err`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fieldErr, "expects real") {
		t.Fatalf("the revenue field shows %q, want its type error", fieldErr)
	}
	sh.take("type-error", "expects real", "Big deal")

	run("fix the revenue", chromedp.SetValue(chromedp.ID("#f-revenue"), "1200.5"), chromedp.Submit(chromedp.ID("#f-name")),
		chromedp.WaitVisible(chromedp.CSS(`[data-related="opportunity_team"]`)))
	sh.take("opportunity", "Saved opp-1", "opp-1")

	run("add the team member", chromedp.Click(chromedp.CSS(`[data-related="opportunity_team"] a[href*="new"]`)),
		chromedp.WaitVisible(chromedp.ID("#f-position_id")), chromedp.SendKeys(chromedp.ID("#f-position_id"), "pos-ann"),
		chromedp.Submit(chromedp.ID("#f-position_id")), chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	sh.take("team-member", "pos-ann", "opp-1")
	run("back to the opportunity", chromedp.Navigate(ui+"t/opportunity/r/opp-1"), chromedp.WaitVisible(chromedp.CSS(`[data-related="opportunity_team"] tr[data-id]`)))
	sh.take("opportunity-team", "pos-ann", "Big deal")

	run("user signs out", chromedp.Click(chromedp.CSS(`header button`)), chromedp.WaitVisible(chromedp.ID("#login")))
	run("admin signs in again", chromedp.SendKeys(chromedp.ID("#password"), srv.Token()), chromedp.Submit(chromedp.ID("#password")),
		chromedp.WaitVisible(chromedp.ID("#log-pending")))
	for i := 0; outboxFiles(t, ctx, ui) <= before; i++ { // the router writes the outbox in its own time
		if i == 1000 {
			t.Fatalf("the outbox of ann-laptop never grew past %d files", before)
		}
		time.Sleep(100 * time.Millisecond)
	}
	sh.take("pipeline-grown", "ann-laptop")
}

// outboxFiles reads ann-laptop's outbox file count off the pipeline page.
func outboxFiles(t *testing.T, ctx context.Context, ui string) int {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(ui+"admin/pipeline")); err != nil {
		t.Fatalf("pipeline page: %v", err)
	}
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`tr[data-node="ann-laptop"] .outbox-files`)))
	if err != nil {
		t.Fatalf("pipeline page: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("outbox files %q: %v", s, err)
	}
	return n
}
