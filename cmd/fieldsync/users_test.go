package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// cliInput runs one command line in-process with stdin read from in.
func cliInput(url, in string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	args = append(args, "--server", url)
	code = runWithInput(context.Background(), args, strings.NewReader(in), &out, &errb)
	return code, out.String(), errb.String()
}

func TestUserCommands(t *testing.T) { testutil.ForBackends(t, testUserCommands) }

// testUserCommands: admin user add, list, disable, enable and
// reset-password, their one-line refusals, passwords only from stdin and
// never printed; record --user works as the user, whose login the
// record's history shows.
func testUserCommands(t *testing.T, b testutil.Backend) {
	srv, url := testutil.StartServer(t, server.Config{DB: b.DB(t), Only: []string{server.API}})
	token := srv.Token()
	mustCLI(t, url, token, "record", "create", "employee", "id=emp-ann", "name=Ann Field", "login=ann")
	out := mustCLI(t, url, token, "admin", "user", "add", "boss", "--employee", "emp-ann", "--admin")
	if out != "user boss added for employee emp-ann as administrator\nThe password is chosen at the first sign-in to the console (/ui/).\n" {
		t.Fatalf("user add printed:\n%s", out)
	}
	const pw = "correct horse battery"
	code, out, errs := cliInput(url, pw+"\n", "admin", "user", "add", "tess", "--employee", "emp-ann", "--password-stdin", "--json", "--token", token)
	if code != 0 || strings.Contains(out, pw) || strings.Contains(out, "$2a$") {
		t.Fatalf("user add --password-stdin: exit %d %s\n%s", code, errs, out)
	}
	var u map[string]any
	if err := json.Unmarshal([]byte(out), &u); err != nil || u["login"] != "tess" || u["has_password"] != true || u["admin"] != false {
		t.Fatalf("user add --json: %v %v", u, err)
	}
	for _, tc := range []struct {
		args []string
		in   string
		code int
		msg  string
	}{
		{[]string{"admin", "user", "add", "a:b", "--employee", "emp-ann"}, "", 1, `fieldsync: login "a:b" is not valid`},
		{[]string{"admin", "user", "add", "zed", "--employee", "nobody"}, "", 1, `fieldsync: employee_id "nobody": no employee with that id`},
		{[]string{"admin", "user", "add", "zed"}, "", 2, "fieldsync: usage: admin user add LOGIN --employee EMPLOYEE_ID"},
		{[]string{"admin", "user", "add", "zed", "--employee", "emp-ann", "--password-stdin"}, "short\n", 1, "fieldsync: a password needs at least 10 characters"},
		{[]string{"admin", "user", "add", "zed", "--employee", "emp-ann", "--password-stdin"}, "", 2, "fieldsync: usage: no password on stdin"},
		{[]string{"admin", "user", "disable", "nobody"}, "", 1, `fieldsync: no user "nobody"`},
	} {
		code, _, errs := cliInput(url, tc.in, append(tc.args, "--token", token)...)
		if code != tc.code || !strings.HasPrefix(errs, tc.msg) || strings.Count(errs, "\n") != 1 {
			t.Errorf("fieldsync %s: exit %d %q, want %d %q", strings.Join(tc.args, " "), code, errs, tc.code, tc.msg)
		}
	}
	out = mustCLI(t, url, token, "admin", "user", "list")
	if !regexp.MustCompile(`^LOGIN +EMPLOYEE +ROLE +STATE +CREATED\nboss +emp-ann +administrator +no password yet +` + utcSecond +
		`\ntess +emp-ann +connected user +active +` + utcSecond + `\n$`).MatchString(out) {
		t.Fatalf("user list printed:\n%s", out)
	}
	// The user works records with its own credentials; the history shows who.
	code, out, errs = cliInput(url, pw+"\n", "record", "create", "account", "id=acme", "name=Acme", "--user", "tess")
	if code != 0 || !strings.Contains(out, "Acme") {
		t.Fatalf("record create --user: exit %d %s %s", code, out, errs)
	}
	t.Setenv("FIELDSYNC_PASSWORD", pw)
	if code, _, errs = cliInput(url, "", "record", "update", "account", "acme", "industry=tools", "--user", "tess"); code != 0 {
		t.Fatalf("record update --user with FIELDSYNC_PASSWORD: exit %d %s", code, errs)
	}
	out = mustCLI(t, url, token, "record", "history", "account", "acme")
	if !regexp.MustCompile(`^TIME +OP +ORIGIN +USER\n` + utcMilli + ` +update +server +tess\n` + utcMilli + ` +insert +server +tess\n$`).MatchString(out) {
		t.Fatalf("record history printed:\n%s", out)
	}
	if code, _, errs = cliInput(url, "", "admin", "user", "list", "--user", "tess"); code == 0 {
		t.Fatalf("admin verbs take no --user: exit 0")
	}
	mustCLI(t, url, token, "admin", "user", "disable", "tess")
	if code, _, errs = cliInput(url, "", "record", "get", "account", "acme", "--user", "tess"); code != 1 || !strings.HasPrefix(errs, "fieldsync: wrong login or password") {
		t.Fatalf("a disabled user: exit %d %q", code, errs)
	}
	if out = mustCLI(t, url, token, "admin", "user", "enable", "tess"); out != "user tess enabled\n" {
		t.Fatalf("user enable printed %q", out)
	}
	if out = mustCLI(t, url, token, "admin", "user", "reset-password", "tess"); !strings.Contains(out, "chooses a new one at the next console sign-in") {
		t.Fatalf("reset-password printed %q", out)
	}
	if code, _, errs = cliInput(url, "", "record", "get", "account", "acme", "--user", "tess"); code != 1 {
		t.Fatalf("the old password after a reset: exit %d %q", code, errs)
	}
	code, out, errs = cliInput(url, "a brand new password\n", "admin", "user", "reset-password", "tess", "--password-stdin", "--token", token)
	if code != 0 || out != "user tess: password set\n" {
		t.Fatalf("reset-password --password-stdin: exit %d %q %s", code, out, errs)
	}
	t.Setenv("FIELDSYNC_PASSWORD", "a brand new password")
	if code, _, errs = cliInput(url, "", "record", "get", "account", "acme", "--user", "tess"); code != 0 {
		t.Fatalf("the new password: exit %d %q", code, errs)
	}
}
