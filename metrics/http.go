package metrics

import (
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// recorder notes what a handler answered.
type recorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	if code == http.StatusRequestEntityTooLarge {
		// What http.MaxBytesReader tells net/http's own writer, which it
		// cannot through this one: the rest of the body is not read, the
		// connection is closed after the answer.
		r.ResponseWriter.Header().Set("Connection", "close")
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (flushes,
// deadlines of long news requests).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// countingBody counts the request body bytes a handler reads.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

// HTTP wraps component's handler: each request is counted, timed, its
// bytes each way added up, and logged at info level (method, path without
// its query, status, bytes, duration, remote address, node when the
// request names one by basic authentication). A nil *Metrics only logs.
func (m *Metrics) HTTP(component string, log *slog.Logger, h http.Handler) http.Handler {
	log = log.With("component", component)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		var body *countingBody
		req := r
		if r.Body != nil && r.Body != http.NoBody {
			// The handler gets a copy of the request: net/http looks at the
			// original's body after the handler, to tell a body left unread
			// (a refused upload: the connection is closed) from one it may
			// read to the end.
			body = &countingBody{ReadCloser: r.Body}
			req = r.WithContext(r.Context())
			req.Body = body
		}
		h.ServeHTTP(rec, req)
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		took := time.Since(start)
		var in int64
		if body != nil {
			in = body.n
		}
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", rec.code, "bytes_in", in, "bytes_out", rec.bytes,
			"duration", took, "remote", r.RemoteAddr}
		if node, _, ok := r.BasicAuth(); ok && len(node) <= 128 {
			attrs = append(attrs, "node", node)
		}
		log.Info("http request", attrs...)
		if m == nil {
			return
		}
		route := req.Pattern // set by the component's own mux: a bounded set
		if route == "" {
			route = "other"
		}
		m.requests.WithLabelValues(component, route, strconv.Itoa(rec.code)).Inc()
		m.duration.WithLabelValues(component, route).Observe(took.Seconds())
		m.bytes.WithLabelValues(component, route, "in").Add(float64(in))
		m.bytes.WithLabelValues(component, route, "out").Add(float64(rec.bytes))
		if rec.code >= 500 {
			m.errors.WithLabelValues(component).Inc()
		}
	})
}
