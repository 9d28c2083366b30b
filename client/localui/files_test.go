package localui_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client/localui"
	"github.com/fieldsync/fieldsync/internal/testutil"
)

// attachOnServer makes an attachment row of the field's opportunity on the
// server, with content as its file.
func (f *field) attachOnServer(id, name, mode string, content []byte) {
	f.t.Helper()
	f.create("attachment", map[string]any{"id": id, "opportunity_id": f.opp})
	if _, err := f.api.Attach(context.Background(), "attachment", id, bytes.NewReader(content), name, mode); err != nil {
		f.t.Fatalf("attach %s on the server: %v", id, err)
	}
	f.settle()
}

// raw sends one request with the bearer token and returns the answer,
// its body read.
func (f *field) raw(method, path string, body io.Reader, header map[string]string) (*http.Response, string) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.url+path, body)
	req.Header.Set("Authorization", "Bearer "+f.ui.Token())
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (f *field) fileInfo(id string) localui.FileInfo {
	f.t.Helper()
	var fi localui.FileInfo
	if code := f.call("GET", "/api/v1/records/attachment/"+id+"/file/info", nil, &fi); code != 200 {
		f.t.Fatalf("file info of %s: %d", id, code)
	}
	return fi
}

// TestLocalAPIFiles: a published file is served from the node's folder
// (whole, ranged, as a download), checked against its reference first; a
// requested-mode file says it comes only on request until it is requested
// and synced; a file attached through the view goes up at the next sync.
func TestLocalAPIFiles(t *testing.T) {
	testutil.ForBackends(t, func(t *testing.T, b testutil.Backend) {
		f := newField(t, b)
		proposal, prices := []byte("the proposal, version 3\n"), []byte("price list\n")
		f.attachOnServer("pub", "proposal.txt", "published", proposal)
		f.attachOnServer("req", "prices.pdf", "requested", prices)
		f.syncNow()
		if fi := f.fileInfo("pub"); fi.State != localui.FileHere || fi.Name != "proposal.txt" || fi.Size != int64(len(proposal)) {
			t.Fatalf("published file: %+v", fi)
		}
		resp, body := f.raw("GET", "/api/v1/records/attachment/pub/file", nil, nil)
		if resp.StatusCode != 200 || body != string(proposal) || !strings.HasPrefix(resp.Header.Get("X-Fieldsync-File"), "sha256:") ||
			resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("Content-Disposition") != `inline; filename=proposal.txt` {
			t.Fatalf("published file: %d %q %v", resp.StatusCode, body, resp.Header)
		}
		if resp, body = f.raw("GET", "/api/v1/records/attachment/pub/file?download=1", nil, map[string]string{"Range": "bytes=4-"}); resp.StatusCode != http.StatusPartialContent ||
			body != string(proposal[4:]) || resp.Header.Get("Content-Disposition") != "attachment; filename=proposal.txt" {
			t.Fatalf("ranged download: %d %q %v", resp.StatusCode, body, resp.Header)
		}
		if fi := f.fileInfo("req"); fi.State != localui.FileOnRequest {
			t.Fatalf("requested-mode file before the request: %+v", fi)
		}
		if resp, body = f.raw("GET", "/api/v1/records/attachment/req/file", nil, nil); resp.StatusCode != 404 || !strings.Contains(body, "comes only on request") {
			t.Fatalf("requested-mode file not asked for: %d %s", resp.StatusCode, body)
		}
		var fi localui.FileInfo
		if code := f.call("POST", "/api/v1/records/attachment/req/file/request", nil, &fi); code != 200 || fi.State != localui.FileRequested {
			t.Fatalf("request: %d %+v", code, fi)
		}
		if resp, body = f.raw("GET", "/api/v1/records/attachment/req/file", nil, nil); resp.StatusCode != 404 || !strings.Contains(body, "comes at the next sync") {
			t.Fatalf("requested file before the sync: %d %s", resp.StatusCode, body)
		}
		f.syncNow()
		if resp, body = f.raw("GET", "/api/v1/records/attachment/req/file", nil, nil); resp.StatusCode != 200 || body != string(prices) ||
			resp.Header.Get("Content-Disposition") != "inline; filename=prices.pdf" || resp.Header.Get("Content-Security-Policy") != "default-src 'none'; sandbox; frame-ancestors 'none'" {
			t.Fatalf("requested file after the sync: %d %q %v", resp.StatusCode, body, resp.Header)
		}
		damaged(t, f, proposal)
		attachThroughView(t, f)
	})
}

// damaged: a node's copy that no longer matches its reference is refused,
// not served.
func damaged(t *testing.T, f *field, proposal []byte) {
	ref, err := fieldsync.ParseFileRef(f.fileInfo("pub").Ref)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.ToUpper(proposal)
	if err := os.WriteFile(f.c.FilePath(ref), bad, 0o600); err != nil {
		t.Fatal(err)
	}
	resp, body := f.raw("GET", "/api/v1/records/attachment/pub/file", nil, nil)
	if resp.StatusCode != 400 || !strings.Contains(body, `"damaged_file"`) || strings.Contains(body, string(bad)) {
		t.Fatalf("damaged copy: %d %s", resp.StatusCode, body)
	}
}

// attachThroughView: PUT .../file attaches the body, which the server
// has after the next sync.
func attachThroughView(t *testing.T, f *field) {
	var row map[string]any
	if code := f.call("POST", "/api/v1/records/attachment", map[string]any{"opportunity_id": f.opp}, &row); code != 201 {
		t.Fatalf("create attachment: %d %v", code, row)
	}
	id := row["id"].(string)
	notes := []byte("visit notes: Acme wants a discount\n")
	resp, body := f.raw("PUT", "/api/v1/records/attachment/"+id+"/file?name=notes.txt&mode=published", bytes.NewReader(notes), nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"file_name": "notes.txt"`) {
		t.Fatalf("attach: %d %s", resp.StatusCode, body)
	}
	if resp, body = f.raw("GET", "/api/v1/records/attachment/"+id+"/file", nil, nil); body != string(notes) {
		t.Fatalf("attached file as the view serves it: %d %q", resp.StatusCode, body)
	}
	if st := f.syncNow(); st.Last.Uploaded == 0 {
		t.Fatalf("the attachment did not go up: %+v", st.Last)
	}
	f.settle()
	var got bytes.Buffer
	if _, err := f.api.Fetch(context.Background(), "attachment", id, &got, 0); err != nil || got.String() != string(notes) {
		t.Fatalf("the server's copy of the attached file: %q %v", got.String(), err)
	}
}

// TestLocalAPIFileRefusals: uploads past the view's limit, of an unknown
// mode, to a table without files or a row the node lacks, and uploads
// from the page without the CSRF value are refused with one line; a file
// name cannot name a folder.
func TestLocalAPIFileRefusals(t *testing.T) {
	f := newField(t, testutil.Backends[0])
	f.syncNow()
	var row map[string]any
	if code := f.call("POST", "/api/v1/records/attachment", map[string]any{"opportunity_id": f.opp}, &row); code != 201 {
		t.Fatalf("create attachment: %d", code)
	}
	id := row["id"].(string)
	small, err := localui.New(f.c, nil)
	if err != nil {
		t.Fatal(err)
	}
	small.MaxFile = 100
	hs := httptest.NewServer(small.Handler())
	t.Cleanup(func() { small.Close(); hs.Close() })
	put := func(path string, n int) (int, string) {
		req, _ := http.NewRequest("PUT", hs.URL+path, bytes.NewReader(bytes.Repeat([]byte("x"), n)))
		req.Header.Set("Authorization", "Bearer "+small.Token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	file := "/api/v1/records/attachment/" + id + "/file"
	for _, c := range []struct {
		name, path string
		size, want int
		msg        string
	}{
		{"past the limit", file + "?name=big.bin", 101 + 64<<10, 413, "larger than the view's limit of 100 bytes"},
		{"unknown mode", file + "?mode=everyone", 10, 400, "want published, requested or broadcast"},
		{"table without files", "/api/v1/records/account/acme/file", 10, 400, "table account carries no files"},
		{"row the node lacks", "/api/v1/records/attachment/ghost/file", 10, 404, "ghost"},
		{"broadcast from a node", file + "?mode=broadcast", 10, 403, "only the server puts attachment rows in broadcast mode"},
	} {
		if code, body := put(c.path, c.size); code != c.want || !strings.Contains(body, c.msg) || strings.Count(strings.TrimSpace(body), "\n") > 3 {
			t.Errorf("%s: %d %s; want %d saying %q", c.name, code, body, c.want, c.msg)
		}
	}
	if code, body := put(file+"?name="+url.QueryEscape("../../etc/passwd"), 10); code != 200 || !strings.Contains(body, `"file_name": "passwd"`) {
		t.Fatalf("a name with folders: %d %s", code, body)
	}
	for _, csrf := range []string{"", "wrong"} {
		if resp, _ := f.upload(id, "notes.txt", []byte("notes"), csrf); resp.StatusCode != 403 {
			t.Fatalf("page upload with CSRF %q: %d, want 403", csrf, resp.StatusCode)
		}
	}
	if resp, page := f.upload(id, "", nil, f.ui.CSRF()); resp.StatusCode != 400 || !strings.Contains(page, `class="flash bad"`) ||
		!strings.Contains(page, "Not done: choose a file to attach") || !strings.Contains(page, `id="file-input"`) {
		t.Fatalf("page upload without a file: %d, want 400 and the record page saying so:\n%s", resp.StatusCode, page)
	}
	resp, _ := f.upload(id, "notes.txt", []byte("notes"), f.ui.CSRF())
	if resp.StatusCode != 303 || !strings.Contains(resp.Header.Get("Location"), "Attached+notes.txt") {
		t.Fatalf("page upload: %d %v", resp.StatusCode, resp.Header)
	}
	if fi := f.fileInfo(id); fi.Name != "notes.txt" || fi.State != localui.FileHere || fi.Size != 5 {
		t.Fatalf("after the page upload: %+v", fi)
	}
}

// upload posts the record page's upload form with the cookie, as a
// browser does (no file part when content is nil).
func (f *field) upload(id, name string, content []byte, csrf string) (*http.Response, string) {
	f.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if csrf != "" {
		mw.WriteField("csrf", csrf)
	}
	mw.WriteField("mode", "published")
	if content != nil {
		fw, _ := mw.CreateFormFile("file", name)
		fw.Write(content)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", f.url+"/records/attachment/"+id+"/file", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Cookie", localui.CookieName+"="+f.ui.Token())
	resp, err := noRedirect.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestRecordListPages: a list longer than a page links to the next page
// and back to the first, with the search kept; the picker offers local
// rows that match, labelled.
func TestRecordListPages(t *testing.T) {
	f := newField(t, testutil.Backends[0])
	f.syncNow()
	for i := range 53 {
		if code := f.call("POST", "/api/v1/records/activity", map[string]any{"id": fmt.Sprintf("act-%03d", i), "owner_id": "ann", "type": "call",
			"description": fmt.Sprintf("call %d", i)}, nil); code != 201 {
			t.Fatalf("create activity %d: %d", i, code)
		}
	}
	page := func(path string) string {
		resp, body := f.raw("GET", path, nil, map[string]string{"Authorization": "", "Cookie": localui.CookieName + "=" + f.ui.Token()})
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		return body
	}
	first := page("/records/activity")
	if strings.Count(first, `<tr data-id="act-`) != 50 || !strings.Contains(first, `id="page-next" rel="next" href="/records/activity?after=act-049&amp;page=2"`) ||
		strings.Contains(first, `id="page-first"`) {
		t.Fatalf("first page:\n%s", first)
	}
	second := page("/records/activity?after=act-049&page=2")
	if strings.Count(second, `<tr data-id="act-`) != 3 || !strings.Contains(second, `data-id="act-052"`) || strings.Contains(second, `id="page-next"`) ||
		!strings.Contains(second, `id="page-first" href="/records/activity"`) || !strings.Contains(second, "Page 2") {
		t.Fatalf("second page:\n%s", second)
	}
	if one := page("/records/activity?q=call+5"); strings.Contains(one, `id="page-next"`) || strings.Count(one, `<tr data-id="act-`) != 4 {
		t.Fatalf("a search within one page (call 5, 50, 51, 52):\n%s", one)
	}
	var choices []localui.Choice
	if code := f.call("GET", "/api/v1/pick/opportunity?q=renewal", nil, &choices); code != 200 || len(choices) != 1 ||
		choices[0].ID != f.opp || choices[0].Label != "Acme renewal" {
		t.Fatalf("picker: %d %+v", code, choices)
	}
	if code := f.call("GET", "/api/v1/pick/activity", nil, &choices); code != 200 || len(choices) != 20 {
		t.Fatalf("picker without a search: %d, %d choices, want 20", code, len(choices))
	}
}
