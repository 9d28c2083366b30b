package metrics

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// loggedComponents maps the component attribute of a log record to the
// label of fieldsync_logged_errors_total; a record without one is the
// server's own, one with another is "other".
var loggedComponents = map[string]string{
	"Transaction Processor":   "processor",
	"Transaction Router":      "router",
	"Transaction Merger":      "merger",
	"Database Extract":        "extract",
	"Synchronization Manager": "sync",
	"api":                     "api",
	"console":                 "console",
	"admin":                   "admin",
	"metrics":                 "metrics",
	"":                        "server",
}

// loggedErrors counts error records by component.
type loggedErrors struct {
	byComponent map[string]prometheus.Counter // by the component attribute's value
	other       prometheus.Counter
}

func newLoggedErrors(reg *prometheus.Registry) loggedErrors {
	vec := counterVec("logged_errors_total", "Errors the components of this process logged (and, most, retry), by component: processor, router, merger, extract, sync, api, console, admin, metrics, server, other.", "component")
	l := loggedErrors{byComponent: map[string]prometheus.Counter{}, other: vec.WithLabelValues("other")}
	for attr, label := range loggedComponents {
		l.byComponent[attr] = vec.WithLabelValues(label)
	}
	reg.MustRegister(vec)
	return l
}

func (l loggedErrors) inc(component string) {
	if c := l.byComponent[component]; c != nil {
		c.Inc()
	} else {
		l.other.Inc()
	}
}

// LogErrors returns a logger that logs as log does and counts each record
// at error level in fieldsync_logged_errors_total, by the component
// attribute of the record or of the logger it was logged with.
func (m *Metrics) LogErrors(log *slog.Logger) *slog.Logger {
	if m == nil {
		return log
	}
	return slog.New(&errorCounter{next: log.Handler(), counts: m.comp.logged})
}

// errorCounter is the slog.Handler of LogErrors.
type errorCounter struct {
	next      slog.Handler
	counts    loggedErrors
	component string // from the logger's attributes
	grouped   bool   // attributes added now are in a group
}

func (h *errorCounter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || h.next.Enabled(ctx, l)
}

func (h *errorCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		component := h.component
		if !h.grouped {
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "component" {
					component = a.Value.String()
					return false
				}
				return true
			})
		}
		h.counts.inc(component)
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *errorCounter) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(attrs)
	if !h.grouped {
		for _, a := range attrs {
			if a.Key == "component" {
				c.component = a.Value.String()
			}
		}
	}
	return &c
}

func (h *errorCounter) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	c.grouped = c.grouped || name != ""
	return &c
}
