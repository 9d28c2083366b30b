package api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/internal/testutil"
	"github.com/fieldsync/fieldsync/server"
)

// send makes a request as a modified client would, with raw bytes in the
// path, query and body, and returns the status and body of the answer.
func send(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTextRefused(t *testing.T) { testutil.ForBackends(t, testTextRefused) }

// testTextRefused: text that is not valid UTF-8, or holds a NUL byte, is
// refused wherever a request carries it (body, path, query), with one line
// that says where, and nothing is stored.
func testTextRefused(t *testing.T, b testutil.Backend) {
	c, srv := start(t, b, 0, server.API) // no processor: the log keeps every entry
	seed(t, c)
	base, tok := c.BaseURL+"/api/v1", c.Token
	cases := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"create, raw byte", "POST", "/records/account", "{\"id\": \"a2\", \"name\": \"Bad\xff\"}", 400,
			`the request body is not UTF-8 (byte 0xff at byte 25)`},
		{"create, NUL", "POST", "/records/account", `{"id": "a2", "name": "Bad\u0000"}`, 400,
			`account row \"a2\": column name: text holds a NUL byte at byte 3`},
		{"create without id, NUL", "POST", "/records/account", `{"name": "x", "industry": "\u0000"}`, 400,
			`account (new row): column industry: text holds a NUL byte at byte 0`},
		{"update, NUL", "PATCH", "/records/account/acme", `{"name": "Acme\u0000"}`, 400,
			`account row \"acme\": column name: text holds a NUL byte at byte 4`},
		{"update, raw byte", "PATCH", "/records/account/acme", "{\"name\": \"\xc3\"}", 400, `not UTF-8 (byte 0xc3 at byte 10)`},
		{"filter", "GET", "/records/account?name=Acme%FF", "", 400,
			`account: filter: column name: text is not valid UTF-8 (byte 0xff at byte 4)`},
		{"filter, NUL", "GET", "/records/account?name=%00", "", 400, `holds a NUL byte`},
		{"after", "GET", "/records/account?_after=%FF", "", 400, `account: after \"\\xff\" is not a row id`},
		{"get, id", "GET", "/records/account/%FF%00", "", 404, `account: no row with id \"\\xff\\x00\"`},
		{"update, id", "PATCH", "/records/account/%FF", `{"name": "x"}`, 404, `no row with id`},
		{"delete, id", "DELETE", "/records/account/%FF", "", 404, `no row with id`},
		{"table", "GET", "/records/acc%FF", "", 404, `unknown table \"acc\\xff\"`},
		{"node", "GET", "/admin/nodes/%FF", "", 404, `unknown node \"\\xff\"`},
		{"deactivate node", "POST", "/admin/nodes/%00/deactivate", "", 404, `unknown node`},
		{"reextract node", "POST", "/admin/nodes/%FF/reextract", "", 404, `unknown node`},
	}
	for _, tc := range cases {
		status, body := send(t, tc.method, base+tc.path, tok, tc.body)
		if status != tc.status || !strings.Contains(body, tc.want) || strings.Count(body, "\n") > 4 {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, body, tc.status, tc.want)
		}
	}
	page, err := c.List(context.Background(), "account", nil, "", 0)
	if err != nil || len(page.Rows) != 1 || page.Rows[0]["name"] != "Acme" || page.Rows[0]["industry"] != nil {
		t.Fatalf("accounts after the refusals: %v, %v", page.Rows, err)
	}
	if log, err := srv.Store().ReadLog(context.Background(), 0, 1000); err != nil || len(log) != 3 {
		t.Fatalf("transaction log after the refusals: %d entries, %v; want the seed's 3", len(log), err)
	}
}

func TestBadTokensSlowed(t *testing.T) { testutil.ForBackends(t, testBadTokensSlowed) }

// testBadTokensSlowed: an address that keeps sending unknown tokens is
// answered "retry later" (429, Retry-After) without the token being
// checked.
func testBadTokensSlowed(t *testing.T, b testutil.Backend) {
	c, _ := start(t, b, 0)
	var status int
	var body string
	tries := 0
	for tries = 1; tries <= 30; tries++ {
		if status, body = send(t, "GET", c.BaseURL+"/api/v1/schema", "guess", ""); status != http.StatusUnauthorized {
			break
		}
		if !strings.Contains(body, `"invalid token"`) {
			t.Fatalf("attempt %d: %s", tries, body)
		}
	}
	if status != http.StatusTooManyRequests || tries < 21 || !strings.Contains(body, `"code": "throttled"`) {
		t.Fatalf("attempt %d: %d %s, want 429 throttled after 20 free failures", tries, status, body)
	}
}
