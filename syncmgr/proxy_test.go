package syncmgr_test

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncproto"
)

// loginVia starts a session as a client behind a reverse proxy would
// arrive: with an X-Forwarded-For header (none when xff is empty).
func (f *fleet) loginVia(t *testing.T, xff, name, secret string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.url+syncproto.StartPath(0), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(name, secret)
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(body), resp.Header.Get("Retry-After")}
}

// failUntilThrottled fails logins with made-up names (so that no name is
// slowed) until one is answered 429, and returns how many were tried.
func (f *fleet) failUntilThrottled(t *testing.T, xff func(i int) string) int {
	t.Helper()
	for i := 1; i <= 30; i++ {
		got := f.loginVia(t, xff(i), fmt.Sprintf("guess-%d", i), "x")
		switch got.status {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			return i
		default:
			t.Fatalf("attempt %d: %+v", i, got)
		}
	}
	t.Fatal("30 failed logins and none throttled")
	return 0
}

func TestFailedLoginsBehindProxy(t *testing.T) {
	testutil.ForBackends(t, testFailedLoginsBehindProxy)
}

// testFailedLoginsBehindProxy: with the loopback proxy trusted, failed
// logins count against the address X-Forwarded-For gives: one client
// that keeps failing is slowed, even when it writes addresses of its own
// into the header, while another client behind the same proxy, and the
// proxy itself, log in at once. The log names the client's address.
func testFailedLoginsBehindProxy(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b, func(c *server.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	const guesser, colleague = "198.51.100.1", "198.51.100.2"
	if n := f.failUntilThrottled(t, func(int) string { return guesser }); n <= 20 {
		t.Fatalf("throttled after %d failures, want 20 free", n)
	}
	spoofed := f.loginVia(t, "203.0.113.9, "+guesser, "ann-laptop", f.secrets["ann-laptop"])
	if spoofed.status != http.StatusTooManyRequests {
		t.Fatalf("the guesser with an address of its own in front: %+v, want 429", spoofed)
	}
	if got := f.loginVia(t, colleague, "made-up", "x"); got.status != http.StatusUnauthorized {
		t.Fatalf("another client's failure: %+v, want it checked (401)", got)
	}
	if got := f.loginVia(t, colleague, "ann-laptop", f.secrets["ann-laptop"]); got.status != http.StatusOK {
		t.Fatalf("another client's correct login: %+v", got)
	}
	if got := f.loginVia(t, "", "bob-laptop", f.secrets["bob-laptop"]); got.status != http.StatusOK {
		t.Fatalf("the proxy's own correct login: %+v", got)
	}
	remotes := map[string]int{}
	for _, l := range f.logs.lines("refused login") {
		remotes[l["remote"]]++
	}
	if remotes[guesser] == 0 || remotes[colleague] != 1 || len(remotes) != 2 {
		t.Fatalf("log lines by remote %v, want the forwarded addresses only", remotes)
	}
}

func TestFailedLoginsUntrustedForwardedFor(t *testing.T) {
	testutil.ForBackends(t, testFailedLoginsUntrustedForwardedFor)
}

// testFailedLoginsUntrustedForwardedFor: without trusted proxies a client
// that writes a new X-Forwarded-For address into every attempt is still
// slowed by its own address, and logged by it.
func testFailedLoginsUntrustedForwardedFor(t *testing.T, b testutil.Backend) {
	f := startFleet(t, b)
	n := f.failUntilThrottled(t, func(i int) string { return fmt.Sprintf("203.0.113.%d", i) })
	if n <= 20 {
		t.Fatalf("throttled after %d failures, want 20 free", n)
	}
	lines := f.logs.lines("refused login")
	if len(lines) == 0 {
		t.Fatal("no refused login logged")
	}
	for _, l := range lines {
		if !strings.HasPrefix(l["remote"], "127.0.0.1:") {
			t.Fatalf("logged remote %q, want the real address", l["remote"])
		}
	}
}
