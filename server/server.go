package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/extract"
	"github.com/fieldsync/fieldsync/filestore"
	"github.com/fieldsync/fieldsync/internal/durable"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/merger"
	"github.com/fieldsync/fieldsync/postgres"
	"github.com/fieldsync/fieldsync/router"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/sqlite"
	"github.com/fieldsync/fieldsync/status"
	"github.com/fieldsync/fieldsync/syncmgr"
	"github.com/fieldsync/fieldsync/txnproc"
)

// Component names, for Config.Only.
const (
	API       = "api"
	Processor = "processor"
	Router    = "router"
	Sync      = "sync"
	Merger    = "merger"
	Extract   = "extract"
)

// Components lists every component a server can run.
var Components = []string{API, Sync, Processor, Router, Merger, Extract}

// Config configures a server.
type Config struct {
	// DataDir holds the database, the admin token and the docking folder
	// (default ./fieldsync-data).
	DataDir string
	// DB is the server database: empty for the embedded SQLite file in
	// DataDir, or a postgres://... URL.
	DB string
	// Listen is the API's address (default 127.0.0.1:7070).
	Listen string
	// Schema is the synchronized schema (default: the built-in CRM schema).
	Schema *fieldsync.Schema
	// MaxBodyBytes limits API request bodies (default 1 MiB).
	MaxBodyBytes int64
	// Only runs just these components (default: all).
	Only []string
	// RouterPartitions splits nodes between that many routers. RouterPartition
	// picks the one this process runs; -1 runs them all.
	RouterPartitions, RouterPartition int
	// MaxSessions limits concurrent synchronization sessions (default 256).
	MaxSessions int
	// MaxUploadBytes limits one uploaded file (default 64 MiB).
	MaxUploadBytes int64
	// MaxFileBytes limits one attachment file (default 1 GiB).
	MaxFileBytes int64
	// NodeFileLimit: published files larger than this are offered to nodes
	// as requested ones (0: no limit).
	NodeFileLimit int64
	// FileGrace is how old a file no row names must be before it is
	// removed (default 24 h); GCEvery how often that is checked (default 1 h).
	FileGrace, GCEvery time.Duration
	// KeepSessions is how long the records of finished synchronization
	// sessions are kept (default 30 days; a node's latest is always kept).
	// They are pruned every GCEvery.
	KeepSessions time.Duration
	// TLSCert and TLSKey, both set, are the PEM files of the certificate
	// (with its chain) and private key the API and Synchronization
	// Manager serve HTTPS with; unset, they serve plain HTTP.
	TLSCert, TLSKey string
	Logger          *slog.Logger
}

// Server is a running set of server components over one data folder.
type Server struct {
	cfg     Config
	st      *sqlstore.Store
	log     *slog.Logger
	docking docking.Folder
	token   string // the administrator's token
	files   *filestore.Store
	routed  chan struct{}
	merge   chan struct{}
	tls     *tls.Config // nil: plain HTTP
}

// Open prepares the data folder, opens the database and makes sure an
// administrator token exists (DATA/admin.token, created on first start).
func Open(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = "fieldsync-data"
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:7070"
	}
	if cfg.Schema == nil {
		cfg.Schema = schema.Default()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Only) == 0 {
		cfg.Only = Components
	}
	for _, c := range cfg.Only {
		if !slices.Contains(Components, c) {
			return nil, fmt.Errorf("unknown component %q (choose from %s)", c, strings.Join(Components, ", "))
		}
	}
	if cfg.RouterPartitions <= 0 {
		cfg.RouterPartitions = 1
	}
	if cfg.RouterPartition >= cfg.RouterPartitions {
		return nil, fmt.Errorf("router partition %d does not exist: there are %d (0 to %d)", cfg.RouterPartition, cfg.RouterPartitions, cfg.RouterPartitions-1)
	}
	tlsConfig, err := loadTLS(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	var st *sqlstore.Store
	if strings.HasPrefix(cfg.DB, "postgres://") || strings.HasPrefix(cfg.DB, "postgresql://") {
		st, err = postgres.Open(ctx, cfg.DB, cfg.Schema)
	} else if cfg.DB != "" {
		return nil, fmt.Errorf("--db %q: only postgres://... URLs are supported (leave it out for the embedded SQLite database)", cfg.DB)
	} else {
		st, err = sqlite.Open(ctx, filepath.Join(cfg.DataDir, "server.db"), cfg.Schema)
	}
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, st: st, log: cfg.Logger, docking: docking.Folder(filepath.Join(cfg.DataDir, "docking")), routed: make(chan struct{}, 1), merge: make(chan struct{}, 1), tls: tlsConfig}
	if s.files, err = filestore.Open(filepath.Join(cfg.DataDir, "files"), cfg.MaxFileBytes); err != nil {
		st.Close()
		return nil, err
	}
	if err := s.ensureToken(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

// TokenPath is where the administrator's token is kept.
func (s *Server) TokenPath() string { return filepath.Join(s.cfg.DataDir, "admin.token") }

// Token returns the administrator's token.
func (s *Server) Token() string { return s.token }

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

// Store returns the server database.
func (s *Server) Store() *sqlstore.Store { return s.st }

// Files returns the attachment file store.
func (s *Server) Files() *filestore.Store { return s.files }

// Docking returns the docking folder.
func (s *Server) Docking() docking.Folder { return s.docking }

// ensureToken reads DATA/admin.token, or creates it, and makes sure its
// hash is registered with the administrator's role (a new database next to
// an old token file gets it registered).
func (s *Server) ensureToken(ctx context.Context) error {
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
	case errors.Is(err, os.ErrNotExist):
		s.token = fieldsync.NewSecret()
		if err := durable.CreateOnce(path, []byte(s.token+"\n")); errors.Is(err, os.ErrExist) {
			return err
		} else if err != nil {
			return fmt.Errorf("create admin token: %w", err)
		}
		s.log.Info("created the administrator token", "path", path)
		// A new token file replaces the old token: deleting the file is how
		// an administrator rotates (and revokes) it.
		hash := fieldsync.HashSecret(s.token)
		if err := s.st.AddToken(ctx, fieldsync.RoleAdmin, hash); err != nil {
			return err
		}
		if n, err := s.st.RevokeTokens(ctx, fieldsync.RoleAdmin, hash); err != nil {
			return err
		} else if n > 0 {
			s.log.Info("revoked the previous administrator token", "tokens", n)
		}
		return nil
	default:
		return fmt.Errorf("read admin token: %w", err)
	}
	return s.st.AddToken(ctx, fieldsync.RoleAdmin, fieldsync.HashSecret(s.token))
}

// Close closes the database.
func (s *Server) Close() error { return s.st.Close() }

// Runs reports whether the server runs a component.
func (s *Server) Runs(c string) bool { return slices.Contains(s.cfg.Only, c) }

// Handler returns the HTTP handler of the components this server runs:
// the API, and the Synchronization Manager under /sync/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	if s.Runs(Sync) {
		mux.Handle("/sync/", syncmgr.New(s.st, s.docking, syncmgr.Options{MaxSessions: s.cfg.MaxSessions,
			MaxUploadBytes: s.cfg.MaxUploadBytes, Logger: s.log, Files: s.files, NodeFileLimit: s.cfg.NodeFileLimit, Uploaded: func(string) {
				select {
				case s.merge <- struct{}{}:
				default:
				}
			}}).Handler())
	}
	if s.Runs(API) {
		mux.Handle("/", s.apiHandler())
	}
	return mux
}

// extractFunc takes extracts in this process when it runs the Database
// Extract; otherwise (nil) the API asks for them.
func (s *Server) extractFunc() func(ctx context.Context, node string) (any, error) {
	if !s.Runs(Extract) {
		return nil
	}
	return func(ctx context.Context, node string) (any, error) {
		return extract.Extract(ctx, s.st, s.docking, node, s.log)
	}
}

func (s *Server) apiHandler() http.Handler {
	return api.New(s.st, api.Options{
		MaxBodyBytes:   s.cfg.MaxBodyBytes,
		Logger:         s.log,
		Extract:        s.extractFunc(),
		RequestExtract: s.st.RequestExtract,
		Files:          s.files,
		Status: func(ctx context.Context) (status.Status, error) {
			return status.Collect(ctx, s.st, s.docking)
		},
	})
}

// ShutdownTimeout is how long Serve waits for requests in flight when its
// context ends, before it closes their connections.
const ShutdownTimeout = 10 * time.Second

// Serve runs the configured components until ctx ends (the API on ln,
// which may be nil when the API is not among them), then shuts them down
// gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	err := s.serve(ctx, ln)
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // a component noticed the end while in the middle of its work
	}
	return err
}

func (s *Server) serve(ctx context.Context, ln net.Listener) error {
	g, ctx := errgroup.WithContext(ctx)
	if s.Runs(Processor) {
		p := txnproc.New(s.st, txnproc.Config{Docking: s.docking, Logger: s.log,
			Written: func(string) {
				select {
				case s.routed <- struct{}{}:
				default:
				}
			}})
		g.Go(func() error {
			// Exactly one Transaction Processor runs against a database.
			s.log.Info("waiting for the Transaction Processor lock", "component", "Transaction Processor")
			release, err := s.st.LockProcessor(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			defer release()
			s.log.Info("holding the Transaction Processor lock", "component", "Transaction Processor")
			return p.Run(ctx, s.st.Changed)
		})
	}
	if s.Runs(Router) {
		parts := []int{s.cfg.RouterPartition}
		if s.cfg.RouterPartition < 0 {
			parts = nil
			for p := 0; p < s.cfg.RouterPartitions; p++ {
				parts = append(parts, p)
			}
		}
		wakes := make([]chan struct{}, len(parts))
		for i, p := range parts {
			wakes[i] = make(chan struct{}, 1)
			r := router.New(s.st, router.Config{Docking: s.docking, Partition: p, Partitions: s.cfg.RouterPartitions, Logger: s.log})
			wake := wakes[i]
			g.Go(func() error { return r.Run(ctx, wake) })
		}
		g.Go(func() error { // fan the processor's signal out to every partition
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-s.routed:
					for _, w := range wakes {
						select {
						case w <- struct{}{}:
						default:
						}
					}
				}
			}
		})
	}
	if s.Runs(Extract) {
		g.Go(func() error { return extract.Run(ctx, s.st, s.docking, s.log, nil) })
	}
	if s.Runs(API) {
		g.Go(func() error {
			return s.every(ctx, func() error { _, err := s.GCFiles(ctx, s.fileGrace()); return err })
		})
	}
	if s.Runs(Sync) {
		g.Go(func() error { return s.every(ctx, func() error { _, err := s.PruneSessions(ctx); return err }) })
	}
	if s.Runs(Merger) {
		m := merger.New(s.st, s.docking, s.log)
		g.Go(func() error { return m.Run(ctx, s.merge) })
	}
	if (s.Runs(API) || s.Runs(Sync)) && ln != nil {
		hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 5 * time.Minute,
			IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn), TLSConfig: s.tls}
		if s.tls != nil {
			ln = tls.NewListener(ln, s.tls)
		}
		g.Go(func() error {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil {
				s.log.Warn("requests still running at shutdown were cut off", "err", err)
				return hs.Close()
			}
			return nil
		})
	}
	return g.Wait()
}

// Listen opens the configured address.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	return ln, nil
}

// every runs a maintenance task every GCEvery (default 1 h) until ctx
// ends; a failure is logged and the task tried again next time.
func (s *Server) every(ctx context.Context, task func() error) error {
	every := s.cfg.GCEvery
	if every <= 0 {
		every = time.Hour
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
		if err := task(); err != nil && ctx.Err() == nil {
			s.log.Error("maintenance failed", "err", err)
		}
	}
}

func (s *Server) fileGrace() time.Duration {
	if s.cfg.FileGrace <= 0 {
		return 24 * time.Hour
	}
	return s.cfg.FileGrace
}

// PruneSessions deletes the records of sessions that ended longer ago than
// KeepSessions, keeping each node's latest, and returns how many it deleted.
func (s *Server) PruneSessions(ctx context.Context) (int64, error) {
	keep := s.cfg.KeepSessions
	if keep <= 0 {
		keep = 30 * 24 * time.Hour
	}
	n, err := s.st.PruneSessions(ctx, time.Now().Add(-keep))
	if n > 0 {
		s.log.Info("pruned old session records", "sessions", n)
	}
	return n, err
}

// GCFiles removes the attachment files no row names that are older than
// grace, and returns how many.
func (s *Server) GCFiles(ctx context.Context, grace time.Duration) (int, error) {
	var refs map[string]bool
	err := s.st.Snapshot(ctx, func(snap fieldsync.Snapshot) error {
		var err error
		refs, err = filestore.Referenced(ctx, snap, s.st.Schema())
		return err
	})
	if err != nil {
		return 0, err
	}
	n, err := s.files.GC(refs, grace)
	if n > 0 {
		s.log.Info("removed unreferenced files", "files", n)
	}
	return n, err
}
