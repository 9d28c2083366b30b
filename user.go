package fieldsync

import (
	"context"
	"time"
)

// RoleUser is the role of a connected user: records and attachments, never
// the administrator's areas.
const RoleUser = "user"

// User is a person who signs in to the server console or the HTTP API with
// a login and password: a connected user working records on the server
// (Admin false), or an administrator.
type User struct {
	Login      string    `json:"login"`
	EmployeeID string    `json:"employee_id"`
	Admin      bool      `json:"admin"`
	Disabled   bool      `json:"disabled"`
	Created    time.Time `json:"created"`
	// HasPassword is false until the user's password is set (at the first
	// sign-in, or given when the user was added or reset).
	HasPassword bool `json:"has_password"`
}

// Role returns the role the user signs in with.
func (u User) Role() string {
	if u.Admin {
		return RoleAdmin
	}
	return RoleUser
}

// Users holds the users of the console and the API, and their password
// hashes (never the passwords).
type Users interface {
	// AddUser adds a user; passwordHash may be nil (set at first sign-in).
	AddUser(ctx context.Context, u User, passwordHash []byte) (User, error)
	// User returns a user and its password hash, or ErrNotFound.
	User(ctx context.Context, login string) (User, []byte, error)
	ListUsers(ctx context.Context) ([]User, error)
	// SetUserDisabled disables or enables a user; a disabled user's
	// sessions stop working at their next request.
	SetUserDisabled(ctx context.Context, login string, disabled bool) (User, error)
	// SetUserPassword replaces a user's password hash (nil: to be set at
	// the next sign-in).
	SetUserPassword(ctx context.Context, login string, passwordHash []byte) error
}

// userKey is the context key of the user a write is made for.
type userKey struct{}

// WithUser returns a context saying that writes made with it are made by
// the user login; the one write path records it in the Transaction Log.
func WithUser(ctx context.Context, login string) context.Context {
	return context.WithValue(ctx, userKey{}, login)
}

// UserFrom returns the user WithUser put in ctx, or "".
func UserFrom(ctx context.Context) string {
	s, _ := ctx.Value(userKey{}).(string)
	return s
}
