package httperr_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/httperr"
)

// roundTrip answers err through Write and reads the answer back with Read.
func roundTrip(t *testing.T, log *slog.Logger, err error) (*http.Response, error) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httperr.Write(w, r, log, err)
	}))
	defer srv.Close()
	resp, gerr := http.Get(srv.URL + "/some/path")
	if gerr != nil {
		t.Fatal(gerr)
	}
	if !httperr.Failed(resp) {
		t.Fatalf("answer %s is not an error", resp.Status)
	}
	return resp, httperr.Read(resp)
}

// TestRoundTrip: every kind a server writes comes back on the client as
// the same sentinel (and the kind it refines), and as no other.
func TestRoundTrip(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	for _, k := range httperr.Kinds() {
		t.Run(k.Code, func(t *testing.T) {
			sent := fmt.Errorf("while testing: %w", fieldsync.Errorf(k.Err, "a %s problem", k.Code))
			resp, err := roundTrip(t, discard, sent)
			var he *httperr.Error
			if !errors.As(err, &he) || he.Status != k.Status || he.Code != k.Code || he.Msg != "while testing: a "+k.Code+" problem" {
				t.Fatalf("got %#v, want status %d code %q", err, k.Status, k.Code)
			}
			if !errors.Is(err, k.Err) || k.Refines != nil && !errors.Is(err, k.Refines) {
				t.Errorf("errors.Is(%v, %v / %v) is false", err, k.Err, k.Refines)
			}
			for _, other := range httperr.Kinds() {
				if other.Err != k.Err && other.Err != k.Refines && errors.Is(err, other.Err) {
					t.Errorf("%v is also %v", err, other.Err)
				}
			}
			if httperr.Of(err) != k {
				t.Errorf("Of(client error) = %v, want %v", httperr.Of(err), k)
			}
			busy := resp.Header.Get("Retry-After") != ""
			if busy != (k.Err == fieldsync.ErrBusy) {
				t.Errorf("Retry-After %q on a %s answer", resp.Header.Get("Retry-After"), k.Code)
			}
		})
	}
}

func TestCodesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range httperr.Kinds() {
		if seen[k.Code] || k.Code == httperr.Internal.Code {
			t.Errorf("code %q twice", k.Code)
		}
		seen[k.Code] = true
	}
}

// TestInternal: an error of no known kind is logged, and answered with a
// generic message.
func TestInternal(t *testing.T) {
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	_, err := roundTrip(t, log, errors.New("disk on fire"))
	var he *httperr.Error
	if !errors.As(err, &he) || he.Status != 500 || he.Code != "internal" || he.Msg != httperr.InternalMessage {
		t.Fatalf("got %#v", err)
	}
	if len(he.Unwrap()) != 0 {
		t.Errorf("an internal error unwraps to %v", he.Unwrap())
	}
	if !strings.Contains(logged.String(), "disk on fire") || !strings.Contains(logged.String(), "/some/path") {
		t.Errorf("log %q lacks the error or the path", logged.String())
	}
}

// TestMaxBytes: a body over its limit is answered as too large.
func TestMaxBytes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 10))
		httperr.Write(w, r, slog.New(slog.DiscardHandler), fmt.Errorf("read: %w", err))
	}))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "text/plain", strings.NewReader(strings.Repeat("x", 100)))
	if err != nil {
		t.Fatal(err)
	}
	err = httperr.Read(resp)
	if !errors.Is(err, fieldsync.ErrTooLarge) || resp.StatusCode != 413 || !strings.Contains(err.Error(), "larger than 10 bytes") {
		t.Fatalf("got %d %v", resp.StatusCode, err)
	}
}

// TestWithoutCode: an answer that is not a fieldsync error's (a proxy's,
// say) unwraps to the kind of its status, with a message naming the request.
func TestWithoutCode(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   error
	}{
		{404, "404 page not found\n", fieldsync.ErrNotFound},
		{400, `{"error": "bad thing"}`, fieldsync.ErrInvalid},
		{403, "", fieldsync.ErrForbidden},
		{409, "", fieldsync.ErrExists},
		{503, "", fieldsync.ErrBusy},
		{502, "bad gateway", nil},
	}
	for _, tc := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
		}))
		resp, err := http.Get(srv.URL + "/x")
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		err = httperr.Read(resp)
		if tc.want != nil && !errors.Is(err, tc.want) || tc.want == nil && httperr.Of(err) != httperr.Internal {
			t.Errorf("%d: %v is not %v", tc.status, err, tc.want)
		}
		if !strings.Contains(tc.body, "error") && !strings.Contains(err.Error(), "GET /x: server answered") {
			t.Errorf("%d: message %q does not name the request", tc.status, err)
		}
	}
}

// TestRetryAfter: an error with a wait of its own is answered with it, in
// whole seconds rounded up, and the client reads it back.
func TestRetryAfter(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	for _, c := range []struct {
		wait time.Duration
		want int
	}{{0, 1}, {300 * time.Millisecond, 1}, {time.Second, 1}, {1500 * time.Millisecond, 2}, {time.Minute, 60}} {
		sent := httperr.WithRetryAfter(fieldsync.Errorf(fieldsync.ErrThrottled, "slow down"), c.wait)
		resp, err := roundTrip(t, discard, sent)
		if got := resp.Header.Get("Retry-After"); got != fmt.Sprint(c.want) || resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("wait %v: %d Retry-After %q, want 429 %d", c.wait, resp.StatusCode, got, c.want)
		}
		var he *httperr.Error
		if !errors.As(err, &he) || he.RetryAfter != time.Duration(c.want)*time.Second || !errors.Is(err, fieldsync.ErrThrottled) {
			t.Errorf("wait %v: client error %#v", c.wait, err)
		}
	}
}
