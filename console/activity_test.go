package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// consoleClient is a browser's part in the console over real HTTP: a
// cookie jar signed in as the administrator (by the admin token).
type consoleClient struct {
	t    *testing.T
	base string
	hc   *http.Client
}

// signedIn starts a real server and signs in to its console with its
// admin token.
func signedIn(t *testing.T, cfg server.Config) (*server.Server, *consoleClient) {
	t.Helper()
	srv, base := testutil.StartServer(t, cfg)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &consoleClient{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: time.Minute}}
	resp, err := c.hc.PostForm(base+"/ui/signin", url.Values{"password": {srv.Token()}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/ui/admin/pipeline" {
		t.Fatalf("sign-in ended on %s", resp.Request.URL)
	}
	return srv, c
}

// get fetches a console page and checks its status.
func (c *consoleClient) get(path string, status int) string {
	c.t.Helper()
	resp, err := c.hc.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode != status {
		c.t.Fatalf("GET %s: %s, want %d:\n%s", path, resp.Status, status, body)
	}
	return string(body)
}

// csrf is the CSRF token a page's forms carry.
func csrf(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return m[1]
}

// count is how many times re matches page.
func count(page, re string) int { return len(regexp.MustCompile(re).FindAllStringIndex(page, -1)) }

// href is the unescaped target of the link with the given id.
func href(t *testing.T, page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`<a href="([^"]+)" id="` + id + `"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no link #%s in the page:\n%s", id, page)
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

// addNodes registers nodes of a new employee.
func addNodes(t *testing.T, srv *server.Server, names ...string) {
	t.Helper()
	ctx := context.Background()
	if _, err := srv.Admin().Create(ctx, "employee", map[string]any{"id": "emp-ann", "name": "Ann", "login": "ann"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := srv.Admin().AddNode(ctx, n, "emp-ann"); err != nil {
			t.Fatal(err)
		}
	}
}

// recordConflicts records conflicts as the Transaction Merger does, each
// in an upload of its own.
func recordConflicts(t *testing.T, srv *server.Server, cs []fieldsync.Conflict) {
	t.Helper()
	ctx := context.Background()
	for i, cf := range cs {
		cf.Upload = int64(i + 1)
		if err := srv.Store().MergeUpload(ctx, cf.Node, cf.Upload, func(tx fieldsync.MergeTx) error { return tx.RecordConflict(ctx, cf) }); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConflictsPage: 120 conflicts page by 50 with next, previous and
// first links; the filters by node, table and kind narrow them; each row
// links to its record and shows what was kept and lost; bad filters say
// what was wrong.
func TestConflictsPage(t *testing.T) {
	srv, c := signedIn(t, server.Config{})
	addNodes(t, srv, "ann-laptop", "bob-laptop")
	var cs []fieldsync.Conflict
	for i := range 120 {
		cf := fieldsync.Conflict{Node: "ann-laptop", Kind: fieldsync.ConflictUpdate, Table: "account", RowID: fmt.Sprintf("acc-%03d", i),
			Field: "name", Winner: `"server"`, Loser: fmt.Sprintf(`"node %d"`, i)}
		if i%10 == 0 {
			cf.Node, cf.Table, cf.Kind = "bob-laptop", "contact", fieldsync.ConflictUpdateDeleted
		}
		cs = append(cs, cf)
	}
	recordConflicts(t, srv, cs)

	first := c.get("/ui/admin/conflicts", http.StatusOK)
	if n := count(first, `<tr data-conflict=`); n != 50 || strings.Contains(first, `id="page-prev"`) {
		t.Fatalf("first page: %d rows (want 50, no previous link):\n%s", n, first)
	}
	for _, w := range []string{`<a href="/ui/t/account/r/acc-001">acc-001</a>`, `<code>&#34;node 1&#34;</code>`, `<code>&#34;server&#34;</code>`, "update_deleted"} {
		if !strings.Contains(first, w) {
			t.Errorf("first page lacks %s", w)
		}
	}
	second := c.get(href(t, first, "page-next"), http.StatusOK)
	if n := count(second, `<tr data-conflict=`); n != 50 || !strings.Contains(second, "acc-050") || strings.Contains(second, "acc-049<") {
		t.Fatalf("second page: %d rows:\n%s", n, second)
	}
	third := c.get(href(t, second, "page-next"), http.StatusOK)
	if n := count(third, `<tr data-conflict=`); n != 20 || strings.Contains(third, `id="page-next"`) {
		t.Fatalf("third page: %d rows (want 20, no next link):\n%s", n, third)
	}
	if back := c.get(href(t, third, "page-prev"), http.StatusOK); back != second {
		t.Fatal("previous from the third page is not the second page")
	}
	if again := c.get(href(t, third, "page-first"), http.StatusOK); again != first {
		t.Fatal("first page link is not the first page")
	}

	bob := c.get("/ui/admin/conflicts?node=bob-laptop&table=contact&kind=update_deleted", http.StatusOK)
	if n := count(bob, `<tr data-conflict=`); n != 12 || strings.Contains(bob, "ann-laptop") {
		t.Fatalf("bob-laptop's contact conflicts: %d rows (want 12):\n%s", n, bob)
	}
	if none := c.get("/ui/admin/conflicts?table=contact&kind=update", http.StatusOK); !strings.Contains(none, `id="no-conflicts"`) {
		t.Fatalf("a filter nothing matches does not say so:\n%s", none)
	}
	for q, want := range map[string]string{
		"node=ghost":                       `unknown node &#34;ghost&#34;`,
		"table=nosuch":                     `nosuch`,
		"kind=bogus":                       `kind &#34;bogus&#34; is not a conflict kind`,
		"after=-1":                         `after &#34;-1&#34; is not a conflict id`,
		"node=" + strings.Repeat("n", 300): `node is longer than 200 bytes`,
		"back=1,x":                         `is not a list of conflict ids`,
		"node=ann-laptop&table=account&kind=unknown": `kind &#34;unknown&#34;`,
	} {
		status := http.StatusBadRequest
		if strings.HasPrefix(q, "node=ghost") || strings.HasPrefix(q, "table=") {
			status = http.StatusNotFound
		}
		page := c.get("/ui/admin/conflicts?"+q, status)
		if !strings.Contains(page, `id="activity-error"`) || !strings.Contains(page, want) || strings.Contains(page, "data-conflict=") {
			t.Errorf("?%s: the page does not say %s (and only that):\n%s", q, want, page)
		}
	}
}

// TestRefusalsPage: the uploads refused whole and the changes refused
// alone, of every node or one.
func TestRefusalsPage(t *testing.T) {
	srv, c := signedIn(t, server.Config{})
	addNodes(t, srv, "ann-laptop", "bob-laptop")
	recordConflicts(t, srv, []fieldsync.Conflict{
		{Node: "ann-laptop", Kind: fieldsync.ConflictRefused, Table: "activity", RowID: "act-1", Change: 3, Reason: "change 3 of 5 (insert activity act-1): no such opportunity", Loser: `{"type":"call"}`},
		{Node: "ann-laptop", Kind: fieldsync.ConflictUpdate, Table: "account", RowID: "acme", Field: "name", Winner: `"A"`, Loser: `"B"`},
		{Node: "bob-laptop", Kind: fieldsync.ConflictRefusedRest, Table: "contact", RowID: "c-9", Change: 7, Reason: "too many changes"},
	})
	if err := srv.Store().RecordRefused(context.Background(), "ann-laptop", 40, "damaged file: bad checksum"); err != nil {
		t.Fatal(err)
	}
	all := c.get("/ui/admin/refusals", http.StatusOK)
	for _, w := range []string{"damaged file: bad checksum", "no such opportunity", `<a href="/ui/t/activity/r/act-1">act-1</a>`, "3 of upload 1", "too many changes", `{&#34;type&#34;:&#34;call&#34;}`} {
		if !strings.Contains(all, w) {
			t.Errorf("refusals page lacks %s:\n%s", w, all)
		}
	}
	if n := count(all, `<tr data-conflict=`); n != 2 || strings.Contains(all, "acme") {
		t.Fatalf("refusals page lists %d changes (want 2, no conflict of another kind):\n%s", n, all)
	}
	bob := c.get("/ui/admin/refusals?node=bob-laptop", http.StatusOK)
	if n := count(bob, `<tr data-conflict=`); n != 1 || !strings.Contains(bob, `id="no-refused-uploads"`) {
		t.Fatalf("bob-laptop's refusals:\n%s", bob)
	}
	if page := c.get("/ui/admin/refusals?node=ghost", http.StatusNotFound); !strings.Contains(page, "unknown node &#34;ghost&#34;") {
		t.Fatalf("refusals of an unknown node:\n%s", page)
	}
}

// TestSessionsPage: the latest sessions, newest first, 50 a page, of
// every node or one, with what each moved.
func TestSessionsPage(t *testing.T) {
	srv, c := signedIn(t, server.Config{})
	addNodes(t, srv, "ann-laptop", "bob-laptop")
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	for i := range 60 {
		s := fieldsync.Session{ID: fmt.Sprintf("s-%02d", i), Node: "ann-laptop", Started: start.Add(time.Duration(i) * time.Minute),
			Ended: start.Add(time.Duration(i)*time.Minute + 5*time.Second), UpFiles: 1, UpBytes: 1000 + int64(i), DownFiles: 2, DownBytes: 2000, Result: "ok"}
		if i == 59 {
			s.Node, s.Result, s.Ended = "bob-laptop", "abandoned", time.Time{}
		}
		if err := srv.Store().SaveSession(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	first := c.get("/ui/admin/sessions", http.StatusOK)
	if n := count(first, `<tr data-session=`); n != 50 || !strings.Contains(first, `<tr data-session="s-59" data-node="bob-laptop"><td>2026-12-01 08:59:00</td><td>running</td>`) {
		t.Fatalf("first page of sessions: %d rows:\n%s", n, first)
	}
	if !strings.Contains(first, "<td>ok</td><td>1</td><td>1058</td><td>2</td><td>2000</td>") {
		t.Errorf("a session's counts are not shown:\n%s", first)
	}
	second := c.get(href(t, first, "page-next"), http.StatusOK)
	if n := count(second, `<tr data-session=`); n != 10 || strings.Contains(second, `id="page-next"`) || !strings.Contains(second, `data-session="s-00"`) {
		t.Fatalf("second page of sessions: %d rows:\n%s", n, second)
	}
	bob := c.get("/ui/admin/sessions?node=bob-laptop", http.StatusOK)
	if n := count(bob, `<tr data-session=`); n != 1 || !strings.Contains(bob, "abandoned") {
		t.Fatalf("bob-laptop's sessions:\n%s", bob)
	}
	c.get("/ui/admin/sessions?node=ghost", http.StatusNotFound)
	if page := c.get("/ui/admin/sessions?page=21", http.StatusBadRequest); !strings.Contains(page, "page &#34;21&#34; is not a number from 1 to 20") {
		t.Fatalf("a page out of range:\n%s", page)
	}
}

// TestActivityPagesAdminsOnly: the nav links of the new pages show to
// administrators only, and the pages answer 403 to connected users.
func TestActivityPagesAdminsOnly(t *testing.T) {
	srv, c := signedIn(t, server.Config{})
	page := c.get("/ui/admin/nodes", http.StatusOK)
	for _, p := range []string{"sessions", "conflicts", "refusals"} {
		if !strings.Contains(page, `href="/ui/admin/`+p+`"`) {
			t.Errorf("the administrator's nav lacks %s", p)
		}
	}
	addNodes(t, srv)
	hash, err := fieldsync.HashPassword("a long password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Store().(fieldsync.Users).AddUser(context.Background(), fieldsync.User{Login: "ann", EmployeeID: "emp-ann"}, hash); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	u := &consoleClient{t: t, base: c.base, hc: &http.Client{Jar: jar, Timeout: time.Minute}}
	resp, err := u.hc.PostForm(c.base+"/ui/signin", url.Values{"login": {"ann"}, "password": {"a long password"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "/ui/admin/sessions") {
		t.Errorf("a connected user's nav links the sessions page:\n%s", body)
	}
	for _, p := range []string{"sessions", "conflicts", "refusals"} {
		u.get("/ui/admin/"+p, http.StatusForbidden)
	}
}
