package syncproto_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/httperr"
	"github.com/fieldsync/fieldsync/syncproto"
)

// TestPathsMatchRoutes: every path the Client builds reaches the route
// the server mounts for it, with its wildcards.
func TestPathsMatchRoutes(t *testing.T) {
	ref := fieldsync.FileRef{SHA256: strings.Repeat("ab", 32), Size: 12}
	cases := []struct {
		method, path, route string
		values              map[string]string
	}{
		{"POST", syncproto.StartPath(7), syncproto.RouteStart, nil},
		{"POST", syncproto.EndPath("s1"), syncproto.RouteEnd, map[string]string{"id": "s1"}},
		{"GET", syncproto.ExtractPath, syncproto.RouteExtract, nil},
		{"GET", syncproto.OutboxPath, syncproto.RouteOutbox, nil},
		{"GET", syncproto.OutboxFilePath(12), syncproto.RouteOutboxFile, map[string]string{"number": "12"}},
		{"POST", syncproto.AckPath, syncproto.RouteAck, nil},
		{"PUT", syncproto.UploadPath(3), syncproto.RouteUpload, map[string]string{"number": "3"}},
		{"GET", syncproto.StatePath, syncproto.RouteState, nil},
		{"GET", syncproto.NewsAfterPath(5), syncproto.RouteNews, nil},
		{"GET", syncproto.FilePath(ref), syncproto.RouteFile, map[string]string{"ref": ref.String()}},
		{"PUT", syncproto.FilePath(ref), syncproto.RouteFileUpload, map[string]string{"ref": ref.String()}},
		{"GET", syncproto.FileHavePath(ref), syncproto.RouteFileHave, map[string]string{"ref": ref.String()}},
		{"GET", syncproto.RowPath("account", "acc-1"), syncproto.RouteRow, map[string]string{"table": "account", "id": "acc-1"}},
		{"POST", syncproto.InitPath, syncproto.RouteInit, nil},
		{"POST", syncproto.LostPath, syncproto.RouteLost, nil},
		{"POST", syncproto.ProbePath(1, 2, 3), syncproto.RouteStart, nil},
	}
	routes := []string{syncproto.RouteStart, syncproto.RouteEnd, syncproto.RouteExtract, syncproto.RouteOutbox,
		syncproto.RouteOutboxFile, syncproto.RouteAck, syncproto.RouteUpload, syncproto.RouteState, syncproto.RouteNews,
		syncproto.RouteFile, syncproto.RouteFileUpload, syncproto.RouteFileHave, syncproto.RouteRow, syncproto.RouteInit, syncproto.RouteLost}
	mux := http.NewServeMux()
	got := map[string]*http.Request{}
	for _, route := range routes {
		mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) { got[route] = r })
	}
	for _, tc := range cases {
		clear(got)
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tc.method, tc.path, nil))
		r := got[tc.route]
		if r == nil || len(got) != 1 {
			t.Errorf("%s %s did not reach %s alone: %v", tc.method, tc.path, tc.route, got)
			continue
		}
		for k, v := range tc.values {
			if r.PathValue(k) != v {
				t.Errorf("%s: {%s} = %q, want %q", tc.path, k, r.PathValue(k), v)
			}
		}
	}
}

// countMeter is a syncproto.Meter that adds up what it is told.
type countMeter struct{ have, rest, moved int64 }

func (m *countMeter) Begin(have, rest int64) { m.have, m.rest = have, rest }
func (m *countMeter) Moved(n int64)          { m.moved += n }

// TestDownloadResumes: a download goes on from the bytes already in the
// file, hashes the whole file, and sends the node's credentials and session.
func TestDownloadResumes(t *testing.T) {
	content := bytes.Repeat([]byte("fieldsync "), 5000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		node, secret, _ := r.BasicAuth()
		if node != "ann-laptop" || secret != "s3cret" || r.Header.Get(syncproto.HeaderSession) != "sess" {
			httperr.Write(w, r, slog.New(slog.DiscardHandler), fieldsync.Errorf(fieldsync.ErrUnauthorized, "who are you"))
			return
		}
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(content))
	}))
	defer srv.Close()
	c := syncproto.NewClient(srv.URL+"/", "ann-laptop", "s3cret", srv.Client())
	file := filepath.Join(t.TempDir(), "f.part")
	if err := os.WriteFile(file, content[:1234], 0o600); err != nil {
		t.Fatal(err)
	}
	h, m := sha256.New(), &countMeter{}
	n, err := c.Download(context.Background(), "sess", syncproto.ExtractPath, file, h, m)
	if err != nil || n != int64(len(content)-1234) {
		t.Fatalf("download: %d %v", n, err)
	}
	data, _ := os.ReadFile(file)
	want := sha256.Sum256(content)
	if !bytes.Equal(data, content) || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("the file or its hash differs from the content")
	}
	if m.have != 1234 || m.rest != n || m.moved != n {
		t.Errorf("meter %+v, want have 1234, rest and moved %d", m, n)
	}
	// Complete already: nothing more comes, and the hash is still whole.
	h.Reset()
	if n, err := c.Download(context.Background(), "sess", syncproto.ExtractPath, file, h, nil); err != nil || n != 0 || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("download of a complete file: %d %v", n, err)
	}
	_, err = c.Download(context.Background(), "", syncproto.ExtractPath, file, nil, nil)
	if !errors.Is(err, fieldsync.ErrUnauthorized) || err.Error() != "who are you" {
		t.Fatalf("download without a session: %v", err)
	}
}

// TestUploadFileHeaders: a piece of an attachment file goes with its offset.
func TestUploadFileHeaders(t *testing.T) {
	ref := fieldsync.FileRef{SHA256: strings.Repeat("cd", 32), Size: 10}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != syncproto.FilePath(ref) || r.Header.Get(syncproto.HeaderOffset) != "4" || string(body) != "567890" {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		w.Write([]byte(`{"file": "` + ref.String() + `", "have": 10, "stored": true}`))
	}))
	defer srv.Close()
	c := syncproto.NewClient(srv.URL, "n", "s", nil)
	got, err := c.UploadFile(context.Background(), "sess", ref, 4, strings.NewReader("567890"))
	if err != nil || got != (syncproto.FileUploaded{File: ref.String(), Have: 10, Stored: true}) {
		t.Fatalf("upload file: %+v %v", got, err)
	}
}
