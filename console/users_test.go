package console_test

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/server"
)

// fieldErr finds the messages the users page shows next to its fields.
var fieldErr = regexp.MustCompile(`<p class="err" id="user-(login|employee|password)-err">([^<]*)</p>`)

// userCase is one user's addition, made on the console's Users page and
// through the API.
type userCase struct {
	name                string
	login, employee, pw string
	// field is the form field the refusal is shown next to ("" when the
	// user is added); msg is the message, the same on both.
	field, msg string
}

// TestUserRulesShared: the console's Users page and the API refuse the
// same logins, employee ids and passwords with the same message (the
// console next to the refused field, with what was typed kept), and add
// the same ones. Each case runs on the console, then through the API, and
// the answers must agree either way round.
func TestUserRulesShared(t *testing.T) {
	srv, base, adm := startWithUser(t, server.Config{})
	b := newBrowserless(t, base, http.DefaultClient)
	b.signin("", srv.Token())
	token := b.csrf("/ui/admin/users")
	ctx := context.Background()
	refused := []userCase{
		{"colon in login", "a:b", "emp-ann", "", "login", `login "a:b" is not valid: use 1-64 letters, digits, _ . or -, starting with a letter or digit`},
		{"empty login", "", "emp-ann", "", "login", `login "" is not valid`},
		{"login of 65", strings.Repeat("x", 65), "emp-ann", "", "login", "is not valid"},
		{"login starting with a dot", ".zed", "emp-ann", "", "login", `login ".zed" is not valid`},
		{"login with a space", "z ed", "emp-ann", "", "login", `login "z ed" is not valid`},
		{"login taken", "tess", "emp-ann", "", "login", `user "tess" already exists`},
		{"unknown employee", "zed", "nobody", "", "employee", `employee_id "nobody": no employee with that id`},
		{"no employee", "zed", "", "", "employee", "a user needs an employee_id"},
		{"short password", "zed", "emp-ann", "short", "password", "a password needs at least 10 characters"},
		{"long password", "zed", "emp-ann", strings.Repeat("p", 73), "password", "a password may have at most 72 bytes"},
	}
	for _, tc := range refused {
		got := consoleAdd(t, b, token, tc)
		if got.field != tc.field || !strings.Contains(got.msg, tc.msg) {
			t.Errorf("%s: the console showed %q next to %q, want %q next to %q", tc.name, got.msg, got.field, tc.msg, tc.field)
		}
		_, err := adm.AddUser(ctx, api.NewUser{Login: tc.login, EmployeeID: tc.employee, Password: tc.pw})
		if err == nil || err.Error() != got.msg {
			t.Errorf("%s: the API answered %v, the console %q", tc.name, err, got.msg)
		}
		if err != nil && !errors.Is(err, fieldsync.ErrInvalid) && !errors.Is(err, fieldsync.ErrExists) {
			t.Errorf("%s: the API's refusal is of no known kind: %v", tc.name, err)
		}
	}
	// The logins both accept: the console adds one, the API its twin.
	for _, tc := range []struct{ console, api, pw string }{
		{"zed", "zoe", ""},
		{"Z.e-d_9", "Z.o-e_9", "a long enough password"},
		{strings.Repeat("c", 64), strings.Repeat("a", 64), strings.Repeat("p", 72)},
		{"9lives", "8lives", strings.Repeat("p", 10)},
	} {
		if got := consoleAdd(t, b, token, userCase{login: tc.console, employee: "emp-ann", pw: tc.pw}); got.msg != "" {
			t.Errorf("the console refused %q: %q", tc.console, got.msg)
		}
		if _, err := adm.AddUser(ctx, api.NewUser{Login: tc.api, EmployeeID: "emp-ann", Password: tc.pw}); err != nil {
			t.Errorf("the API refused %q: %v", tc.api, err)
		}
	}
	users, err := adm.Users(ctx)
	if err != nil || len(users) != 9 {
		t.Fatalf("users: %d %v, want tess and the 8 added", len(users), err)
	}
}

// consoleAdd posts the Users page's form and returns the field the page
// shows an error next to and its message (both "" when the user was
// added). A refused form keeps the login and employee id typed.
func consoleAdd(t *testing.T, b *browserless, token string, tc userCase) userCase {
	t.Helper()
	resp, body := b.do("POST", "/ui/admin/users", url.Values{"csrf": {token}, "login": {tc.login},
		"employee_id": {tc.employee}, "password": {tc.pw}})
	if resp.StatusCode == http.StatusSeeOther {
		return userCase{}
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("%s: POST /ui/admin/users: %d\n%s", tc.name, resp.StatusCode, body)
	}
	m := fieldErr.FindAllStringSubmatch(body, -1)
	if len(m) != 1 {
		t.Fatalf("%s: %d field errors on the page, want 1:\n%s", tc.name, len(m), body)
	}
	id := "user-" + m[0][1]
	if !strings.Contains(body, `aria-describedby="`+id+`-err"`) || !regexp.MustCompile(`class="field bad" data-field="[a-z_]+"><label for="`+id+`"`).MatchString(body) {
		t.Errorf("%s: the refused field %s is not marked:\n%s", tc.name, id, body)
	}
	if strings.Contains(body, `id="users-error"`) {
		t.Errorf("%s: a field's refusal shown above the form too:\n%s", tc.name, body)
	}
	for _, typed := range []string{tc.login, tc.employee} {
		if typed != "" && !strings.Contains(body, `value="`+html.EscapeString(typed)+`"`) {
			t.Errorf("%s: the page lost %q as typed", tc.name, typed)
		}
	}
	if tc.pw != "" && strings.Contains(body, tc.pw) {
		t.Errorf("%s: the page shows the password typed", tc.name)
	}
	return userCase{field: m[0][1], msg: html.UnescapeString(m[0][2])}
}
