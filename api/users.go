package api

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"net/http"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/loginguard"
)

// NewUser is the body of a user's addition. Password "" leaves the
// password to be chosen at the user's first sign-in to the console.
type NewUser struct {
	Login      string `json:"login"`
	EmployeeID string `json:"employee_id"`
	Admin      bool   `json:"admin"`
	Password   string `json:"password,omitempty"`
}

// NewPassword is the body of a password reset: "" signs the user out of
// the API until a new password is chosen at the next console sign-in.
type NewPassword struct {
	Password string `json:"password"`
}

func (h *handler) userRoutes(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/admin/users", h.auth(areaAdmin, h.listUsers))
	mux.Handle("POST /api/v1/admin/users", h.auth(areaAdmin, h.addUser))
	mux.Handle("POST /api/v1/admin/users/{login}/disable", h.auth(areaAdmin, h.userDisabled(true)))
	mux.Handle("POST /api/v1/admin/users/{login}/enable", h.auth(areaAdmin, h.userDisabled(false)))
	mux.Handle("POST /api/v1/admin/users/{login}/password", h.auth(areaAdmin, h.setPassword))
}

func (h *handler) listUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := h.st.ListUsers(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users})
	return nil
}

func (h *handler) addUser(w http.ResponseWriter, r *http.Request) error {
	var req NewUser
	if err := readObject(r, &req); err != nil {
		return err
	}
	// The rules of users are fieldsync's (user.go), the console's: the
	// login, then the password, then (in the store, as it adds the user)
	// the employee.
	if err := fieldsync.CheckLogin(req.Login); err != nil {
		return err
	}
	hash, err := passwordHash(req.Password)
	if err != nil {
		return err
	}
	u, err := h.st.AddUser(r.Context(), fieldsync.User{Login: req.Login, EmployeeID: req.EmployeeID, Admin: req.Admin}, hash)
	if err != nil {
		return err
	}
	h.log.Info("user added", "login", u.Login, "admin", u.Admin)
	writeJSON(w, http.StatusCreated, u)
	return nil
}

// userDisabled disables or enables a user; a disabled user's API
// credentials stop working at once.
func (h *handler) userDisabled(disabled bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		u, err := h.st.SetUserDisabled(r.Context(), r.PathValue("login"), disabled)
		if err != nil {
			return err
		}
		h.users.forget(u.Login)
		h.log.Info("user changed", "login", u.Login, "disabled", disabled)
		writeJSON(w, http.StatusOK, u)
		return nil
	}
}

func (h *handler) setPassword(w http.ResponseWriter, r *http.Request) error {
	var req NewPassword
	if err := readObject(r, &req); err != nil {
		return err
	}
	login := r.PathValue("login")
	hash, err := passwordHash(req.Password)
	if err != nil {
		return err
	}
	if err := h.st.SetUserPassword(r.Context(), login, hash); err != nil {
		return err
	}
	h.users.forget(login)
	u, _, err := h.st.User(r.Context(), login)
	if err != nil {
		return err
	}
	h.log.Info("user password reset", "login", login, "set", len(hash) > 0)
	writeJSON(w, http.StatusOK, u)
	return nil
}

// HistoryAnswer is the answer of a record's history: its latest
// Transaction Log entries, newest first.
type HistoryAnswer struct {
	Table   string                   `json:"table"`
	ID      string                   `json:"id"`
	History []fieldsync.HistoryEntry `json:"history"`
}

func (h *handler) history(w http.ResponseWriter, r *http.Request) error {
	table, id := r.PathValue("table"), r.PathValue("id")
	entries, err := h.st.History(r.Context(), table, id, fieldsync.MaxHistory)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, HistoryAnswer{Table: table, ID: id, History: entries})
	return nil
}

// passwordHash is the hash kept of a password given to a user
// (fieldsync.HashPassword), or nil for "": chosen at the next sign-in.
func passwordHash(password string) ([]byte, error) {
	if password == "" {
		return nil, nil
	}
	return fieldsync.HashPassword(password)
}

// errBadUser is the one answer to every refused login and password.
var errBadUser = fieldsync.Errorf(fieldsync.ErrUnauthorized, "wrong login or password (or the user is disabled, or has not chosen a password yet)")

// dummyHash is compared against for unknown logins, so that they take
// as long as known ones.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("not a password of anyone"), bcrypt.DefaultCost)
	return h
})

// authorizeUser checks a user's login and password (HTTP Basic) against
// the user's row, read on every request; a bcrypt check is skipped when
// the same credentials were verified against the same hash lately.
func (h *handler) authorizeUser(r *http.Request, a area, addr loginguard.Key, remote string) (context.Context, error) {
	ctx := r.Context()
	login, password, _ := r.BasicAuth()
	u, hash, err := h.st.User(ctx, login)
	if err != nil && !errors.Is(err, fieldsync.ErrNotFound) {
		h.log.Error("user check failed", "err", err)
		return ctx, errBadUser
	}
	if err != nil || u.Disabled || !u.HasPassword {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		h.logFailure(h.logins.Fail(addr), "wrong login or password", remote)
		return ctx, errBadUser
	}
	key := credKey(login, password, hash)
	if !h.users.valid(key) {
		if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
			h.logFailure(h.logins.Fail(addr), "wrong login or password", remote)
			return ctx, errBadUser
		}
		h.users.add(key, login)
	}
	h.logins.Succeed(addr)
	if !allowed(u.Role(), a) {
		return ctx, fieldsync.Errorf(fieldsync.ErrForbidden, "user %s may not use %s (administrators only)", login, r.URL.Path)
	}
	return fieldsync.WithUser(ctx, login), nil
}

// credTTL is how long verified credentials are trusted without bcrypt;
// maxCreds bounds how many are remembered.
const (
	credTTL  = time.Minute
	maxCreds = 10000
)

// credCache remembers credentials lately verified, by a hash of the login,
// the password and the stored password hash: a changed password misses.
type credCache struct {
	mu sync.Mutex
	m  map[[32]byte]credEntry
}

type credEntry struct {
	login   string
	expires time.Time
}

func newCredCache() *credCache { return &credCache{m: map[[32]byte]credEntry{}} }

// credKey is the cache key of a login, a password and the hash it was
// checked against (each length-prefixed, so no two triples share a key).
func credKey(login, password string, hash []byte) [32]byte {
	d := sha256.New()
	for _, part := range [][]byte{[]byte(login), []byte(password), hash} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		d.Write(n[:])
		d.Write(part)
	}
	var k [32]byte
	d.Sum(k[:0])
	return k
}

func (c *credCache) valid(k [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if ok && time.Now().After(e.expires) {
		delete(c.m, k)
		return false
	}
	return ok
}

func (c *credCache) add(k [32]byte, login string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if len(c.m) >= maxCreds {
		for key, e := range c.m {
			if now.After(e.expires) || len(c.m) >= maxCreds {
				delete(c.m, key)
			}
		}
	}
	c.m[k] = credEntry{login: login, expires: now.Add(credTTL)}
}

// forget drops a user's remembered credentials (disabled, new password).
func (c *credCache) forget(login string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.login == login {
			delete(c.m, k)
		}
	}
}
