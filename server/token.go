package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/durable"
)

// TokenPath is where the administrator's token is kept (unless
// Config.AdminToken or Config.NoTokenFile keep it out of the data folder):
// this data folder's copy of its token, which the database knows by its
// hash.
func (s *Server) TokenPath() string { return filepath.Join(s.cfg.DataDir, "admin.token") }

// Token returns the administrator's token: the bearer token of the HTTP
// API's administrator.
func (s *Server) Token() string { return s.token }

// ensureToken sets the administrator's token: Config.AdminToken, a new one
// of this process's own (Config.NoTokenFile), or the one of DATA/admin.token,
// which it creates on first start. Tokens live in the database (as hashes,
// with their owner): a process registers its own and replaces only tokens
// of the same owner, so a second process or data folder on one database
// never revokes a token the others use.
func (s *Server) ensureToken(ctx context.Context) error {
	switch {
	case s.cfg.AdminToken != "":
		return s.replaceToken(ctx, s.cfg.AdminToken, "configured for "+s.folder)
	case s.cfg.NoTokenFile:
		// Its own until Close revokes it: other processes keep theirs.
		s.token = fieldsync.NewSecret()
		s.ownToken = true
		host, _ := os.Hostname()
		return s.st.AddOwnedToken(ctx, fieldsync.RoleAdmin, fieldsync.HashSecret(s.token),
			fmt.Sprintf("process %d on %s, data %s", os.Getpid(), host, s.folder))
	}
	path := s.TokenPath()
	for {
		err := s.readOrMakeToken(ctx, path)
		if errors.Is(err, os.ErrExist) {
			// Another process starting at the same moment made the
			// token file first: use its token.
			continue
		}
		return err
	}
}

// tokenOwner is the owner of the token of DATA/admin.token.
func (s *Server) tokenOwner() string { return "token file " + filepath.Join(s.folder, "admin.token") }

func (s *Server) readOrMakeToken(ctx context.Context, path string) error {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		s.token = strings.TrimSpace(string(data))
		if s.token == "" {
			return fmt.Errorf("admin token file %s is empty: delete it to have a new token made", path)
		}
		if info, err := os.Stat(path); err == nil && info.Mode().Perm()&0o077 != 0 {
			s.log.Warn("the administrator token file is readable by others: chmod 600 it", "path", path, "mode", info.Mode().Perm())
		}
		if _, err := s.st.TokenRole(ctx, fieldsync.HashSecret(s.token)); err != nil && !errors.Is(err, fieldsync.ErrUnauthorized) {
			return err
		} else if err != nil {
			s.log.Info("registered the administrator token of the token file", "path", path)
		}
		// Registered, or claimed for this folder if an earlier build
		// registered it without an owner.
		return s.st.AddOwnedToken(ctx, fieldsync.RoleAdmin, fieldsync.HashSecret(s.token), s.tokenOwner())
	case errors.Is(err, os.ErrNotExist):
		token := fieldsync.NewSecret()
		if err := durable.CreateOnce(path, []byte(token+"\n")); errors.Is(err, os.ErrExist) {
			return err
		} else if err != nil {
			return fmt.Errorf("create admin token: %w", err)
		}
		s.log.Info("created the administrator token", "path", path)
		// A new token file replaces this folder's old token: deleting the
		// file is how an administrator rotates (and revokes) it. Other
		// folders' tokens stay.
		return s.replaceToken(ctx, token, s.tokenOwner())
	default:
		return fmt.Errorf("read admin token: %w", err)
	}
}

// replaceToken makes token the administrator's for owner, and the only one
// owner holds.
func (s *Server) replaceToken(ctx context.Context, token, owner string) error {
	s.token = token
	hash := fieldsync.HashSecret(token)
	if err := s.st.AddOwnedToken(ctx, fieldsync.RoleAdmin, hash, owner); err != nil {
		return err
	}
	if n, err := s.st.RevokeOwnedTokens(ctx, fieldsync.RoleAdmin, owner, hash); err != nil {
		return err
	} else if n > 0 {
		s.log.Info("revoked the previous administrator token", "tokens", n, "owner", owner)
	}
	return nil
}

// revokeOwnToken revokes the token this process made for itself
// (Config.NoTokenFile), at Close.
func (s *Server) revokeOwnToken() error {
	if !s.ownToken {
		return nil
	}
	s.ownToken = false
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.st.RevokeToken(ctx, fieldsync.HashSecret(s.token))
}
