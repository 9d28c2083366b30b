package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

func TestUsers(t *testing.T) { testutil.ForBackends(t, testUsers) }

// testUsers: an administrator adds, lists, disables, enables users and
// resets their passwords; bad logins, unknown employees and short
// passwords are refused with one line; no answer holds a password.
func testUsers(t *testing.T, b testutil.Backend) {
	c, _ := start(t, b, 0, server.API)
	seed(t, c)
	ctx := context.Background()
	u, err := c.AddUser(ctx, api.NewUser{Login: "tess", EmployeeID: "ann", Password: "correct horse battery"})
	if err != nil || u.Login != "tess" || !u.HasPassword || u.Admin || u.Disabled {
		t.Fatalf("add user: %+v, %v", u, err)
	}
	if u, err = c.AddUser(ctx, api.NewUser{Login: "boss", EmployeeID: "ann", Admin: true}); err != nil || u.HasPassword || !u.Admin {
		t.Fatalf("add admin without password: %+v, %v", u, err)
	}
	for _, tc := range []struct {
		u    api.NewUser
		kind error
		msg  string
	}{
		{api.NewUser{Login: "a:b", EmployeeID: "ann"}, fieldsync.ErrInvalid, `login "a:b" is not valid`},
		{api.NewUser{Login: "", EmployeeID: "ann"}, fieldsync.ErrInvalid, `login "" is not valid`},
		{api.NewUser{Login: strings.Repeat("x", 65), EmployeeID: "ann"}, fieldsync.ErrInvalid, "1-64 letters"},
		{api.NewUser{Login: "zed", EmployeeID: "nobody"}, fieldsync.ErrInvalid, `employee_id "nobody": no employee with that id`},
		{api.NewUser{Login: "zed"}, fieldsync.ErrInvalid, "needs an employee_id"},
		{api.NewUser{Login: "zed", EmployeeID: "ann", Password: "short"}, fieldsync.ErrInvalid, "at least 10 characters"},
		{api.NewUser{Login: "tess", EmployeeID: "ann"}, fieldsync.ErrExists, `user "tess" already exists`},
	} {
		if _, err := c.AddUser(ctx, tc.u); !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("add %+v: %v, want %v %q", tc.u, err, tc.kind, tc.msg)
		}
	}
	users, err := c.Users(ctx)
	if err != nil || len(users) != 2 || users[0].Login != "boss" || users[1].Login != "tess" {
		t.Fatalf("users: %+v, %v", users, err)
	}
	if u, err = c.DisableUser(ctx, "tess"); err != nil || !u.Disabled {
		t.Fatalf("disable: %+v, %v", u, err)
	}
	if u, err = c.EnableUser(ctx, "tess"); err != nil || u.Disabled {
		t.Fatalf("enable: %+v, %v", u, err)
	}
	if u, err = c.SetUserPassword(ctx, "tess", ""); err != nil || u.HasPassword {
		t.Fatalf("reset password: %+v, %v", u, err)
	}
	if u, err = c.SetUserPassword(ctx, "tess", "another good one"); err != nil || !u.HasPassword {
		t.Fatalf("set password: %+v, %v", u, err)
	}
	if _, err := c.DisableUser(ctx, "nobody"); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("disable an unknown user: %v", err)
	}
	// No answer about users holds a password or its hash.
	for _, path := range []string{"/api/v1/admin/users"} {
		_, body := raw(t, "GET", c.BaseURL+path, c.Token, "")
		if strings.Contains(body, "password_hash") || strings.Contains(body, "$2a$") || strings.Contains(body, "another good one") {
			t.Fatalf("GET %s shows a password: %s", path, body)
		}
	}
}

func TestUserCredentials(t *testing.T) { testutil.ForBackends(t, testUserCredentials) }

// testUserCredentials: a connected user works records with its login and
// password; its writes carry its login in the Transaction Log; admin
// endpoints answer 403; wrong credentials 401; a disabled user and an
// old password stop working at the next request.
func testUserCredentials(t *testing.T, b testutil.Backend) {
	adm, srv := start(t, b, 0, server.API) // no processor: the log keeps every entry
	seed(t, adm)
	ctx := context.Background()
	if _, err := adm.AddUser(ctx, api.NewUser{Login: "tess", EmployeeID: "ann", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	tess := &api.Client{BaseURL: adm.BaseURL, User: "tess", Password: "correct horse battery"}
	row, err := tess.Create(ctx, "opportunity", map[string]any{"name": "Deal", "account_id": "acme"})
	if err != nil {
		t.Fatal(err)
	}
	id := row["id"].(string)
	if _, err := tess.Update(ctx, "opportunity", id, map[string]any{"stage": "won"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tess.Get(ctx, "opportunity", id); err != nil { // again, from the cache of verified credentials
		t.Fatal(err)
	}
	hist, err := tess.History(ctx, "opportunity", id)
	if err != nil || len(hist) != 2 || hist[0].Op != fieldsync.OpUpdate || hist[0].User != "tess" || hist[1].User != "tess" || hist[0].Origin != "" {
		t.Fatalf("history: %+v, %v", hist, err)
	}
	log, err := srv.Store().ReadLog(ctx, 0, 100)
	if err != nil || len(log) != 5 {
		t.Fatalf("log: %d entries, %v", len(log), err)
	}
	for _, ep := range []struct{ method, path string }{
		{"GET", "/api/v1/admin/users"}, {"POST", "/api/v1/admin/users"}, {"POST", "/api/v1/admin/users/tess/disable"},
		{"POST", "/api/v1/admin/users/tess/password"}, {"GET", "/api/v1/admin/nodes"}, {"POST", "/api/v1/admin/nodes"},
		{"GET", "/api/v1/admin/status"}, {"GET", "/api/v1/admin/conflicts"}, {"GET", "/api/v1/admin/sessions"},
		{"GET", "/api/v1/admin/refusals"}, {"POST", "/api/v1/admin/reextract"}, {"DELETE", "/api/v1/admin/nodes/x"},
	} {
		code, body := basic(t, ep.method, adm.BaseURL+ep.path, "tess", "correct horse battery", `{}`)
		if code != http.StatusForbidden || !strings.Contains(body, "user tess may not use") {
			t.Errorf("%s %s as tess: %d %s", ep.method, ep.path, code, body)
		}
	}
	for _, bad := range [][2]string{{"tess", "wrong password!"}, {"nobody", "correct horse battery"}, {"tess", ""}} {
		if code, body := basic(t, "GET", adm.BaseURL+"/api/v1/records/account", bad[0], bad[1], ""); code != http.StatusUnauthorized ||
			!strings.Contains(body, "wrong login or password") {
			t.Errorf("%s:%s: %d %s", bad[0], bad[1], code, body)
		}
	}
	if _, err := adm.DisableUser(ctx, "tess"); err != nil {
		t.Fatal(err)
	}
	if _, err := tess.Get(ctx, "opportunity", id); !errors.Is(err, fieldsync.ErrUnauthorized) {
		t.Fatalf("a disabled user's request: %v", err)
	}
	if _, err := adm.EnableUser(ctx, "tess"); err != nil {
		t.Fatal(err)
	}
	if _, err := tess.Get(ctx, "opportunity", id); err != nil {
		t.Fatalf("an enabled user's request: %v", err)
	}
	// A new password set behind the API's back (as the console does) ends
	// the old one at once: the row is read on every request.
	if err := srv.Store().(fieldsync.Users).SetUserPassword(ctx, "tess", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tess.Get(ctx, "opportunity", id); !errors.Is(err, fieldsync.ErrUnauthorized) {
		t.Fatalf("the old password after a reset: %v", err)
	}
}

// basic sends a request with a user's login and password.
func basic(t *testing.T, method, url, login, password, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(login, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	b, _ := json.Marshal(out)
	return resp.StatusCode, string(b)
}

func TestHistoryOutlivesRouting(t *testing.T) { testutil.ForBackends(t, testHistoryOutlivesRouting) }

// testHistoryOutlivesRouting: a row's history still shows its changes
// once the routers have trimmed them from the Transaction Log; an unknown
// table is refused, a row never written has no history.
func testHistoryOutlivesRouting(t *testing.T, b testutil.Backend) {
	c, srv := start(t, b, 0) // every component: the routers trim the log
	seed(t, c)
	ctx := context.Background()
	if _, err := c.Update(ctx, "account", "acme", map[string]any{"industry": "tools"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "account", "acme"); err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := srv.WaitIdle(wait); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ { // the routers trim in their own time
		ls, err := srv.Store().LogState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ls.Pending == 0 {
			break
		}
		if i == 3000 {
			t.Fatalf("the log keeps %d entries", ls.Pending)
		}
		time.Sleep(10 * time.Millisecond)
	}
	hist, err := c.History(ctx, "account", "acme")
	if err != nil || len(hist) != 3 {
		t.Fatalf("history: %+v, %v", hist, err)
	}
	for i, op := range []fieldsync.Op{fieldsync.OpDelete, fieldsync.OpUpdate, fieldsync.OpInsert} {
		if hist[i].Op != op || hist[i].Origin != "" || hist[i].User != "" || hist[i].Time.IsZero() {
			t.Fatalf("history entry %d: %+v, want %s", i, hist[i], op)
		}
	}
	if _, err := c.History(ctx, "nosuch", "acme"); !errors.Is(err, fieldsync.ErrNotFound) {
		t.Fatalf("history of an unknown table: %v", err)
	}
	if hist, err := c.History(ctx, "account", "never"); err != nil || len(hist) != 0 {
		t.Fatalf("history of a row never written: %+v, %v", hist, err)
	}
}
