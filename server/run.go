package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/api"
	"github.com/fieldsync/fieldsync/console"
	"github.com/fieldsync/fieldsync/extract"
	"github.com/fieldsync/fieldsync/internal/loginguard"
	"github.com/fieldsync/fieldsync/merger"
	"github.com/fieldsync/fieldsync/metrics"
	"github.com/fieldsync/fieldsync/router"
	"github.com/fieldsync/fieldsync/status"
	"github.com/fieldsync/fieldsync/syncmgr"
	"github.com/fieldsync/fieldsync/txnproc"
)

// Handler returns the HTTP handler of the components this server runs:
// the API, and the Synchronization Manager under /sync/.
func (s *Server) Handler() http.Handler { return s.handler(context.Background()) }

// handler is Handler, whose console's background work ends with ctx.
func (s *Server) handler(ctx context.Context) http.Handler {
	mux := http.NewServeMux()
	if s.Runs(Sync) {
		mux.Handle("/sync/", s.observed("sync", s.syncManager().Handler()))
	}
	if s.Runs(API) {
		mux.Handle("/", s.observed("api", s.apiHandler()))
		mux.Handle(console.Base, s.observed("console", s.consoleHandler(ctx)))
	} else {
		mux.HandleFunc("GET /health", metrics.Health)
	}
	mux.HandleFunc("GET /ready", s.Metrics().Ready)
	return mux
}

// consoleHandler is the server console under /ui/, beside the API.
func (s *Server) consoleHandler(ctx context.Context) http.Handler {
	c, err := console.New(s.st, console.Options{Status: s.status, Context: ctx, Files: s.files, Extract: s.extractFunc(), RequestExtract: s.st.RequestExtract,
		TLS: s.tls != nil, Logins: loginguard.Config{MaxDelay: s.cfg.MaxLoginDelay}, TrustedProxies: s.cfg.TrustedProxies, Logger: s.log})
	if err != nil { // the templates are embedded: a build that fails here fails its tests
		s.log.Error("console unavailable", "err", err)
		return http.NotFoundHandler()
	}
	return c
}

// syncManager is this server's Synchronization Manager (made once: its
// routers wake its news requests).
func (s *Server) syncManager() *syncmgr.Manager {
	s.syncOnce.Do(func() {
		l := s.cfg.Limits
		s.syncMgr = syncmgr.New(s.st, s.docking, syncmgr.Options{MaxSessions: s.cfg.MaxSessions,
			MaxNodeSessions: l.NodeSessions, MaxNodeRequests: l.NodeRequests, MaxNodeNews: l.NodeNews,
			MaxNewsWaiters: l.NewsWaiters, UploadsAhead: l.UploadsAhead,
			MaxNodeDailyBytes: l.DailyBytes, MaxNodeDailyInserts: l.DailyInserts,
			MaxUploadBytes: s.cfg.MaxUploadBytes, Logger: s.log, Files: s.files, NodeFileLimit: s.cfg.NodeFileLimit,
			Logins: loginguard.Config{MaxDelay: s.cfg.MaxLoginDelay}, TrustedProxies: s.cfg.TrustedProxies, NewsPoll: s.cfg.Poll, RouteWait: s.cfg.RouteWait,
			Coalesce: s.cfg.Coalesce,
			Uploaded: func(string) { signal(s.merge) }, ExtractWanted: func() { signal(s.extract) }, Recorder: s.Metrics().Sync()})
	})
	return s.syncMgr
}

// signal wakes whoever waits on c, unless a wake is pending already.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// takeExtract takes a node's extract in this process.
func (s *Server) takeExtract(ctx context.Context, node string) (extract.Result, error) {
	return s.extractor().Extract(ctx, node)
}

// extractFunc takes extracts in this process when it runs the Database
// Extract; otherwise (nil) the API asks for them.
func (s *Server) extractFunc() func(ctx context.Context, node string) (any, error) {
	if !s.Runs(Extract) {
		return nil
	}
	return func(ctx context.Context, node string) (any, error) { return s.takeExtract(ctx, node) }
}

func (s *Server) apiHandler() http.Handler {
	return api.New(s.st, api.Options{
		MaxBodyBytes:   s.cfg.MaxBodyBytes,
		Logger:         s.log,
		Extract:        s.extractFunc(),
		RequestExtract: s.st.RequestExtract,
		Files:          s.files,
		Docking:        s.docking,
		Status:         s.status,
		Logins:         loginguard.Config{MaxDelay: s.cfg.MaxLoginDelay},
		TrustedProxies: s.cfg.TrustedProxies,
		Version:        s.cfg.Version,
	})
}

// status collects the administrator's view.
func (s *Server) status(ctx context.Context) (fieldsync.Status, error) {
	return status.Collect(ctx, s.st, s.docking)
}

// ShutdownTimeout is how long Serve waits for requests in flight when its
// context ends, before it closes their connections.
const ShutdownTimeout = 10 * time.Second

// Serve runs the configured components until ctx ends (the API on ln,
// which may be nil when the API is not among them), then shuts them down
// gracefully. It first claims the data folder (Claim): a folder whose
// router partitions another process runs is refused.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.Claim(ctx); err != nil {
		return err
	}
	err := s.serve(ctx, ln)
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // a component noticed the end while in the middle of its work
	}
	return err
}

func (s *Server) serve(ctx context.Context, ln net.Listener) error {
	g, ctx := errgroup.WithContext(ctx)
	if err := s.runMetrics(ctx, g); err != nil {
		return err
	}
	s.obs.running.Store(true)
	defer s.obs.running.Store(false)
	g.Go(func() error { return s.followSchema(ctx) })
	if s.Runs(Processor) {
		g.Go(func() error { return s.runProcessor(ctx) })
	}
	if s.Runs(Router) {
		s.runRouters(ctx, g)
	}
	if s.Runs(Extract) {
		g.Go(func() error { return s.extractor().Run(ctx, s.extract) })
	}
	if s.Runs(API) {
		g.Go(func() error {
			return s.every(ctx, func() error { _, err := s.GCFiles(ctx, s.fileGrace()); return err })
		})
	}
	if s.Runs(Sync) {
		g.Go(func() error { return s.every(ctx, func() error { _, err := s.PruneSessions(ctx); return err }) })
		g.Go(func() error { return s.expirePartials(ctx) })
	}
	if s.Runs(Merger) {
		onRefusal, _ := merger.ParseOnRefusal(s.cfg.OnRefusal) // checked by Open
		m := merger.New(s.st, s.docking, s.log).WithFiles(s.files).WithOnRefusal(onRefusal).WithLimits(merger.Limits{
			MaxChanges: s.cfg.MaxUploadChanges, MaxBytes: s.cfg.MaxUploadInflated, MaxInserts: s.cfg.MaxUploadInserts,
			MaxRecords: s.cfg.MaxUploadRecords, Batch: s.cfg.MergeBatch}).WithRecorder(s.Metrics().Merger())
		g.Go(func() error { return m.Run(ctx, s.merge) })
	}
	if (s.Runs(API) || s.Runs(Sync)) && ln != nil {
		s.runHTTP(ctx, g, ln)
	}
	return g.Wait()
}

// runProcessor runs the Transaction Processor once this process holds
// the lock: exactly one runs against a database. A failure to take the
// lock is logged and tried again.
func (s *Server) runProcessor(ctx context.Context) error {
	p := txnproc.New(s.st, txnproc.Config{Docking: s.docking, Logger: s.log, Poll: s.cfg.Poll, Written: func(n string) { s.Metrics().Written(n); signal(s.routed) }, Recent: s.recent})
	log := s.log.With("component", "Transaction Processor")
	log.Info("waiting for the Transaction Processor lock")
	var release func()
	for pause := txnproc.RetryMin; ; pause = min(2*pause, txnproc.RetryMax) {
		var err error
		if release, err = s.st.LockProcessor(ctx); err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		log.Error("take the Transaction Processor lock, trying again", "err", err, "retry_in", pause)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
	}
	defer release()
	log.Info("holding the Transaction Processor lock")
	return p.Run(ctx, s.st.Changed)
}

// runRouters starts this process's router partitions, and fans the
// processor's signal of a new file out to each.
func (s *Server) runRouters(ctx context.Context, g *errgroup.Group) {
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
		r := router.New(s.st, router.Config{Docking: s.docking, Partition: p, Partitions: s.cfg.RouterPartitions, Logger: s.log,
			Poll: s.cfg.Poll, Routed: s.routedHere(), RoutedTxns: s.Metrics().RoutedTxns, Recent: s.recent})
		wake := wakes[i]
		g.Go(func() error { return r.Run(ctx, wake) })
	}
	g.Go(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-s.routed:
				for _, w := range wakes {
					signal(w)
				}
			}
		}
	})
}

// runHTTP serves the API and the Synchronization Manager on ln until ctx
// ends, then shuts the HTTP server down, waiting ShutdownTimeout at most
// for the requests in flight.
func (s *Server) runHTTP(ctx context.Context, g *errgroup.Group, ln net.Listener) {
	hs := &http.Server{Handler: s.handler(ctx), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 5 * time.Minute,
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
		if s.syncMgr != nil {
			defer s.syncMgr.CloseNews() // the news requests net/http handed over
		}
		if err := hs.Shutdown(sctx); err != nil {
			s.log.Warn("requests still running at shutdown were cut off", "err", err)
			return hs.Close()
		}
		return nil
	})
}
