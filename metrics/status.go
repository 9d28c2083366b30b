package metrics

import (
	"context"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// outboxBuckets are the upper bounds, in files, of the outbox backlog
// histogram.
var outboxBuckets = []float64{0, 1, 10, 100, 1000, 10000}

var (
	descLogBacklog = prometheus.NewDesc(Namespace+"_log_backlog", "Transactions in the Transaction Log the Transaction Processor has not yet written out.", nil, nil)
	descLastSeq    = prometheus.NewDesc(Namespace+"_log_last_seq", "The last transaction number of the Transaction Log.", nil, nil)
	descPending    = prometheus.NewDesc(Namespace+"_txnproc_pending_files", "txnproc files not yet routed by every partition.", nil, nil)
	descRouter     = prometheus.NewDesc(Namespace+"_router_backlog", "Transactions a router partition has still to route.", []string{"partition"}, nil)
	descNodes      = prometheus.NewDesc(Namespace+"_nodes", "Nodes by state (active, inactive).", []string{"state"}, nil)
	descOutbox     = prometheus.NewDesc(Namespace+"_outbox_backlog_files", "Nodes by the files waiting in their outbox.", nil, nil)
	descOutboxB    = prometheus.NewDesc(Namespace+"_outbox_backlog_bytes", "Bytes waiting in every node's outbox.", nil, nil)
	descTop        = prometheus.NewDesc(Namespace+"_outbox_top_backlog_files", "Files waiting in the outboxes of the TopNodes nodes with the most.", []string{"node"}, nil)
)

// statusCollector reads the administrator's view at scrape time.
type statusCollector struct{ m *Metrics }

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLogBacklog, descLastSeq, descPending, descRouter, descNodes, descOutbox, descOutboxB, descTop} {
		ch <- d
	}
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.m.opts.Status(ctx)
	if err != nil {
		c.m.errors.WithLabelValues("status").Inc()
		c.m.opts.Logger.Warn("read the status for metrics", "component", "metrics", "err", err)
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descLogBacklog, float64(s.Log.Pending))
	gauge(descLastSeq, float64(s.Log.LastSeq))
	gauge(descPending, float64(s.Processor.PendingFiles))
	for _, r := range s.Routers {
		gauge(descRouter, float64(r.Backlog), strconv.Itoa(r.Partition))
	}
	var active, inactive, bytes float64
	counts := make(map[float64]uint64, len(outboxBuckets))
	var sum float64
	nodes := s.Nodes
	for _, n := range nodes {
		if n.Active {
			active++
		} else {
			inactive++
		}
		bytes += float64(n.OutboxBytes)
		sum += float64(n.OutboxFiles)
		for _, b := range outboxBuckets {
			if float64(n.OutboxFiles) <= b {
				counts[b]++
			}
		}
	}
	gauge(descNodes, active, "active")
	gauge(descNodes, inactive, "inactive")
	gauge(descOutboxB, bytes)
	ch <- prometheus.MustNewConstHistogram(descOutbox, uint64(len(nodes)), sum, counts)
	sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].OutboxFiles > nodes[j].OutboxFiles })
	for _, n := range nodes[:min(TopNodes, len(nodes))] {
		if n.OutboxFiles > 0 {
			gauge(descTop, float64(n.OutboxFiles), n.Name)
		}
	}
}
