package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/durable"
)

// TokenPath is where the administrator's token is kept (unless
// Config.AdminToken or Config.NoTokenFile keep it out of the data folder).
func (s *Server) TokenPath() string { return filepath.Join(s.cfg.DataDir, "admin.token") }

// Token returns the administrator's token: the bearer token of the HTTP
// API's administrator.
func (s *Server) Token() string { return s.token }

// ensureToken sets the administrator's token: Config.AdminToken, a new one
// (Config.NoTokenFile), or the one of DATA/admin.token, which it creates
// on first start. The token's hash is registered with the administrator's
// role (a new database next to an old token file gets it registered).
func (s *Server) ensureToken(ctx context.Context) error {
	switch {
	case s.cfg.AdminToken != "":
		return s.replaceToken(ctx, s.cfg.AdminToken)
	case s.cfg.NoTokenFile:
		return s.replaceToken(ctx, fieldsync.NewSecret())
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
		if _, err := s.st.TokenRole(ctx, fieldsync.HashSecret(s.token)); err == nil {
			return nil
		} else if !errors.Is(err, fieldsync.ErrUnauthorized) {
			return err
		}
		s.log.Info("registered the administrator token of the token file", "path", path)
		return s.st.AddToken(ctx, fieldsync.RoleAdmin, fieldsync.HashSecret(s.token))
	case errors.Is(err, os.ErrNotExist):
		token := fieldsync.NewSecret()
		if err := durable.CreateOnce(path, []byte(token+"\n")); errors.Is(err, os.ErrExist) {
			return err
		} else if err != nil {
			return fmt.Errorf("create admin token: %w", err)
		}
		s.log.Info("created the administrator token", "path", path)
		// A new token file replaces the old token: deleting the file is how
		// an administrator rotates (and revokes) it.
		return s.replaceToken(ctx, token)
	default:
		return fmt.Errorf("read admin token: %w", err)
	}
}

// replaceToken makes token the administrator's, and the only one.
func (s *Server) replaceToken(ctx context.Context, token string) error {
	s.token = token
	hash := fieldsync.HashSecret(token)
	if err := s.st.AddToken(ctx, fieldsync.RoleAdmin, hash); err != nil {
		return err
	}
	if n, err := s.st.RevokeTokens(ctx, fieldsync.RoleAdmin, hash); err != nil {
		return err
	} else if n > 0 {
		s.log.Info("revoked the previous administrator token", "tokens", n)
	}
	return nil
}
