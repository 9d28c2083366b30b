package localui_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/fieldsync/fieldsync/internal/testutil"
)

func TestFieldFilesDesktop(t *testing.T) { testFieldFiles(t, 1280, "files-desktop") }

func TestFieldFilesPhone(t *testing.T) { testFieldFiles(t, 390, "files-phone") }

// testFieldFiles: on the record pages the field user opens a published
// file, requests a requested-mode one and has it after a sync, picks an
// opportunity for a new attachment with the keyboard, attaches a file
// that reaches the server, and pages through a long list.
func testFieldFiles(t *testing.T, width int, prefix string) {
	f := newField(t, testutil.Backends[0])
	proposal := []byte("Acme renewal: the proposal, version 3\n")
	f.attachOnServer("pub", "proposal.txt", "published", proposal)
	f.attachOnServer("req", "prices.txt", "requested", []byte("Acme price list\n"))
	v := newView(t, width, prefix, f)
	v.run("open the printed URL", chromedp.Navigate(f.url+"/?token="+f.ui.Token()), chromedp.WaitVisible(chromedp.ID("#sync")))
	v.syncButton("first sync")

	v.run("open the published attachment", chromedp.Navigate(f.url+"/records/attachment/pub"), chromedp.WaitVisible(chromedp.ID("#file-open")))
	v.take("published", "proposal.txt", "38 bytes", "In the node's folder", `data-state="here"`)
	href, err := chromedp.Run(v.ctx, chromedp.AttributeValue(chromedp.ID("#file-open"), "href"))
	if err != nil || !href.Exists {
		t.Fatalf("Open link: %v %+v", err, href)
	}
	v.run("open the file", chromedp.Navigate(f.url+href.Value), chromedp.WaitVisible(chromedp.CSS("body")))
	if got := v.text("body"); strings.TrimSpace(got) != strings.TrimSpace(string(proposal)) {
		t.Fatalf("the opened file shows %q", got)
	}

	v.run("open the requested-mode attachment", chromedp.Navigate(f.url+"/records/attachment/req"), chromedp.WaitVisible(chromedp.ID("#file-request")))
	v.take("on-request", "prices.txt", "comes only on request", `data-state="on_request"`)
	v.run("request the file", chromedp.Click(chromedp.ID("#file-request")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	v.take("requested", "prices.txt", "Requested: the file comes at the next sync", `data-state="requested"`)
	v.syncButton("sync the requested file down")
	v.run("the requested file is here", chromedp.Navigate(f.url+"/records/attachment/req"), chromedp.WaitVisible(chromedp.ID("#file-open")))
	v.take("requested-here", "prices.txt", "In the node's folder")

	pickOpportunity(t, v)
	attachFile(t, v)
	pageThrough(t, v)
}

// pickOpportunity: the new attachment's opportunity is chosen with the
// picker, by keyboard alone, and the attachment saved.
func pickOpportunity(t *testing.T, v *view) {
	f := v.f
	v.run("new attachment", chromedp.Navigate(f.url+"/records/attachment/new"), chromedp.WaitVisible(chromedp.ID("#f-opportunity_id")))
	attrs, err := chromedp.Run(v.ctx, chromedp.Attributes(chromedp.ID("#f-opportunity_id")))
	if err != nil || attrs["role"] != "combobox" || attrs["aria-controls"] != "f-opportunity_id-choices" {
		t.Fatalf("the picker's input: %v %v", attrs, err)
	}
	v.run("search the picker", chromedp.Focus(chromedp.ID("#f-opportunity_id")), chromedp.SendKeys(chromedp.ID("#f-opportunity_id"), "renew"),
		chromedp.WaitVisible(chromedp.CSS(`#f-opportunity_id-choices li[role="option"][data-id="`+f.opp+`"]`)))
	list, err := chromedp.Run(v.ctx, chromedp.Attributes(chromedp.ID("#f-opportunity_id-choices")))
	if err != nil || list["role"] != "listbox" || list["aria-label"] != "opportunity_id: matching opportunity rows" {
		t.Fatalf("the picker's list: %v %v", list, err)
	}
	v.take("picker", "Acme renewal ("+f.opp+")", "1 opportunity row(s) match")
	v.run("choose with the keyboard", chromedp.KeyEvent(kb.ArrowDown),
		chromedp.WaitVisible(chromedp.CSS(`#f-opportunity_id-choices li[aria-selected="true"]`)),
		chromedp.KeyEvent(kb.Enter), chromedp.WaitReady(chromedp.CSS(`#f-opportunity_id[data-chosen]`)))
	if got, _ := chromedp.Run(v.ctx, chromedp.Value(chromedp.ID("#f-opportunity_id"))); got != f.opp {
		t.Fatalf("the picker filled %q, want %s", got, f.opp)
	}
	if on, _ := chromedp.Run(v.ctx, chromedp.Evaluate[bool](`location.pathname === "/records/attachment/new"`)); !on {
		t.Fatal("Enter on a choice sent the form")
	}
	v.take("picked", "Chosen: Acme renewal ("+f.opp+")", `data-chosen="`+f.opp+`"`)
	v.run("save the attachment", chromedp.SetValue(chromedp.ID("#f-id"), "visit"), chromedp.Submit(chromedp.ID("#f-id")),
		chromedp.WaitVisible(chromedp.ID("#file-input")))
	v.take("new-attachment", "Saved", "No file attached.", f.opp)
}

// attachFile: the upload form attaches a file, which reaches the server
// at the next sync.
func attachFile(t *testing.T, v *view) {
	f := v.f
	notes := []byte("visit notes: Acme wants a two-year term\n")
	path := filepath.Join(t.TempDir(), "visit-notes.txt")
	if err := os.WriteFile(path, notes, 0o600); err != nil {
		t.Fatal(err)
	}
	v.run("attach a file", chromedp.SetUploadFiles(chromedp.ID("#file-input"), []string{path}),
		chromedp.SetValue(chromedp.ID("#file-mode"), "published"), chromedp.Submit(chromedp.ID("#file-input")),
		chromedp.WaitVisible(chromedp.ID("#file-open")))
	v.take("attached", "Attached visit-notes.txt", "visit-notes.txt", "In the node's folder", "published")
	v.syncButton("sync the attachment up")
	f.settle()
	var got bytes.Buffer
	if _, err := f.api.Fetch(context.Background(), "attachment", "visit", &got, 0); err != nil || !bytes.Equal(got.Bytes(), notes) {
		t.Fatalf("the server's copy of the attached file: %q %v", got.String(), err)
	}
}

// pageThrough: a list of more than a page has a Next page link, and the
// page after it a First page link.
func pageThrough(t *testing.T, v *view) {
	f := v.f
	for i := range 52 {
		if code := f.call("POST", "/api/v1/records/activity", map[string]any{"id": fmt.Sprintf("call-%02d", i), "owner_id": "ann",
			"type": "call", "description": fmt.Sprintf("Call Acme about the renewal, %d", i)}, nil); code != 201 {
			t.Fatalf("create activity %d: %d", i, code)
		}
	}
	v.run("list activities", chromedp.Navigate(f.url+"/records/activity"), chromedp.WaitVisible(chromedp.ID("#page-next")))
	v.take("activities-1", "call-00", "call-49", "Page 1", "Next page")
	v.run("next page", chromedp.Click(chromedp.ID("#page-next")), chromedp.WaitVisible(chromedp.ID("#page-first")))
	v.take("activities-2", "call-50", "call-51", "Page 2", "First page")
	if body := v.text("main"); strings.Contains(body, "call-49") || strings.Contains(body, "Next page") {
		t.Fatalf("second page shows the first page's rows or a next link:\n%s", body)
	}
}
