package localui_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fieldsync/fieldsync/internal/testutil"
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

// shot saves a screenshot after checking that the page's text (or a
// field's value) holds every one of want at that moment.
func shot(t *testing.T, ctx context.Context, file string, want ...string) {
	t.Helper()
	if wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("document.documentElement.scrollWidth > window.innerWidth")); err != nil || wide {
		t.Fatalf("page %s is wider than the window (%v)", file, err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatalf("page text %s: %v", file, err)
	}
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
	if err != nil {
		t.Fatalf("page %s: %v", file, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", file, err)
	}
	for _, w := range want {
		if !strings.Contains(text+"\n"+html, w) {
			t.Fatalf("page %s does not show %q:\n%s", file, w, text)
		}
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
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

// view drives one browser through the field's view, saving a checked
// screenshot at each step.
type view struct {
	t      *testing.T
	ctx    context.Context
	f      *field
	dir    string
	prefix string
	n      int
}

func newView(t *testing.T, width int, prefix string, f *field) *view {
	return &view{t: t, ctx: browser(t, width), f: f, dir: screenshotDir(t), prefix: prefix}
}

// take saves the next screenshot, once the page shows every one of want.
func (v *view) take(name string, want ...string) {
	v.t.Helper()
	v.n++
	shot(v.t, v.ctx, filepath.Join(v.dir, fmt.Sprintf("%s-%02d-%s.png", v.prefix, v.n, name)), want...)
}

// run does the actions of one step; a step that cannot happen fails, not hangs.
func (v *view) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	v.t.Helper()
	step, cancel := context.WithTimeout(v.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(step, actions...); err != nil {
		page, _ := chromedp.Run(v.ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		v.t.Fatalf("%s: %v\n%s", what, err, page)
	}
}

// text is the text of what sel selects.
func (v *view) text(sel string) string {
	v.t.Helper()
	s, err := chromedp.Run(v.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		v.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// syncButton syncs with the home page's button and checks it went well.
func (v *view) syncButton(what string) {
	v.t.Helper()
	v.run(what, chromedp.Navigate(v.f.url+"/"), chromedp.WaitVisible(chromedp.ID("#sync")), chromedp.Click(chromedp.ID("#sync")),
		chromedp.WaitVisible(chromedp.CSS(`#sync-form[data-done]`)))
	if msg := v.text("#sync-progress"); !strings.HasPrefix(msg, "Sync done") {
		v.t.Fatalf("%s: %q", what, msg)
	}
}

func TestFieldViewDesktop(t *testing.T) { testFieldView(t, 1280, "field-desktop", "negotiation") }

func TestFieldViewPhone(t *testing.T) { testFieldView(t, 390, "field-phone", "closing") }

// testFieldView: the field user opens the printed URL, syncs with the
// button and finds the opportunity the server routed to the node, edits its
// stage in the schema-built form, syncs again, and the server has the new
// stage.
func testFieldView(t *testing.T, width int, prefix, stage string) {
	f := newField(t, testutil.Backends[0])
	v := newView(t, width, prefix, f)
	v.run("open the printed URL", chromedp.Navigate(f.url+"/?token="+f.ui.Token()), chromedp.WaitVisible(chromedp.ID("#sync")))
	v.take("home", "ann-laptop", "Last sync: never")
	v.syncButton("sync with the button")
	v.take("synced", "ann-laptop", "Sync done")
	v.run("list opportunities", chromedp.Navigate(f.url+"/records/opportunity"), chromedp.WaitVisible(chromedp.CSS(`tr[data-id="`+f.opp+`"]`)))
	v.take("opportunities", f.opp, "Acme renewal")
	v.run("search", chromedp.SendKeys(chromedp.ID("#q"), "renewal"), chromedp.Submit(chromedp.ID("#q")),
		chromedp.WaitVisible(chromedp.CSS(`#matching[data-q="renewal"]`)))
	v.take("search", f.opp, "Acme renewal", "1 record(s) matching")
	v.run("open the opportunity", chromedp.Click(chromedp.CSS(`a[href="/records/opportunity/`+f.opp+`"]`)), chromedp.WaitVisible(chromedp.ID("#f-stage")))
	v.take("opportunity", f.opp, "opportunity: Acme renewal")
	v.run("edit the stage", chromedp.SetValue(chromedp.ID("#f-stage"), stage), chromedp.Submit(chromedp.ID("#f-stage")),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)))
	v.take("saved", f.opp, "Saved", `value="`+stage+`"`)
	v.syncButton("sync the edit up")
	v.take("uploaded", "ann-laptop", "Sync done: 1 changes sent")
	f.settle()
	row, err := f.api.Get(context.Background(), "opportunity", f.opp)
	if err != nil || row["stage"] != stage {
		t.Fatalf("server's opportunity after the field user's edit: %v %v", row, err)
	}
}
