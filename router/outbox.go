package router

import (
	"fmt"
	"os"
	"sort"
	"sync"

	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/durable"
)

// commitWorkers is how many outbox files are made durable at once: their
// fsyncs overlap (the disk takes them in few flushes), while the encoding
// of the next files goes on.
const commitWorkers = 16

// flush writes every held delivery to its node's outbox, one new numbered
// file per node, and notes the nodes' next numbers in touched. The files
// are encoded one after the other and committed (fsync, rename, fsync of
// the folder) commitWorkers at a time; every one is durable before flush
// returns, so before the router saves its state.
func (r *Router) flush() error {
	var names []string
	for name, n := range r.nodes {
		if len(n.out) > 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	c := startCommits(commitWorkers)
	for _, name := range names {
		if c.failed() {
			break
		}
		n := r.nodes[name]
		dir := r.cfg.Docking.Outbox(name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			c.fail(fmt.Errorf("transaction router: outbox of %s: %w", name, err))
			break
		}
		hdr := dx.Header{Kind: dx.KindOutbox, Node: name, Number: uint64(n.OutboxNext)}
		f, err := r.w.WriteTemp(dir, docking.FileName(n.OutboxNext), hdr, n.out)
		if err != nil {
			c.fail(fmt.Errorf("transaction router: outbox of %s: %w", name, err))
			break
		}
		c.add(f)
	}
	if err := c.wait(); err != nil {
		return err
	}
	for _, name := range names {
		n := r.nodes[name]
		n.OutboxNext++
		r.touched[name] = n.OutboxNext
		clear(n.out) // drop the references to the transactions
		n.out = n.out[:0]
	}
	r.pending = 0
	return nil
}

// commits makes files durable on a few goroutines. After the first
// failure the files still to come are removed instead.
type commits struct {
	files chan *durable.AtomicFile
	wg    sync.WaitGroup
	mu    sync.Mutex
	err   error
}

func startCommits(workers int) *commits {
	c := &commits{files: make(chan *durable.AtomicFile, workers)}
	for range workers {
		c.wg.Go(func() {
			for f := range c.files {
				if c.failed() {
					f.Abort()
					continue
				}
				if err := f.Commit(); err != nil {
					c.fail(fmt.Errorf("transaction router: outbox file %s: %w", f.Path(), err))
				}
			}
		})
	}
	return c
}

// add hands a complete temporary file to the workers.
func (c *commits) add(f *durable.AtomicFile) { c.files <- f }

func (c *commits) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

func (c *commits) failed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

// wait returns once every file handed over is committed or removed, with
// the first failure.
func (c *commits) wait() error {
	close(c.files)
	c.wg.Wait()
	return c.err
}
