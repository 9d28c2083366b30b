package console_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/console"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// browserless is a cookie-keeping HTTP client that does not follow
// redirects, so each answer is seen as sent.
type browserless struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newBrowserless(t *testing.T, base string, hc *http.Client) *browserless {
	jar, _ := cookiejar.New(nil)
	c := *hc
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browserless{t: t, base: base, hc: &c}
}

// do sends a request and returns its answer with the body read.
func (b *browserless) do(method, path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

// signin signs in and checks that it did.
func (b *browserless) signin(login, password string) *http.Response {
	b.t.Helper()
	resp, body := b.do("POST", "/ui/signin", url.Values{"login": {login}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign in as %q: %d\n%s", login, resp.StatusCode, body)
	}
	return resp
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the session's CSRF token off a page with a form.
func (b *browserless) csrf(path string) string {
	b.t.Helper()
	_, body := b.do("GET", path, nil)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("%s has no CSRF token:\n%s", path, body)
	}
	return m[1]
}

// startWithUser runs a real server with an employee and a connected user
// tess, password pw.
func startWithUser(t *testing.T, cfg server.Config) (*server.Server, string, *api.Client) {
	t.Helper()
	srv, base := testutil.StartServer(t, cfg)
	adm := &api.Client{BaseURL: base, Token: srv.Token()}
	if strings.HasPrefix(base, "https") {
		pem, _ := os.ReadFile(cfg.TLSCert)
		hc, err := api.HTTPClient(string(pem))
		if err != nil {
			t.Fatal(err)
		}
		adm.HTTP = hc
	}
	ctx := context.Background()
	if _, err := adm.Create(ctx, "employee", map[string]any{"id": "emp-ann", "name": "Ann Field", "login": "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.AddUser(ctx, api.NewUser{Login: "tess", EmployeeID: "emp-ann", Password: pw}); err != nil {
		t.Fatal(err)
	}
	return srv, base, adm
}

const pw = "correct horse battery"

// isKind says whether err is of the kind.
func isKind(err, kind error) bool { return errors.Is(err, kind) }

// TestConsoleCSRF: a form POST without the session's CSRF token, or with
// another, is refused and changes nothing; with it, it is done.
func TestConsoleCSRF(t *testing.T) {
	srv, base, adm := startWithUser(t, server.Config{})
	b := newBrowserless(t, base, http.DefaultClient)
	b.signin("", srv.Token())
	token := b.csrf("/ui/admin/users")
	form := url.Values{"login": {"zed"}, "employee_id": {"emp-ann"}}
	for _, bad := range []string{"", "not-the-token", token[:len(token)-1]} {
		f := url.Values{"csrf": {bad}}
		for k, v := range form {
			f[k] = v
		}
		if resp, body := b.do("POST", "/ui/admin/users", f); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not sent from this console") {
			t.Fatalf("POST with CSRF %q: %d\n%s", bad, resp.StatusCode, body)
		}
	}
	if users, err := adm.Users(context.Background()); err != nil || len(users) != 1 {
		t.Fatalf("refused forms added users: %+v, %v", users, err)
	}
	form.Set("csrf", token)
	if resp, body := b.do("POST", "/ui/admin/users", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST with the CSRF token: %d\n%s", resp.StatusCode, body)
	}
	if users, err := adm.Users(context.Background()); err != nil || len(users) != 2 {
		t.Fatalf("users after the good form: %+v, %v", users, err)
	}
	// Another session's token does not do either.
	other := newBrowserless(t, base, http.DefaultClient)
	other.signin("tess", pw)
	f := url.Values{"csrf": {token}, "name": {"x"}}
	if resp, _ := other.do("POST", "/ui/t/account/new", f); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST with another session's CSRF token: %d", resp.StatusCode)
	}
}

// TestConsoleCookie: the session cookie is HttpOnly, SameSite=Strict,
// scoped to /ui/, and Secure when the server runs TLS.
func TestConsoleCookie(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"plain", false}, {"tls", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := server.Config{}
			hc := http.DefaultClient
			if tc.tls {
				cfg.TLSCert, cfg.TLSKey = testutil.TLSFiles(t)
				pem, _ := os.ReadFile(cfg.TLSCert)
				var err error
				if hc, err = api.HTTPClient(string(pem)); err != nil {
					t.Fatal(err)
				}
			}
			_, base, _ := startWithUser(t, cfg)
			resp := newBrowserless(t, base, hc).signin("tess", pw)
			var ck *http.Cookie
			for _, c := range resp.Cookies() {
				if c.Name == "fieldsync_console" {
					ck = c
				}
			}
			if ck == nil || len(ck.Value) < 40 || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/ui/" || ck.Secure != tc.tls {
				t.Fatalf("session cookie %+v (Set-Cookie %q)", ck, resp.Header.Values("Set-Cookie"))
			}
		})
	}
}

// TestConsoleSessionExpiry: a session stops working once its time is up.
func TestConsoleSessionExpiry(t *testing.T) {
	srv, _, _ := startWithUser(t, server.Config{})
	st, ok := srv.Store().(console.Store)
	if !ok {
		t.Fatal("the server's store is not a console store")
	}
	const ttl = time.Second
	c, err := console.New(st, console.Options{SessionTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(c)
	defer hs.Close()
	b := newBrowserless(t, hs.URL, http.DefaultClient)
	b.signin("tess", pw)
	started := time.Now()
	if resp, body := b.do("GET", "/ui/t/", nil); resp.StatusCode != http.StatusOK {
		if time.Since(started) < ttl { // a slow machine may take the whole time
			t.Fatalf("a fresh session: %d\n%s", resp.StatusCode, body)
		}
	}
	time.Sleep(ttl + 200*time.Millisecond) // past the session's end
	if resp, _ := b.do("GET", "/ui/t/", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/signin" {
		t.Fatalf("an expired session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestDisabledUserStops: disabling a user ends its open console session
// and its API credentials at their next request.
func TestDisabledUserStops(t *testing.T) {
	_, base, adm := startWithUser(t, server.Config{})
	ctx := context.Background()
	b := newBrowserless(t, base, http.DefaultClient)
	b.signin("tess", pw)
	tess := &api.Client{BaseURL: base, User: "tess", Password: pw}
	if resp, _ := b.do("GET", "/ui/t/account/", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("before: console %d", resp.StatusCode)
	}
	if _, err := tess.List(ctx, "account", nil, "", 0); err != nil {
		t.Fatalf("before: API %v", err)
	}
	if _, err := adm.DisableUser(ctx, "tess"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := b.do("GET", "/ui/t/account/", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/signin" {
		t.Fatalf("after: console %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := tess.List(ctx, "account", nil, "", 0); !isKind(err, fieldsync.ErrUnauthorized) {
		t.Fatalf("after: API %v", err)
	}
	if _, err := adm.EnableUser(ctx, "tess"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := b.do("GET", "/ui/t/account/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the ended session came back after enabling: %d", resp.StatusCode)
	}
}

// TestSigninRateLimit: an address that keeps failing to sign in is
// answered 429 without its password being checked.
func TestSigninRateLimit(t *testing.T) {
	_, base, _ := startWithUser(t, server.Config{})
	b := newBrowserless(t, base, http.DefaultClient)
	for i := 1; i <= 30; i++ {
		resp, body := b.do("POST", "/ui/signin", url.Values{"login": {"tess"}, "password": {"guess number " + string(rune('a'+i))}})
		if resp.StatusCode == http.StatusTooManyRequests {
			if i < 21 || !strings.Contains(body, "too many failed sign-ins") {
				t.Fatalf("429 at attempt %d:\n%s", i, body)
			}
			// Even the right password waits now.
			if resp, _ := b.do("POST", "/ui/signin", url.Values{"login": {"tess"}, "password": {pw}}); resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("the right password while throttled: %d", resp.StatusCode)
			}
			return
		}
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "wrong login or password") {
			t.Fatalf("attempt %d: %d\n%s", i, resp.StatusCode, body)
		}
	}
	t.Fatal("30 failed sign-ins were never answered 429")
}

// TestConnectedUserForbidden: a connected user gets 403 on every
// administrator's page and API endpoint, and wrong API credentials 401.
func TestConnectedUserForbidden(t *testing.T) {
	_, base, _ := startWithUser(t, server.Config{})
	b := newBrowserless(t, base, http.DefaultClient)
	b.signin("tess", pw)
	token := b.csrf("/ui/t/account/new")
	for _, p := range []struct{ method, path string }{
		{"GET", "/ui/admin/pipeline"}, {"GET", "/ui/admin/nodes"}, {"GET", "/ui/admin/users"},
		{"POST", "/ui/admin/nodes"}, {"POST", "/ui/admin/nodes/x/deactivate"}, {"POST", "/ui/admin/users"},
		{"POST", "/ui/admin/users/tess/reset-password"},
	} {
		var form url.Values
		if p.method == "POST" {
			form = url.Values{"csrf": {token}, "login": {"zed"}, "employee_id": {"emp-ann"}}
		}
		if resp, body := b.do(p.method, p.path, form); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Only administrators") {
			t.Errorf("%s %s as tess: %d", p.method, p.path, resp.StatusCode)
		}
	}
	ctx := context.Background()
	tess := &api.Client{BaseURL: base, User: "tess", Password: pw}
	for name, call := range map[string]func() error{
		"users": func() error { _, err := tess.Users(ctx); return err },
		"add user": func() error {
			_, err := tess.AddUser(ctx, api.NewUser{Login: "zed", EmployeeID: "emp-ann", Admin: true})
			return err
		},
		"nodes":    func() error { _, err := tess.ListNodes(ctx); return err },
		"add node": func() error { _, err := tess.AddNode(ctx, "zed-laptop", "emp-ann"); return err },
		"status":   func() error { _, err := tess.Status(ctx); return err },
		"sessions": func() error { _, err := tess.Sessions(ctx, "", 0); return err },
		"refusals": func() error { _, err := tess.Refusals(ctx, fieldsync.ConflictQuery{}); return err },
		"conflict": func() error { _, err := tess.Conflicts(ctx, ""); return err },
		"password": func() error { _, err := tess.SetUserPassword(ctx, "tess", ""); return err },
	} {
		if err := call(); !isKind(err, fieldsync.ErrForbidden) {
			t.Errorf("API %s as tess: %v", name, err)
		}
	}
	wrong := &api.Client{BaseURL: base, User: "tess", Password: "not the password"}
	if _, err := wrong.List(ctx, "account", nil, "", 0); !isKind(err, fieldsync.ErrUnauthorized) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := tess.List(ctx, "account", nil, "", 0); err != nil {
		t.Errorf("records as tess: %v", err)
	}
}
