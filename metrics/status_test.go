package metrics_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/metrics"
)

// TestOutboxBacklogBounded: thousands of nodes make one histogram and at
// most TopNodes node series, the nodes with the largest backlogs.
func TestOutboxBacklogBounded(t *testing.T) {
	var s fieldsync.Status
	for i := range 5000 {
		s.Nodes = append(s.Nodes, fieldsync.NodeStatus{Name: fmt.Sprintf("n%04d", i), Active: true, OutboxFiles: i % 100})
	}
	s.Nodes[1234].OutboxFiles = 5000
	m := metrics.New(metrics.Options{Status: func(context.Context) (fieldsync.Status, error) { return s, nil }})
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]float64
	var hist uint64
	for _, f := range families {
		switch f.GetName() {
		case "fieldsync_outbox_top_backlog_files":
			top = map[string]float64{}
			for _, mm := range f.GetMetric() {
				top[mm.GetLabel()[0].GetValue()] = mm.GetGauge().GetValue()
			}
		case "fieldsync_outbox_backlog_files":
			hist = f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	if len(top) != metrics.TopNodes || top["n1234"] != 5000 {
		t.Fatalf("top nodes: %d series, n1234 %v", len(top), top["n1234"])
	}
	for n, v := range top {
		if n != "n1234" && v != 99 {
			t.Errorf("node %s with %v files among the top ones", n, v)
		}
	}
	if hist != 5000 {
		t.Fatalf("histogram counts %d nodes, want 5000", hist)
	}
}
