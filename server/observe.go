package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fieldsync/fieldsync/extract"
	"github.com/fieldsync/fieldsync/metrics"
)

// observe is a server's metrics and readiness (docs/operations.md
// "Metrics, health and logs").
type observe struct {
	once    sync.Once
	m       *metrics.Metrics
	running atomic.Bool  // the components of Serve run
	ln      net.Listener // the metrics listener ListenMetrics opened
	lnMu    sync.Mutex
}

// Metrics is this server's metrics registry and recorders.
func (s *Server) Metrics() *metrics.Metrics {
	s.obs.once.Do(func() {
		s.obs.m = metrics.New(metrics.Options{Status: s.status, Ready: s.ready, Logger: s.log})
	})
	return s.obs.m
}

// ready says whether this server can work: its database answers and
// Serve runs its components.
func (s *Server) ready(ctx context.Context) error {
	if _, err := s.st.LogState(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	if !s.obs.running.Load() {
		return errors.New("components not running")
	}
	return nil
}

// ListenMetrics opens Config.MetricsListen, where Serve then answers
// /metrics, /health and /ready (nil without a MetricsListen).
func (s *Server) ListenMetrics() (net.Listener, error) {
	s.obs.lnMu.Lock()
	defer s.obs.lnMu.Unlock()
	if s.cfg.MetricsListen == "" || s.obs.ln != nil {
		return s.obs.ln, nil
	}
	ln, err := net.Listen("tcp", s.cfg.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (metrics): %w", s.cfg.MetricsListen, err)
	}
	s.obs.ln = ln
	return ln, nil
}

// runMetrics serves the metrics listener, when configured, until ctx ends.
func (s *Server) runMetrics(ctx context.Context, g *errgroup.Group) error {
	ln, err := s.ListenMetrics()
	if err != nil || ln == nil {
		return err
	}
	hs := &http.Server{Handler: s.Metrics().Mux(),
		ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
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
		return hs.Shutdown(sctx)
	})
	return nil
}

// extractor takes this process's Database Extracts, recorded in its
// metrics.
func (s *Server) extractor() extract.Extractor {
	return extract.Extractor{Store: s.st, Docking: s.docking, Logger: s.log, Recorder: s.Metrics().Extract()}
}

// observed wraps a component's HTTP handler with its access log and
// request metrics.
func (s *Server) observed(component string, h http.Handler) http.Handler {
	return s.Metrics().HTTP(component, s.log, h)
}
