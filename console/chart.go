package console

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync"
)

// The pipeline chart's sampler reads the Status function every
// sampleEvery, keeps the last sampleRing samples (an hour), and stops on
// its own when no one looked at the pipeline page for sampleIdle.
const (
	sampleEvery = 10 * time.Second
	sampleRing  = 360
	sampleIdle  = time.Hour
)

// sample is one reading of the pipeline: the Transaction Log's last
// sequence number, the position every router partition has routed up to,
// and the log's backlog.
type sample struct {
	At      time.Time
	Logged  int64
	Routed  int64
	Backlog int64
}

// sampler keeps samples of the pipeline in a bounded ring, read by a
// goroutine that starts when the chart is first looked at.
type sampler struct {
	status func(ctx context.Context) (fieldsync.Status, error)
	ctx    context.Context
	every  time.Duration
	idle   time.Duration
	now    func() time.Time

	mu       sync.Mutex
	ring     []sample // oldest first, at most sampleRing
	running  bool
	lastLook time.Time
	stopped  chan struct{} // closed when the running goroutine ends
}

// newSampler returns a sampler of status that stops when ctx ends.
func newSampler(ctx context.Context, status func(ctx context.Context) (fieldsync.Status, error)) *sampler {
	if ctx == nil {
		ctx = context.Background()
	}
	return &sampler{status: status, ctx: ctx, every: sampleEvery, idle: sampleIdle, now: time.Now}
}

// look notes that someone looks at the chart, starts the sampler unless
// it runs, and returns the samples of the last hour.
func (s *sampler) look() []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastLook = s.now()
	if !s.running && s.ctx.Err() == nil {
		s.running, s.stopped = true, make(chan struct{})
		go s.run(s.stopped)
	}
	from := s.now().Add(-time.Duration(sampleRing) * sampleEvery)
	var out []sample
	for _, x := range s.ring {
		if x.At.After(from) {
			out = append(out, x)
		}
	}
	return out
}

// run samples until the context ends or no one looked for s.idle.
func (s *sampler) run(stopped chan struct{}) {
	defer close(stopped)
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		s.take()
		select {
		case <-s.ctx.Done():
			s.stop()
			return
		case <-t.C:
		}
		s.mu.Lock()
		idle := s.now().Sub(s.lastLook) > s.idle
		if idle {
			s.running = false
		}
		s.mu.Unlock()
		if idle {
			return
		}
	}
}

func (s *sampler) stop() {
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
}

// take reads the status once and adds its sample to the ring; a failed
// reading adds none.
func (s *sampler) take() {
	ctx, cancel := context.WithTimeout(s.ctx, s.every)
	defer cancel()
	st, err := s.status(ctx)
	if err != nil {
		return
	}
	x := sample{At: s.now(), Logged: st.Log.LastSeq, Backlog: st.Log.Pending, Routed: st.Processor.Position}
	for i, r := range st.Routers {
		if i == 0 || r.Position < x.Routed {
			x.Routed = r.Position
		}
	}
	s.mu.Lock()
	s.ring = append(s.ring, x)
	if len(s.ring) > sampleRing {
		s.ring = append(s.ring[:0], s.ring[len(s.ring)-sampleRing:]...)
	}
	s.mu.Unlock()
}

// minute is one minute of the chart: the transactions logged and routed
// in it and the largest log backlog seen.
type minute struct {
	At      time.Time
	Logged  int64
	Routed  int64
	Backlog int64
}

// minutes sums samples (oldest first) into the minutes they end in; the
// first sample only starts the count.
func minutes(samples []sample) []minute {
	var out []minute
	for i := 1; i < len(samples); i++ {
		prev, cur := samples[i-1], samples[i]
		at := cur.At.UTC().Truncate(time.Minute)
		if len(out) == 0 || !out[len(out)-1].At.Equal(at) {
			out = append(out, minute{At: at})
		}
		m := &out[len(out)-1]
		m.Logged += max(0, cur.Logged-prev.Logged)
		m.Routed += max(0, cur.Routed-prev.Routed)
		m.Backlog = max(m.Backlog, cur.Backlog)
	}
	return out
}

// chartData is what the pipeline page draws: two charts over the last
// hour and the same numbers as a table.
type chartData struct {
	Minutes    []minute
	Throughput svgChart
	Backlog    svgChart
}

// svgChart is one line chart's geometry, in the units of its viewBox.
type svgChart struct {
	ID     string
	Title  string
	Desc   string
	Max    int64
	Lines  []svgLine
	Width  int
	Height int
	Left   int
	Right  int
	LabelX int
	// LegendX is where the series' names start.
	LegendX int
	Bottom  int
}

// svgLine is one series: a bar a minute, its colour, its name and where
// the name shows. The series of one chart stand side by side in each
// minute (Slot of Slots).
type svgLine struct {
	Bars    []svgBar
	Color   string
	Name    string
	LegendY int
}

// svgBar is one minute's bar, in viewBox units.
type svgBar struct {
	X, Y, W, H string
	Value      int64
	At         string
}

// chartWidth and chartHeight are the viewBox of a chart; its plot starts
// chartLeft from the left and ends chartBottom from the bottom.
const (
	chartWidth  = 600
	chartHeight = 160
	chartLeft   = 50
	chartBottom = 20
)

// makeChart draws the minutes of the last hour before now.
func makeChart(samples []sample, now time.Time) chartData {
	ms := minutes(samples)
	d := chartData{Minutes: ms}
	logged, routed, backlog := series(ms, func(m minute) int64 { return m.Logged }),
		series(ms, func(m minute) int64 { return m.Routed }), series(ms, func(m minute) int64 { return m.Backlog })
	top := max(peak(logged), peak(routed), 1)
	d.Throughput = newChart("chart-throughput", "Transactions per minute, last hour",
		fmt.Sprintf("Transactions logged and routed each minute over the last hour; at most %d in a minute.", max(peak(logged), peak(routed))), top)
	d.Throughput.Lines = []svgLine{{Bars: bars(ms, logged, top, now, 0, 2), Color: "#0b5cad", Name: "logged", LegendY: 16},
		{Bars: bars(ms, routed, top, now, 1, 2), Color: "#2a7a3a", Name: "routed", LegendY: 32}}
	btop := max(peak(backlog), 1)
	d.Backlog = newChart("chart-backlog", "Log backlog, last hour",
		fmt.Sprintf("Largest Transaction Log backlog each minute over the last hour; at most %d entries.", peak(backlog)), btop)
	d.Backlog.Lines = []svgLine{{Bars: bars(ms, backlog, btop, now, 0, 1), Color: "#a04000", Name: "backlog", LegendY: 16}}
	return d
}

func newChart(id, title, desc string, top int64) svgChart {
	return svgChart{ID: id, Title: title, Desc: desc, Max: top, Width: chartWidth, Height: chartHeight,
		Left: chartLeft, Right: chartWidth - 10, LabelX: chartLeft - 4, LegendX: chartLeft + 6, Bottom: chartHeight - chartBottom}
}

func series(ms []minute, f func(minute) int64) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = f(m)
	}
	return out
}

func peak(v []int64) int64 {
	var p int64
	for _, x := range v {
		p = max(p, x)
	}
	return p
}

// bars places each minute's value on the chart: x by the minute's place
// within the hour before now (slot of slots within it), height scaled to
// top. A value above zero is at least one unit high, so it shows.
func bars(ms []minute, v []int64, top int64, now time.Time, slot, slots int) []svgBar {
	plotW, plotH := float64(chartWidth-chartLeft-10), float64(chartHeight-chartBottom-10)
	minuteW := plotW / 60
	barW := minuteW * 0.8 / float64(slots)
	from := now.Add(-time.Hour)
	var out []svgBar
	for i, m := range ms {
		frac := float64(m.At.Sub(from)) / float64(time.Hour)
		frac = min(max(frac, 0), 1-1.0/60)
		x := float64(chartLeft) + frac*plotW + minuteW*0.1 + float64(slot)*barW
		h := float64(v[i]) / float64(top) * plotH
		if v[i] > 0 {
			h = max(h, 1)
		}
		out = append(out, svgBar{X: fmt.Sprintf("%.1f", x), Y: fmt.Sprintf("%.1f", 10+plotH-h), W: fmt.Sprintf("%.1f", barW),
			H: fmt.Sprintf("%.1f", h), Value: v[i], At: m.At.Format("15:04")})
	}
	return out
}
