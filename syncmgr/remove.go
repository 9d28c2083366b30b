package syncmgr

import (
	"errors"
	"os"
	"sync"

	"github.com/fieldsync/fieldsync/syncproto"
)

// removals are the acknowledged outbox files being removed after the
// acknowledgement was answered. An acknowledged file is one the node has
// applied: it skips it if it is listed again (every file at or below its
// last applied number), so it may linger. Removing a hundred small files
// takes milliseconds the node need not wait for. A node's removals run one
// after the other, and a listing of its outbox waits for them, so it never
// lists a file being removed.
type removals struct {
	mu   sync.Mutex
	wg   sync.WaitGroup
	node map[string]chan struct{} // closed when the node's latest removal ends
}

// acknowledged forgets the node's outbox files up to upto (files, as
// listed) in the coalescer and removes them after the answer: an ack, a
// session's end or a news request acknowledged them.
func (m *Manager) acknowledged(node string, upto int64, files []syncproto.OutboxFile) {
	m.acked(node, upto)
	m.removeLater(node, m.outboxPaths(node, numbers(files)))
}

// removeLater removes the node's acknowledged files after the answer,
// after the node's earlier removals.
func (m *Manager) removeLater(node string, paths []string) {
	if len(paths) == 0 {
		return
	}
	m.later(node, func() {
		if err := removeAll(paths); err != nil {
			m.log.Error("remove acknowledged outbox files (they are listed again and skipped by the node)", "node", node, "err", err)
		}
	})
}

// later runs job in the background after the node's earlier background
// work on its outbox (removals, coalescing); a listing of the node's
// outbox waits for them (removed).
func (m *Manager) later(node string, job func()) {
	rm := &m.removals
	rm.mu.Lock()
	if rm.node == nil {
		rm.node = map[string]chan struct{}{}
	}
	prev, done := rm.node[node], make(chan struct{})
	rm.node[node] = done
	rm.wg.Add(1)
	rm.mu.Unlock()
	go func() {
		defer rm.wg.Done()
		if prev != nil {
			<-prev
		}
		job()
		rm.mu.Lock()
		if rm.node[node] == done {
			delete(rm.node, node)
		}
		rm.mu.Unlock()
		close(done)
	}()
}

// removed waits until the node's acknowledged files are removed.
func (m *Manager) removed(node string) {
	m.removals.mu.Lock()
	done := m.removals.node[node]
	m.removals.mu.Unlock()
	if done != nil {
		<-done
	}
}

// removeWorkers is how many files removeAll removes at a time: an unlink
// waits on the disk, and several overlap.
const removeWorkers = 8

// removeAll removes the files (those gone already are no error), a few at
// a time, and returns the first error.
func removeAll(paths []string) error {
	if len(paths) < 2*removeWorkers {
		for _, p := range paths {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	}
	errs := make([]error, removeWorkers)
	var wg sync.WaitGroup
	for w := range removeWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(paths); i += removeWorkers {
				if err := os.Remove(paths[i]); err != nil && !errors.Is(err, os.ErrNotExist) && errs[w] == nil {
					errs[w] = err
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
