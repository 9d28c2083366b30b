package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/loginguard"
)

// cookieName is the session cookie's name.
const cookieName = "fieldsync_console"

// session is one signed-in browser.
type session struct {
	login   string // "" for the administrator's token
	admin   bool
	csrf    string
	expires time.Time
}

// label is how the header names who is signed in.
func (s *session) label() string {
	if s.login == "" {
		return "administrator (token)"
	}
	return s.login
}

// randomToken returns 32 random bytes, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// current returns the request's live session, or nil. A session of a user
// who was disabled, removed or made no longer an administrator since it
// began ends here.
func (c *Console) current(r *http.Request) *session {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return nil
	}
	c.mu.Lock()
	s := c.sessions[ck.Value]
	if s != nil && time.Now().After(s.expires) {
		delete(c.sessions, ck.Value)
		s = nil
	}
	c.mu.Unlock()
	if s == nil || s.login == "" {
		return s
	}
	u, _, err := c.st.User(r.Context(), s.login)
	if err != nil || u.Disabled || u.Admin != s.admin {
		c.mu.Lock()
		delete(c.sessions, ck.Value)
		c.mu.Unlock()
		return nil
	}
	return s
}

// start opens a session and sets its cookie.
func (c *Console) start(w http.ResponseWriter, login string, admin bool) {
	id := randomToken()
	s := &session{login: login, admin: admin, csrf: randomToken(), expires: time.Now().Add(c.opts.SessionTTL)}
	c.mu.Lock()
	for k, old := range c.sessions { // drop expired sessions as new ones start
		if time.Now().After(old.expires) {
			delete(c.sessions, k)
		}
	}
	c.sessions[id] = s
	c.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: Base, HttpOnly: true, Secure: c.opts.TLS,
		SameSite: http.SameSiteStrictMode, Expires: s.expires})
}

// signinData is what the sign-in page shows.
type signinData struct {
	Login string
	Error string
	// SetPassword asks for a new password (a user's first sign-in).
	SetPassword bool
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, nil, http.StatusOK, "signin", "Sign in", signinData{})
}

// signin checks a login and password, or the administrator's token given
// as the password with no login. A user without a password sets one now.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		c.render(w, r, nil, http.StatusBadRequest, "signin", "Sign in", signinData{Error: "the form could not be read"})
		return
	}
	login, password := r.PostForm.Get("login"), r.PostForm.Get("password")
	remote := loginguard.ClientAddr(r, c.opts.TrustedProxies)
	addr := loginguard.Addr(remote)
	data := signinData{Login: login}
	if wait := c.logins.Wait(addr); wait > 0 {
		c.logins.Refused(addr)
		data.Error = "too many failed sign-ins from your address: wait " + wait.Round(time.Second).String() + " and try again"
		c.render(w, r, nil, http.StatusTooManyRequests, "signin", "Sign in", data)
		return
	}
	admin, setPw, err := c.check(r, login, password, r.PostForm.Get("new_password"))
	if err != nil {
		if rep := c.logins.Fail(addr); rep.Log {
			c.log.Warn("refused sign-in", "login", login, "remote", remote, "failures", rep.Failures, "suppressed", rep.Suppressed)
		}
		data.Error, data.SetPassword = err.Error(), setPw
		c.render(w, r, nil, http.StatusUnauthorized, "signin", "Sign in", data)
		return
	}
	c.logins.Succeed(addr)
	c.log.Info("signed in", "login", login, "admin", admin, "remote", remote)
	c.start(w, login, admin)
	http.Redirect(w, r, Base, http.StatusSeeOther)
}

// errBadLogin is the one answer to every wrong login or password.
var errBadLogin = errors.New("wrong login or password")

// check says whether the credentials sign in, and whether as an
// administrator. setPw asks the page for a new password.
func (c *Console) check(r *http.Request, login, password, newPassword string) (admin, setPw bool, err error) {
	ctx := r.Context()
	if login == "" {
		role, err := c.st.TokenRole(ctx, fieldsync.HashSecret(password))
		if err != nil || role != fieldsync.RoleAdmin || password == "" {
			return false, false, errBadLogin
		}
		return true, false, nil
	}
	u, hash, err := c.st.User(ctx, login)
	if err != nil || u.Disabled {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password)) // the same time as a known login
		return false, false, errBadLogin
	}
	if !u.HasPassword {
		h, err := fieldsync.HashPassword(newPassword)
		if err != nil {
			return false, true, fmt.Errorf("first sign-in: choose a password: %w", err)
		}
		if err := c.st.SetUserPassword(ctx, login, h); err != nil {
			return false, true, err
		}
		return u.Admin, false, nil
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return false, false, errBadLogin
	}
	return u.Admin, false, nil
}

// dummyHash is compared against for unknown logins.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password of anyone"), bcrypt.DefaultCost)

func (c *Console) signout(w http.ResponseWriter, r *http.Request, s *session) error {
	if ck, err := r.Cookie(cookieName); err == nil {
		c.mu.Lock()
		if subtle.ConstantTimeCompare([]byte(c.sessions[ck.Value].csrfOrEmpty()), []byte(s.csrf)) == 1 {
			delete(c.sessions, ck.Value)
		}
		c.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Base, MaxAge: -1, HttpOnly: true, Secure: c.opts.TLS, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, Base+"signin", http.StatusSeeOther)
	return nil
}

// csrfOrEmpty is the session's CSRF token, "" for no session.
func (s *session) csrfOrEmpty() string {
	if s == nil {
		return ""
	}
	return s.csrf
}
