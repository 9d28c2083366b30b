package console

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/internal/webui"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/sqlite"
	"github.com/fieldsync/fieldsync/status"
)

// realStatus opens a real SQLite server database and returns its Status
// function (status.Collect, as the server's) and a way to log a write.
func realStatus(t *testing.T) (func(ctx context.Context) (fieldsync.Status, error), func()) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "server.db"), schema.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dock := docking.Folder(filepath.Join(dir, "docking"))
	n := 0
	write := func() {
		n++
		id := "emp-" + strings.Repeat("x", n)
		if _, err := st.Apply(context.Background(), "", fieldsync.Insert("employee", map[string]any{"id": id, "name": id, "login": id})); err != nil {
			t.Fatal(err)
		}
	}
	return func(ctx context.Context) (fieldsync.Status, error) { return status.Collect(ctx, st, dock) }, write
}

// TestSamplerStopsWhenIdle: the sampler starts at the first look, keeps
// sampling while looked at, stops on its own when no one looks, and
// starts again at the next look.
func TestSamplerStopsWhenIdle(t *testing.T) {
	stat, write := realStatus(t)
	s := newSampler(context.Background(), stat)
	s.every, s.idle = time.Millisecond, 50*time.Millisecond
	s.look()
	// Each look also keeps it running. Write until the samples show the
	// log growing: on a loaded machine a write may span several samples.
	deadline := time.Now().Add(30 * time.Second)
	for got := s.look(); len(got) < 3 || got[len(got)-1].Logged == got[0].Logged; got = s.look() {
		if time.Now().After(deadline) {
			t.Fatalf("samples %+v do not show the log growing after 30 s of writes", got)
		}
		write()
		time.Sleep(time.Millisecond)
	}
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	<-stopped // no one looks now: it ends by itself
	s.mu.Lock()
	running := s.running
	s.mu.Unlock()
	if running {
		t.Fatal("the sampler says it runs after its goroutine ended")
	}
	got := s.look()
	if len(got) < 3 || got[len(got)-1].Logged < got[0].Logged+1 {
		t.Fatalf("samples %+v do not show the log growing", got)
	}
	s.mu.Lock()
	restarted, again := s.running, s.stopped
	s.mu.Unlock()
	if !restarted {
		t.Fatal("a look after the sampler stopped did not start it again")
	}
	<-again
}

// TestSamplerStopsWithContext: the sampler's goroutine ends with its
// context, and a later look does not start it.
func TestSamplerStopsWithContext(t *testing.T) {
	stat, _ := realStatus(t)
	ctx, cancel := context.WithCancel(context.Background())
	s := newSampler(ctx, stat)
	s.every = time.Millisecond
	s.look()
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	cancel()
	<-stopped
	s.look()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		t.Fatal("a look after the context ended started the sampler")
	}
}

// TestSamplerRing: the ring keeps the newest sampleRing samples.
func TestSamplerRing(t *testing.T) {
	stat, _ := realStatus(t)
	s := newSampler(context.Background(), stat)
	base := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	i := 0
	s.now = func() time.Time { i++; return base.Add(time.Duration(i) * time.Second) }
	for range sampleRing + 40 {
		s.take()
	}
	if len(s.ring) != sampleRing || !s.ring[0].At.Equal(base.Add(41*time.Second)) {
		t.Fatalf("ring holds %d samples from %v, want %d from the 41st", len(s.ring), s.ring[0].At, sampleRing)
	}
}

// TestChartMinutes: samples sum into minutes (logged, routed, the largest
// backlog), and the chart draws them with a title, a description and a
// table.
func TestChartMinutes(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(m, s int) time.Time {
		return now.Add(-time.Hour).Add(time.Duration(m)*time.Minute + time.Duration(s)*time.Second)
	}
	samples := []sample{
		{At: at(58, 0), Logged: 100, Routed: 90, Backlog: 10},
		{At: at(58, 10), Logged: 110, Routed: 95, Backlog: 15},
		{At: at(58, 50), Logged: 130, Routed: 130, Backlog: 0},
		{At: at(59, 0), Logged: 131, Routed: 130, Backlog: 1},
		{At: at(59, 10), Logged: 131, Routed: 131, Backlog: 0},
	}
	ms := minutes(samples)
	want := []minute{{At: at(58, 0), Logged: 30, Routed: 40, Backlog: 15}, {At: at(59, 0), Logged: 1, Routed: 1, Backlog: 1}}
	if len(ms) != len(want) || ms[0] != want[0] || ms[1] != want[1] {
		t.Fatalf("minutes %+v, want %+v", ms, want)
	}
	d := makeChart(samples, now)
	if n := len(d.Throughput.Lines[0].Bars); n != 2 || d.Throughput.Max != 40 || d.Backlog.Max != 15 || d.Throughput.Lines[1].Bars[0].H != "130.0" {
		t.Fatalf("chart %+v", d)
	}
	tmpl, err := webui.Template(files, "templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	html, err := webui.Fragment(tmpl, "chart", d)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`<svg class="chart" id="chart-throughput"`, `<title id="chart-throughput-title">Transactions per minute, last hour</title>`,
		`aria-labelledby="chart-backlog-title chart-backlog-desc"`, `at most 40 in a minute`, `<td>09:58</td><td>30</td><td>40</td><td>15</td>`, `data-series="routed"`, `<title>09:58: 40</title>`} {
		if !strings.Contains(string(html), w) {
			t.Errorf("the chart lacks %s:\n%s", w, html)
		}
	}
	if empty, _ := webui.Fragment(tmpl, "chart", makeChart(samples[:1], now)); !strings.Contains(string(empty), `id="chart-empty"`) {
		t.Errorf("a chart of one sample does not say it starts later:\n%s", empty)
	}
}
