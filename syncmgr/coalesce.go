package syncmgr

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/syncproto"
)

// Coalescing: while a node is away, the router writes one small outbox
// file for it per step, and a node back from a busy hour would download,
// verify and apply hundreds of them. The Synchronization Manager, which
// knows which nodes are away, coalesces them meanwhile: once FanIn files
// of the same weight follow each other in a node's outbox, they
// become one file of FanIn times the weight, numbered as the last of them,
// whose header lists the files it holds the transactions of (dx parts):
// as in a counter, eight of weight 1 make one of weight 8, eight of those
// one of 64.
// Each transaction is so written again once per level, a few times at
// most, and an outbox holds at most FanIn-1 files a level.
//
// A node that applied some of those files already skips their parts. A
// listing of the node's outbox waits for a coalescing under way (as for a
// removal), and a node is coalesced only while it has no session, no
// request running and none for AwayAfter: its listing never names a file
// that is gone by the time it asks for it, in this process. (One of
// another process may: the node then syncs again, as for a file a new
// extract superseded.)

// Coalesce tunes the coalescing of outbox files.
type Coalesce struct {
	// FanIn is how many files of one weight are coalesced into one
	// (default 8; negative: no coalescing).
	FanIn int
	// AwayAfter is how long a node has had no request before it counts as
	// away (default 100 ms).
	AwayAfter time.Duration
	// MaxBytes: files that would coalesce into more bytes than this are
	// left as they are (default 256 KiB).
	MaxBytes int64
}

func (c Coalesce) withDefaults() Coalesce {
	if c.FanIn == 0 {
		c.FanIn = 8
	}
	if c.AwayAfter <= 0 {
		c.AwayAfter = 100 * time.Millisecond
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 256 << 10
	}
	return c
}

// coalescer keeps, per node, the files at the end of its outbox that were
// routed while this process ran, with their weights (how many routed
// files each holds).
type coalescer struct {
	mu      sync.Mutex
	tails   map[string][]tailFile
	running map[string]bool // a coalescing of the node is under way
}

type tailFile struct {
	number int64
	weight int
}

// routedFiles notes the nodes' new last outbox files (next-1 each) and
// starts a coalescing of those away with FanIn files of one weight at
// the end.
func (m *Manager) routedFiles(outboxNext map[string]int64) {
	c, fan := &m.coalescer, m.opts.Coalesce.FanIn
	if fan < 2 {
		return
	}
	var start []string
	busy := map[string]bool{} // a request runs: not away, nothing to start
	m.mu.Lock()
	for node := range outboxNext {
		if m.loads[node] != nil {
			busy[node] = true
		}
	}
	m.mu.Unlock()
	c.mu.Lock()
	if c.tails == nil {
		c.tails, c.running = map[string][]tailFile{}, map[string]bool{}
	}
	for node, next := range outboxNext {
		t := c.tails[node]
		if len(t) > 0 && t[len(t)-1].number >= next-1 {
			continue
		}
		t = append(t, tailFile{number: next - 1, weight: 1})
		c.tails[node] = t
		if !busy[node] && !c.running[node] && carry(t, fan) >= 0 {
			c.running[node] = true
			start = append(start, node)
		}
	}
	c.mu.Unlock()
	for _, node := range start {
		m.later(node, func() { m.coalesceNode(node) })
	}
}

// carry returns where the first fan files in a row of one weight begin
// in t, -1 when there are none. (Files routed while the node was still
// around wait at the start of the tail for their turn.)
func carry(t []tailFile, fan int) int {
	run := 0
	for i := range t {
		if i > 0 && t[i].weight == t[i-1].weight {
			run++
		} else {
			run = 1
		}
		if run == fan {
			return i - fan + 1
		}
	}
	return -1
}

// coalesceNode coalesces the node's files while they carry and it is away.
func (m *Manager) coalesceNode(node string) {
	c, fan := &m.coalescer, m.opts.Coalesce.FanIn
	for {
		c.mu.Lock()
		t := c.tails[node]
		at := carry(t, fan)
		if at < 0 || !m.away(node) {
			c.running[node] = false
			c.mu.Unlock()
			return
		}
		run := slices.Clone(t[at : at+fan])
		c.mu.Unlock()
		err := m.coalesceRun(node, run)
		c.mu.Lock()
		t = c.tails[node]
		i := slices.IndexFunc(t, func(f tailFile) bool { return f.number == run[0].number })
		switch {
		case err != nil || i < 0 || len(t) < i+fan:
			// Left as they are: the files routed next start anew.
			if err != nil && !errors.Is(err, errNotCoalesced) {
				m.log.Error("coalesce outbox files", "node", node, "err", err)
			}
			c.tails[node] = nil
		default:
			merged := tailFile{number: run[fan-1].number, weight: run[0].weight * fan}
			c.tails[node] = append(append(t[:i:i], merged), t[i+fan:]...)
		}
		c.mu.Unlock()
	}
}

// errNotCoalesced: the files are not as the tail says (acknowledged,
// superseded, set aside, too large together): they stay as they are.
var errNotCoalesced = errors.New("outbox files not coalesced")

// coalesceRun writes the files of run, which must be all the node's
// outbox files from the first to the last, as one file numbered as the
// last, durably, then removes the others.
func (m *Manager) coalesceRun(node string, run []tailFile) error {
	first, last := run[0].number, run[len(run)-1].number
	files, err := docking.List(m.docking.Outbox(node))
	if err != nil {
		return err
	}
	var size int64
	var in []int64
	for _, f := range files {
		if f.Number >= first && f.Number <= last {
			in, size = append(in, f.Number), size+f.Size
		}
	}
	if len(in) != len(run) || size > m.opts.Coalesce.MaxBytes {
		return errNotCoalesced
	}
	for i, f := range run {
		if in[i] != f.number {
			return errNotCoalesced
		}
	}
	var parts []dx.Part
	var txns []*fieldsync.Txn
	for _, num := range in {
		h, ts, err := dx.ReadFile(m.docking.OutboxFile(node, num), dx.Limits{})
		if err != nil {
			return fmt.Errorf("%w: %w", errNotCoalesced, err) // a damaged file is left for the node to report
		}
		if len(h.Parts) == 0 {
			h.Parts = []dx.Part{{Number: uint64(num), Txns: uint64(len(ts))}}
		}
		parts = append(parts, h.Parts...)
		for i := range ts {
			txns = append(txns, &ts[i])
		}
	}
	if len(parts) > dx.MaxParts {
		return errNotCoalesced
	}
	var w dx.Writer
	hdr := dx.Header{Kind: dx.KindOutbox, Node: node, Number: uint64(last), Parts: parts}
	af, err := w.WriteTemp(m.docking.Outbox(node), docking.FileName(last), hdr, txns)
	if err != nil {
		return err
	}
	if err := af.Commit(); err != nil {
		return err
	}
	// A crash before the others are removed leaves them beside the new
	// file: the node applies them, then skips their parts.
	return removeAll(m.outboxPaths(node, in[:len(in)-1]))
}

// numbers are the files' numbers.
func numbers(files []syncproto.OutboxFile) []int64 {
	out := make([]int64, len(files))
	for i, f := range files {
		out[i] = f.Number
	}
	return out
}

// outboxPaths are the paths of the node's outbox files nums.
func (m *Manager) outboxPaths(node string, nums []int64) []string {
	paths := make([]string, len(nums))
	for i, n := range nums {
		paths[i] = m.docking.OutboxFile(node, n)
	}
	return paths
}

// away reports whether the node has no session, no request running and
// none for AwayAfter in this process.
func (m *Manager) away(node string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.loads[node] != nil {
		return false
	}
	if seen, ok := m.lastSeen[node]; ok {
		if time.Since(seen) < m.opts.Coalesce.AwayAfter {
			return false
		}
		delete(m.lastSeen, node)
	}
	for _, s := range m.sessions {
		if s.Node == node {
			return false
		}
	}
	return true
}

// acked forgets the node's files up to upto: acknowledged, they are
// being removed.
func (m *Manager) acked(node string, upto int64) {
	c := &m.coalescer
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tails[node]
	i := 0
	for i < len(t) && t[i].number <= upto {
		i++
	}
	if i == len(t) && !c.running[node] {
		delete(c.tails, node)
		return
	}
	c.tails[node] = t[i:]
}
