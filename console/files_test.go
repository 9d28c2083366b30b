package console_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"mime/multipart"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/server"
)

// upload posts a record's file form as a browser does: the CSRF token,
// the mode, then the file. It returns the answer's status and body.
func (c *consoleClient) upload(path, token, mode, name string, content []byte) (int, string) {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if token != "" {
		_ = mw.WriteField("csrf", token)
	}
	if mode != "" {
		_ = mw.WriteField("mode", mode)
	}
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		c.t.Fatal(err)
	}
	_, _ = fw.Write(content)
	_ = mw.Close()
	resp, err := c.hc.Post(c.base+path, mw.FormDataContentType(), &body)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAttachments: a record of a table that carries a file shows an
// upload form; a file larger than a form (but within the server's file
// limit) is stored with its name and mode, shown with its size and hash,
// and downloads as it was; an upload without the CSRF token, one over the
// limit and one to a table without files are refused, changing nothing.
func TestAttachments(t *testing.T) {
	const limit = 1 << 20
	srv, c := signedIn(t, server.Config{MaxFileBytes: limit})
	ctx := context.Background()
	adm := srv.Admin()
	addNodes(t, srv)
	if _, err := adm.Create(ctx, "account", map[string]any{"id": "acme", "name": "Acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.Create(ctx, "opportunity", map[string]any{"id": "opp-1", "name": "Big deal", "account_id": "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.Create(ctx, "attachment", map[string]any{"id": "att-1", "opportunity_id": "opp-1"}); err != nil {
		t.Fatal(err)
	}
	path := "/ui/t/attachment/r/att-1"
	page := c.get(path, http.StatusOK)
	for _, w := range []string{`id="no-file"`, `enctype="multipart/form-data"`, `<label for="file-input">File</label>`, `<label for="file-mode-input">Mode</label>`, "At most 1 MiB (1048576 bytes)"} {
		if !strings.Contains(page, w) {
			t.Fatalf("the record page lacks %s:\n%s", w, page)
		}
	}
	if p := c.get("/ui/t/account/r/acme", http.StatusOK); strings.Contains(p, `id="attachment"`) {
		t.Fatal("a record of a table without files shows a file section")
	}
	token := csrf(t, page)
	content := bytes.Repeat([]byte("quote line\n"), 20000) // 220 000 bytes: more than a form may be
	sum := sha256.Sum256(content)
	status, body := c.upload(path+"/file", token, "requested", `C:\Users\ann\quote "Q4".txt`, content)
	if status != http.StatusOK || !strings.Contains(body, "Attached 220000 bytes") {
		t.Fatalf("upload: %d\n%s", status, body)
	}
	for _, w := range []string{`<dd id="file-size">220000 bytes</dd>`, strings.Join(regexp.MustCompile(`.{16}`).FindAllString(hex.EncodeToString(sum[:]), -1), "<wbr>"), `<dd id="file-mode">requested</dd>`, `<dd id="file-name">quote &#34;Q4&#34;.txt</dd>`} {
		if !strings.Contains(body, w) {
			t.Errorf("the record page after the upload lacks %s:\n%s", w, body)
		}
	}
	resp, err := c.hc.Get(c.base + path + "/file")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, content) || resp.Header.Get("Content-Disposition") != `attachment; filename="quote \"Q4\".txt"` ||
		resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("download: %s, %d bytes, %q %q", resp.Status, len(got), resp.Header.Get("Content-Disposition"), resp.Header.Get("Content-Type"))
	}
	before, err := adm.Get(ctx, "attachment", "att-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		name, path, token string
		content           []byte
		status            int
		says              string
	}{
		{"no CSRF token", path + "/file", "", []byte("x"), http.StatusForbidden, "the form is stale"},
		{"a wrong CSRF token", path + "/file", "not-the-token", []byte("x"), http.StatusForbidden, "the form is stale"},
		{"over the limit", path + "/file", token, make([]byte, limit+1), http.StatusRequestEntityTooLarge, "file larger than the limit of " + strconv.Itoa(limit) + " bytes"},
		{"a table without files", "/ui/t/account/r/acme/file", token, []byte("x"), http.StatusBadRequest, "table account carries no files"},
		{"no such record", "/ui/t/attachment/r/nope/file", token, []byte("x"), http.StatusNotFound, "nope"},
	} {
		status, body := c.upload(bad.path, bad.token, "", "f.txt", bad.content)
		if status != bad.status || !strings.Contains(body, bad.says) {
			t.Errorf("%s: %d, want %d saying %q:\n%s", bad.name, status, bad.status, bad.says, body)
		}
	}
	if after, err := adm.Get(ctx, "attachment", "att-1"); err != nil || after["file"] != before["file"] || after["mode"] != "requested" {
		t.Fatalf("refused uploads changed the row: %v, %v", after, err)
	}
	big := strings.NewReader("csrf=" + token + "&name=" + strings.Repeat("x", 70<<10))
	resp, err = c.hc.Post(c.base+"/ui/t/account/r/acme", "application/x-www-form-urlencoded", big)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a form over 64 KiB to a record: %s, want 413", resp.Status)
	}
}
