package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fieldsync/fieldsync"
)

// Namespace prefixes every fieldsync metric name.
const Namespace = "fieldsync"

// TopNodes is how many nodes, by outbox backlog, get a series of their
// own: the rest are only counted in the backlog histogram, so thousands of
// nodes make a bounded number of series.
const TopNodes = 10

// Options configures Metrics.
type Options struct {
	// Status reads the administrator's view at scrape time (nil: no
	// backlog gauges).
	Status func(ctx context.Context) (fieldsync.Status, error)
	// Ready says whether the process can work: its database reachable,
	// its components running (nil: always ready).
	Ready func(ctx context.Context) error
	// Logger gets the access log, one info line per request.
	Logger *slog.Logger
}

// Metrics is one process's registry and the recorders its components
// are handed. A nil *Metrics records nothing.
type Metrics struct {
	reg       *prometheus.Registry
	opts      Options
	processed prometheus.Counter
	routed    *prometheus.CounterVec
	delivered *prometheus.CounterVec
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	bytes     *prometheus.CounterVec
	errors    *prometheus.CounterVec
	comp      *components // the flow components' metrics (components.go)
}

// New makes a process's metrics, with the Go runtime's and the process's
// own beside fieldsync's.
func New(opts Options) *Metrics {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{reg: prometheus.NewRegistry(), opts: opts}
	m.processed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "txnproc_files_written_total",
		Help: "txnproc files the Transaction Processor of this process wrote."})
	m.routed = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "routed_total",
		Help: "Routings (txnproc files routed and saved) by router partition."}, []string{"partition"})
	m.delivered = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "outbox_deliveries_total",
		Help: "Node outboxes that got new files, by router partition."}, []string{"partition"})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "http_requests_total",
		Help: "HTTP requests by component (api, sync, console), route (the endpoint's pattern) and status code."}, []string{"component", "route", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "http_request_duration_seconds",
		Help: "HTTP request durations by component and route.", Buckets: prometheus.DefBuckets}, []string{"component", "route"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "http_bytes_total",
		Help: "HTTP body bytes by component, route and direction (in, out)."}, []string{"component", "route", "direction"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "errors_total",
		Help: "Errors by component (HTTP 5xx answers, failed status reads)."}, []string{"component"})
	m.reg.MustRegister(m.processed, m.routed, m.delivered, m.requests, m.duration, m.bytes, m.errors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.comp = newComponents(m.reg)
	if opts.Status != nil {
		m.reg.MustRegister(&statusCollector{m: m})
	}
	return m
}

// Registry is the registry the metrics are kept in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Written records a txnproc file the Transaction Processor wrote, and its
// transactions; its signature is txnproc.Config.Written's.
func (m *Metrics) Written(name string) {
	if m != nil {
		m.processed.Inc()
		m.txns(name)
	}
}

// Routed records a routing; its signature is router.Config.Routed's.
func (m *Metrics) Routed(partition int, _ int64, outboxNext map[string]int64) {
	if m == nil {
		return
	}
	p := strconv.Itoa(partition)
	m.routed.WithLabelValues(p).Inc()
	m.delivered.WithLabelValues(p).Add(float64(len(outboxNext)))
}

// Mux serves /metrics, /health and /ready: the handler of the
// --metrics-listen address.
func (m *Metrics) Mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(m.opts.Logger.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /health", Health)
	mux.HandleFunc("GET /ready", m.Ready)
	return mux
}

// Health answers that the process is alive.
func Health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// Ready answers 200 when the process can work, else 503 with the reason.
func (m *Metrics) Ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if m.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := m.opts.Ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
	}
	_, _ = w.Write([]byte("ready\n"))
}
