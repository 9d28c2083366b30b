package metrics_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/metrics"
)

// TestLogErrorsByComponent: records at error level are counted by the
// component of the logger or of the record (a made-up one as "other");
// lower levels are not; every record still reaches the log.
func TestLogErrorsByComponent(t *testing.T) {
	m := metrics.New(metrics.Options{})
	var out bytes.Buffer
	log := m.LogErrors(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn})))
	log.With("component", "Transaction Router").Error("routing failed", "err", "disk full")
	log.With("component", "Transaction Router").Warn("a warning is no error")
	log.Error("extract failed", "component", "Database Extract")
	log.Error("no component")
	log.Error("made up", "component", strings.Repeat("x", 300))
	log.With("component", "Transaction Merger").WithGroup("detail").Error("merge failed", "component", "ignored in a group")
	log.With("component", "Transaction Merger").Info("below the log's level")
	want := map[string]float64{"router": 1, "extract": 1, "server": 1, "other": 1, "merger": 1, "sync": 0}
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "fieldsync_logged_errors_total" {
			continue
		}
		for _, mm := range f.GetMetric() {
			got[mm.GetLabel()[0].GetValue()] = mm.GetCounter().GetValue()
		}
	}
	for c, n := range want {
		if got[c] != n {
			t.Errorf("logged errors of %s: %v, want %v", c, got[c], n)
		}
	}
	if len(got) != 11 {
		t.Errorf("%d series, want one per known component and other: %v", len(got), got)
	}
	if lines := strings.Count(out.String(), "\n"); lines != 6 {
		t.Errorf("%d lines logged, want 6:\n%s", lines, out.String())
	}
}
