package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/filestore"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/postgres"
	"github.com/fieldsync/fieldsync/sqlite"
	"github.com/fieldsync/fieldsync/syncmgr"
	"github.com/fieldsync/fieldsync/txnproc"
)

// Server is a running set of server components over one data folder.
type Server struct {
	cfg     Config
	st      *sqlstore.Store
	log     *slog.Logger
	docking docking.Folder
	token   string // the administrator's token
	// ownToken: token is this process's own (Config.NoTokenFile), revoked
	// by Close.
	ownToken bool
	folder   string // the data folder's absolute path, naming it to other processes
	claim    claim  // the data folder's locks this process holds while it runs (Claim)
	files    *filestore.Store
	routed   chan struct{}
	recent   *txnproc.Recent // the processor's last files, for this process's routers
	merge    chan struct{}
	extract  chan struct{} // wakes this process's Database Extract
	tls      *tls.Config   // nil: plain HTTP

	syncOnce sync.Once
	syncMgr  *syncmgr.Manager
	obs      observe
}

// Open prepares the data folder, opens the database and makes sure an
// administrator token exists (DATA/admin.token, created on first start,
// unless Config.AdminToken or Config.NoTokenFile say otherwise).
func Open(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	tlsConfig, err := loadTLS(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	folder, err := absFolder(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := st.Incarnation(ctx); err != nil { // made once, so every backup holds it
		st.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, st: st, log: cfg.Logger, docking: docking.In(cfg.DataDir), folder: folder,
		routed: make(chan struct{}, 1), recent: txnproc.NewRecent(0), merge: make(chan struct{}, 1), extract: make(chan struct{}, 1), tls: tlsConfig}
	s.log = s.Metrics().LogErrors(s.log) // errors logged are counted by component
	s.logSchema()
	if s.files, err = filestore.Open(filepath.Join(cfg.DataDir, "files"), cfg.MaxFileBytes); err != nil {
		st.Close()
		return nil, err
	}
	s.files.LimitPartials(filestore.PartialLimits{Count: cfg.Limits.PartialFiles, Bytes: cfg.Limits.PartialBytes, Expire: cfg.Limits.PartialExpire})
	if err := s.ensureToken(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

// openStore opens the server database Config.DB names.
func openStore(ctx context.Context, cfg Config) (*sqlstore.Store, error) {
	switch {
	case strings.HasPrefix(cfg.DB, "postgres://") || strings.HasPrefix(cfg.DB, "postgresql://"):
		return postgres.Open(ctx, cfg.DB, cfg.Schema)
	case cfg.DB != "":
		return nil, fmt.Errorf("--db %q: only postgres://... URLs are supported (leave it out for the embedded SQLite database)", cfg.DB)
	default:
		return sqlite.Open(ctx, filepath.Join(cfg.DataDir, "server.db"), cfg.Schema)
	}
}

// loadTLS reads the certificate and key the server serves HTTPS with; both
// empty means plain HTTP.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("HTTPS needs both a certificate (--tls-cert) and its private key (--tls-key)")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// Scheme is "https" when the server serves TLS, else "http".
func (s *Server) Scheme() string {
	if s.tls != nil {
		return "https"
	}
	return "http"
}

// Store returns the server database, for programs and tests that read or
// write it directly (through the one write path, Store.Apply). Nodes and
// records are administered more simply through Admin.
func (s *Server) Store() fieldsync.Store { return s.st }

// Files returns the attachment file store.
func (s *Server) Files() *filestore.Store { return s.files }

// Docking returns the docking folder.
func (s *Server) Docking() docking.Folder { return s.docking }

// Close gives up the data folder's locks (Claim), revokes the token the
// server made for itself (Config.NoTokenFile) and closes the database.
func (s *Server) Close() error {
	if s.Runs(Sync) {
		s.syncManager().WaitBackground()
	}
	s.claim.release()
	return errors.Join(s.revokeOwnToken(), s.st.Close())
}

// absFolder is the data folder's absolute path, links resolved: the name
// of its token's owner in the database.
func absFolder(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return "", fmt.Errorf("data folder %s: %w", dir, err)
	}
	return abs, nil
}

// logSchema says which schema the server runs, and how it differs from
// the one the database ran before.
func (s *Server) logSchema() {
	sch := s.st.Schema()
	if s.st.SchemaFromDatabase() {
		s.log.Info("using the schema stored in the database", "source", sch.Source, "tables", len(sch.Tables))
	}
	if change := s.st.SchemaChange(); change != "" {
		s.log.Warn("schema changed: "+change, "source", sch.Source)
	}
}

// Runs reports whether the server runs a component.
func (s *Server) Runs(c string) bool { return slices.Contains(s.cfg.Only, c) }

// Listen opens the configured address.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	return ln, nil
}
