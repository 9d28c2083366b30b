package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/fieldsync/fieldsync"
)

// setAuth puts the client's credentials on a request: the user's login
// and password (HTTP Basic) when User is set, else the bearer token.
func (c *Client) setAuth(req *http.Request) {
	if c.User != "" {
		req.SetBasicAuth(c.User, c.Password)
		return
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
}

func userPath(login, verb string) string {
	return "/api/v1/admin/users/" + url.PathEscape(login) + "/" + verb
}

// Users returns every user of the console and the API.
func (c *Client) Users(ctx context.Context) ([]fieldsync.User, error) {
	var out struct {
		Users []fieldsync.User `json:"users"`
	}
	return out.Users, c.do(ctx, http.MethodGet, "/api/v1/admin/users", nil, &out)
}

// AddUser adds a user; without a password it is chosen at the user's
// first console sign-in.
func (c *Client) AddUser(ctx context.Context, u NewUser) (fieldsync.User, error) {
	var out fieldsync.User
	return out, c.do(ctx, http.MethodPost, "/api/v1/admin/users", u, &out)
}

// DisableUser stops a user's sessions and API credentials.
func (c *Client) DisableUser(ctx context.Context, login string) (fieldsync.User, error) {
	var out fieldsync.User
	return out, c.do(ctx, http.MethodPost, userPath(login, "disable"), nil, &out)
}

// EnableUser lets a disabled user sign in again.
func (c *Client) EnableUser(ctx context.Context, login string) (fieldsync.User, error) {
	var out fieldsync.User
	return out, c.do(ctx, http.MethodPost, userPath(login, "enable"), nil, &out)
}

// SetUserPassword gives a user a new password; "" makes the user choose
// one at the next console sign-in.
func (c *Client) SetUserPassword(ctx context.Context, login, password string) (fieldsync.User, error) {
	var out fieldsync.User
	return out, c.do(ctx, http.MethodPost, userPath(login, "password"), NewPassword{Password: password}, &out)
}

// History returns a record's latest Transaction Log entries, newest first.
func (c *Client) History(ctx context.Context, table, id string) ([]fieldsync.HistoryEntry, error) {
	var out HistoryAnswer
	return out.History, c.do(ctx, http.MethodGet, recordPath(table, id)+"/history", nil, &out)
}
