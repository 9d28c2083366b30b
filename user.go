package fieldsync

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"golang.org/x/crypto/bcrypt"
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

// The rules of a user's login and password, the one copy the console, the
// API, the command line and the server database keep to.
const (
	// MaxLogin is the longest login, in bytes.
	MaxLogin = 64
	// MinPassword is the shortest password a user may be given, in
	// characters (bytes).
	MinPassword = 10
	// MaxPassword is the longest: bcrypt reads no more than 72 bytes.
	MaxPassword = 72
)

// loginPattern is what a user's login may be: it goes into HTTP Basic
// credentials (no colon) and log lines (no spaces).
var loginPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// The fields of a user a UserError names: the names of the API's JSON
// fields and of the console's form fields.
const (
	UserLogin    = "login"
	UserEmployee = "employee_id"
	UserPassword = "password"
)

// UserError is a user's login, employee id or password refused by the
// rules of users (or a login taken already). Field (UserLogin,
// UserEmployee or UserPassword) says which, so that a form can show the
// message next to its field; the message is Err's, of kind ErrInvalid (or
// ErrExists).
type UserError struct {
	Field string
	Err   error
}

func (e *UserError) Error() string { return e.Err.Error() }

// Unwrap returns the error of a known kind, so errors.Is(err, ErrInvalid)
// works.
func (e *UserError) Unwrap() error { return e.Err }

// userErrorf returns a *UserError about field, of kind ErrInvalid.
func userErrorf(field, format string, args ...any) error {
	return &UserError{Field: field, Err: Errorf(ErrInvalid, format, args...)}
}

// UserField returns the field of a user err is about (UserLogin,
// UserEmployee or UserPassword), or "" when it is about none.
func UserField(err error) string {
	var ue *UserError
	if errors.As(err, &ue) {
		return ue.Field
	}
	return ""
}

// CheckLogin says whether login may be a user's login: 1 to MaxLogin
// letters, digits, _ . or -, starting with a letter or digit.
func CheckLogin(login string) error {
	if !loginPattern.MatchString(login) {
		return userErrorf(UserLogin, "login %q is not valid: use 1-%d letters, digits, _ . or -, starting with a letter or digit", login, MaxLogin)
	}
	return nil
}

// CheckPassword says whether password may be a user's password: at least
// MinPassword characters, at most MaxPassword bytes.
func CheckPassword(password string) error {
	if len(password) < MinPassword {
		return userErrorf(UserPassword, "a password needs at least %d characters", MinPassword)
	}
	if len(password) > MaxPassword {
		return userErrorf(UserPassword, "a password may have at most %d bytes", MaxPassword)
	}
	return nil
}

// HashPassword returns the slow hash (bcrypt) the server keeps of a
// password that CheckPassword accepts.
func HashPassword(password string) ([]byte, error) {
	if err := CheckPassword(password); err != nil {
		return nil, err
	}
	return bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
}

// RowGetter reads one row by its id, or fails with ErrNotFound (a Reader
// is one).
type RowGetter interface {
	Get(ctx context.Context, table, id string) (Row, error)
}

// CheckEmployee says whether id may be a user's employee id: it must be
// given and, when the schema binds nodes to an employee table, name one of
// its rows, read through r.
func CheckEmployee(ctx context.Context, r RowGetter, s *Schema, id string) error {
	if id == "" {
		return userErrorf(UserEmployee, "a user needs an employee_id")
	}
	emp := s.Nodes.EmployeeTable
	if emp == "" {
		return nil
	}
	if _, err := r.Get(ctx, emp, id); errors.Is(err, ErrNotFound) {
		return userErrorf(UserEmployee, "employee_id %q: no %s with that id", id, emp)
	} else if err != nil {
		return fmt.Errorf("check employee_id %q: %w", id, err)
	}
	return nil
}
