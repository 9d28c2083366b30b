package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
)

// The fixed label values of the components' metrics: every series is
// made when the process starts, so a recorder only adds to it.
var (
	mergeResults   = []string{"merged", "refused", "sent_again"}
	conflictKinds  = []fieldsync.ConflictKind{fieldsync.ConflictUpdate, fieldsync.ConflictDeleteUpdated, fieldsync.ConflictUpdateDeleted, fieldsync.ConflictUnique, fieldsync.ConflictTeamMerged, fieldsync.ConflictRefused, fieldsync.ConflictRefusedRest}
	sessionResults = []string{"ok", "failed", "extract", "abandoned", "replaced", "other"}
	transferKinds  = []string{"upload", "outbox", "extract", "file"}
)

// Buckets of the components' histograms.
var (
	durationBuckets     = []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 900}
	sessionBuckets      = []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900}
	sessionBytesBuckets = prometheus.ExponentialBuckets(1024, 4, 11) // 1 KiB .. 1 GiB
	sessionFileBuckets  = []float64{0, 1, 2, 5, 10, 20, 50, 100, 500, 1000}
)

func counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
}

func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
}

func histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
}

// components are the metrics the flow's components feed through their
// recorders.
type components struct {
	txnprocTxns prometheus.Counter
	routedTxns  *prometheus.CounterVec
	merger      MergerRecorder
	extract     ExtractRecorder
	sync        SyncRecorder
	logged      loggedErrors
}

func newComponents(reg *prometheus.Registry) *components {
	c := &components{
		txnprocTxns: counter("txnproc_txns_total", "Transactions the Transaction Processor of this process wrote to txnproc files."),
		routedTxns:  counterVec("routed_txns_total", "Transactions routed (in the txnproc files routed), by router partition.", "partition"),
	}
	reg.MustRegister(c.txnprocTxns, c.routedTxns)
	c.merger = newMergerRecorder(reg)
	c.extract = newExtractRecorder(reg)
	c.sync = newSyncRecorder(reg)
	c.logged = newLoggedErrors(reg)
	return c
}

// txns records the transactions of a txnproc file the Transaction
// Processor wrote: its name says how many.
func (m *Metrics) txns(name string) {
	if first, last, ok := docking.ParseTxnprocName(name); ok {
		m.comp.txnprocTxns.Add(float64(last - first + 1))
	}
}

// RoutedTxns records the transactions of a routed txnproc file; its
// signature is router.Config.RoutedTxns'.
func (m *Metrics) RoutedTxns(partition, txns int) {
	if m != nil {
		m.comp.routedTxns.WithLabelValues(strconv.Itoa(partition)).Add(float64(txns))
	}
}

// MergerRecorder records the Transaction Merger's work (it is a
// merger.Recorder).
type MergerRecorder struct {
	uploads  map[string]prometheus.Counter
	duration map[string]prometheus.Observer
	changes  prometheus.Counter
	kinds    map[fieldsync.ConflictKind]prometheus.Counter
}

func newMergerRecorder(reg *prometheus.Registry) MergerRecorder {
	uploads := counterVec("merger_uploads_total", "Upload files the Transaction Merger of this process finished, by result: merged (some changes perhaps refused), refused (whole), sent_again (found damaged: its node sends it again).", "result")
	kinds := counterVec("merger_records_total", "Conflicts and refusals the Transaction Merger recorded, by kind.", "kind")
	dur := histogramVec("merger_upload_duration_seconds", "How long the Transaction Merger took over an upload file, by result.", durationBuckets, "result")
	r := MergerRecorder{uploads: map[string]prometheus.Counter{}, duration: map[string]prometheus.Observer{},
		kinds: map[fieldsync.ConflictKind]prometheus.Counter{}, changes: counter("merger_changes_total", "Uploaded changes the Transaction Merger merged.")}
	for _, res := range mergeResults {
		r.uploads[res], r.duration[res] = uploads.WithLabelValues(res), dur.WithLabelValues(res)
	}
	for _, k := range conflictKinds {
		r.kinds[k] = kinds.WithLabelValues(string(k))
	}
	reg.MustRegister(uploads, kinds, dur, r.changes)
	return r
}

// ChangesMerged records changes merged by a committed batch.
func (r MergerRecorder) ChangesMerged(n int64) { r.changes.Add(float64(n)) }

// Recorded records conflicts or refusals of a kind a batch committed.
func (r MergerRecorder) Recorded(kind fieldsync.ConflictKind, n int64) {
	if c := r.kinds[kind]; c != nil {
		c.Add(float64(n))
	}
}

// UploadDone records how an upload file ended and how long it took.
func (r MergerRecorder) UploadDone(result string, took time.Duration) {
	if c := r.uploads[result]; c != nil {
		c.Inc()
		r.duration[result].Observe(took.Seconds())
	}
}

// ExtractRecorder records the Database Extract's work (it is an
// extract.Recorder).
type ExtractRecorder struct {
	taken, failed, rows, bytes prometheus.Counter
	duration                   prometheus.Histogram
}

func newExtractRecorder(reg *prometheus.Registry) ExtractRecorder {
	results := counterVec("extracts_total", "Database Extracts this process took (taken) or failed to take (failed).", "result")
	r := ExtractRecorder{taken: results.WithLabelValues("taken"), failed: results.WithLabelValues("failed"),
		rows:  counter("extract_rows_total", "Rows written into the Database Extracts this process took."),
		bytes: counter("extract_bytes_total", "Bytes of the Database Extract files this process took."),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "extract_duration_seconds",
			Help: "How long a Database Extract took.", Buckets: durationBuckets})}
	reg.MustRegister(results, r.rows, r.bytes, r.duration)
	return r
}

// Taken records an extract taken.
func (r ExtractRecorder) Taken(rows, bytes int64, took time.Duration) {
	r.taken.Inc()
	r.rows.Add(float64(rows))
	r.bytes.Add(float64(bytes))
	r.duration.Observe(took.Seconds())
}

// Failed records an extract that failed.
func (r ExtractRecorder) Failed() { r.failed.Inc() }

// transferKey names a transfer series.
type transferKey struct {
	kind string
	up   bool
}

// direction is the label of a transfer's direction.
func direction(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// SyncRecorder records the Synchronization Manager's work (it is a
// syncmgr.Recorder).
type SyncRecorder struct {
	started, nothingNew prometheus.Counter
	ended               map[string]prometheus.Counter
	duration            prometheus.Histogram
	sessionBytes        [2]prometheus.Observer // down, up
	sessionFiles        [2]prometheus.Observer
	files, bytes        map[transferKey]prometheus.Counter
	waiters             prometheus.Gauge
}

func newSyncRecorder(reg *prometheus.Registry) SyncRecorder {
	ended := counterVec("sync_sessions_ended_total", "Sync sessions this process ended, by result (ok, failed, extract, abandoned, replaced, other).", "result")
	sBytes := histogramVec("sync_session_bytes", "Bytes a sync session moved, by direction (up: uploads and attachment files from the node; down: extract, outbox and attachment files to it).", sessionBytesBuckets, "direction")
	sFiles := histogramVec("sync_session_files", "Files a sync session moved, by direction.", sessionFileBuckets, "direction")
	files := counterVec("sync_transfers_total", "Files the Synchronization Manager moved, in sessions or (outbox files) carried on news answers, by kind (upload, outbox, extract, file: an attachment) and direction (up, down).", "kind", "direction")
	bytes := counterVec("sync_transfer_bytes_total", "Bytes of the files the Synchronization Manager moved, by kind and direction.", "kind", "direction")
	r := SyncRecorder{
		started:    counter("sync_sessions_started_total", "Sync sessions this process opened."),
		nothingNew: counter("sync_nothing_new_total", "Syncs answered without a session: the server had nothing new for the node."),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "sync_session_duration_seconds",
			Help: "Sync session durations, from its start to its end.", Buckets: sessionBuckets}),
		waiters: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "sync_news_waiters",
			Help: "News requests waiting now in this process."}),
		ended: map[string]prometheus.Counter{}, files: map[transferKey]prometheus.Counter{}, bytes: map[transferKey]prometheus.Counter{},
	}
	for _, res := range sessionResults {
		r.ended[res] = ended.WithLabelValues(res)
	}
	for i, up := range []bool{false, true} {
		r.sessionBytes[i], r.sessionFiles[i] = sBytes.WithLabelValues(direction(up)), sFiles.WithLabelValues(direction(up))
		for _, k := range transferKinds {
			key := transferKey{k, up}
			r.files[key], r.bytes[key] = files.WithLabelValues(k, direction(up)), bytes.WithLabelValues(k, direction(up))
		}
	}
	reg.MustRegister(r.started, r.nothingNew, ended, r.duration, sBytes, sFiles, files, bytes, r.waiters)
	return r
}

// SessionStarted records a session opened.
func (r SyncRecorder) SessionStarted() { r.started.Inc() }

// SessionEnded records a session's end, its duration and what it moved.
func (r SyncRecorder) SessionEnded(result string, took time.Duration, s fieldsync.Session) {
	c := r.ended[result]
	if c == nil {
		c = r.ended["other"]
	}
	c.Inc()
	r.duration.Observe(took.Seconds())
	r.sessionBytes[0].Observe(float64(s.DownBytes))
	r.sessionBytes[1].Observe(float64(s.UpBytes))
	r.sessionFiles[0].Observe(float64(s.DownFiles))
	r.sessionFiles[1].Observe(float64(s.UpFiles))
}

// NothingNew records a sync answered without a session.
func (r SyncRecorder) NothingNew() { r.nothingNew.Inc() }

// Transferred records a file moved.
func (r SyncRecorder) Transferred(kind string, up bool, bytes int64) {
	key := transferKey{kind, up}
	if c := r.files[key]; c != nil {
		c.Inc()
		r.bytes[key].Add(float64(max(bytes, 0)))
	}
}

// NewsWaiting records news requests that started or stopped waiting.
func (r SyncRecorder) NewsWaiting(delta int) { r.waiters.Add(float64(delta)) }

// Merger is the recorder to hand the Transaction Merger.
func (m *Metrics) Merger() MergerRecorder { return m.comp.merger }

// Extract is the recorder to hand the Database Extract.
func (m *Metrics) Extract() ExtractRecorder { return m.comp.extract }

// Sync is the recorder to hand the Synchronization Manager.
func (m *Metrics) Sync() SyncRecorder { return m.comp.sync }
