package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/visibility"
)

// TestAdminWhy runs the real binary's admin why against a server: the
// chain of a visible row, the rules tried for a row a deactivated node
// does not see (with "and N more" past the fan-out), --json, and the
// errors.
func TestAdminWhy(t *testing.T) { testutil.ForBackends(t, testAdminWhy) }

func testAdminWhy(t *testing.T, b testutil.Backend) {
	s := newBinSession(t, server.Config{DB: b.DB(t), Only: []string{server.API}})
	for _, args := range [][]string{
		{"employee", "id=ann", "name=Ann", "login=ann"},
		{"employee", "id=bob", "name=Bob", "login=bob"},
		{"employee", "id=cy", "name=Cy", "login=cy"},
		{"position", "id=p-ann", "employee_id=ann"},
		{"account", "id=acme", "name=Acme"},
		{"account_team", "id=at1", "account_id=acme", "position_id=p-ann"},
		{"contact", "id=k1", "account_id=acme"},
		{"opportunity", "id=lone", "name=Lone", "account_id=acme"},
	} {
		s.ok(append([]string{"record", "create"}, args...)...)
	}
	for i := range visibility.WhyFanout + 1 {
		s.ok("record", "create", "position", fmt.Sprintf("id=p-cy%d", i), "employee_id=cy")
		s.ok("record", "create", "opportunity_team", fmt.Sprintf("id=ot%d", i), "opportunity_id=lone", fmt.Sprintf("position_id=p-cy%d", i))
	}
	s.ok("admin", "node", "add", "ann-laptop", "--employee", "ann")
	s.ok("admin", "node", "add", "bob-laptop", "--employee", "bob")
	s.ok("admin", "node", "deactivate", "bob-laptop")

	want := "node ann-laptop (employee ann) sees contact k1:\n" +
		"  contact k1        parent: account_id\n" +
		"  account acme      referenced_by: account_team.account_id\n" +
		"  account_team at1  position: position_id  (position p-ann held by employee ann)\n"
	if out := s.ok("admin", "why", "ann-laptop", "contact", "k1"); out != want {
		t.Errorf("admin why ann-laptop contact k1:\n%s\nwant:\n%s", out, want)
	}
	out := s.ok("admin", "why", "bob-laptop", "contact", "k1")
	for _, line := range []string{
		`^node bob-laptop is deactivated \(since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\): it is routed nothing; this is what its employee's rules give it\.$`,
		`^node bob-laptop \(employee bob\) does not see contact k1\. Rules tried:$`,
		`^  parent account_id: account acme is not visible$`,
		`^    account acme:$`,
		`^      referenced_by account_team\.account_id: 1 account_team row refers to it, none visible$`,
		`^          position position_id: position p-ann is held by employee ann, not bob$`,
		`^          parent account_id: account acme is not visible \(explained above\)$`,
		fmt.Sprintf(`^          referenced_by opportunity_team\.opportunity_id: %d opportunity_team rows refer to it, none visible \(the first %d explained, and 1 more\)$`,
			visibility.WhyFanout+1, visibility.WhyFanout),
		`^              position position_id: position p-cy0 is held by employee cy, not bob$`,
		`^            and 1 more$`,
	} {
		if !regexp.MustCompile("(?m)" + line).MatchString(out) {
			t.Errorf("admin why bob-laptop contact k1 lacks %s:\n%s", line, out)
		}
	}
	why := s.json("admin", "why", "ann-laptop", "account", "acme", "--json")
	if why["node"] != "ann-laptop" || why["visible"] != true || why["employee"] != "ann" || len(why["chain"].([]any)) != 2 ||
		why["text"] != "account acme ← account_team at1 (position p-ann held by employee ann)" {
		t.Errorf("admin why --json: %v", why)
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"ghost", "contact", "k1"}, 1, "fieldsync: unknown node \"ghost\"\n"},
		{[]string{"ann-laptop", "ghost", "k1"}, 1, "fieldsync: unknown table \"ghost\"\n"},
		{[]string{"ann-laptop", "contact", "nope"}, 1, "fieldsync: table contact has no row \"nope\"\n"},
		{[]string{"ann-laptop", "contact", ""}, 1, "fieldsync: explaining a row's visibility needs a node, a table and a row id\n"},
		{[]string{"ann-laptop", "contact"}, 2, ""},
	} {
		r := runBin(t, s.dir, s.env, append([]string{"admin", "why"}, tc.args...)...)
		if r.code != tc.code || r.out != "" || tc.msg != "" && r.errout != tc.msg || strings.Count(r.errout, "\n") != 1 {
			t.Errorf("admin why %q: exit %d, %q %q", tc.args, r.code, r.out, r.errout)
		}
	}
}
