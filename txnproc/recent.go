package txnproc

import (
	"sync"

	"github.com/fieldsync/fieldsync"
)

// Recent holds the transactions of the files a processor wrote last, so
// that a router in the same process takes them from memory instead of
// reading and decoding the file again. A file's name says which sequence
// numbers it holds and log entries never change, so the transactions kept
// under a name are the ones the file holds. It keeps about maxBytes of
// transactions (approxSize), the oldest files going first; a router that
// fell further behind reads the files. Safe for concurrent use. The
// transactions it returns are shared: callers must not change them.
type Recent struct {
	mu    sync.Mutex
	max   int
	size  int
	count int          // transactions kept, at most RecentMaxTxns
	files []recentFile // oldest first
}

// RecentMaxTxns bounds the transactions a Recent keeps, whatever their
// size: a transaction held in memory (its rows as maps) takes several times
// the bytes approxSize counts, so a size alone would let a flood of small
// updates hold hundreds of megabytes. Two of the processor's fullest files.
const RecentMaxTxns = 2 * 10_000

type recentFile struct {
	name string
	txns []fieldsync.Txn
	size int
}

// NewRecent returns a Recent keeping about maxBytes of transactions
// (16 MiB when maxBytes <= 0: two files at the processor's default size).
func NewRecent(maxBytes int) *Recent {
	if maxBytes <= 0 {
		maxBytes = 16 << 20
	}
	return &Recent{max: maxBytes}
}

// put keeps a file's transactions, and drops the oldest files beyond the
// size.
func (c *Recent) put(name string, txns []fieldsync.Txn, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, f := range c.files {
		if f.name == name { // written again: the same transactions
			c.size -= f.size
			c.count -= len(f.txns)
			c.files = append(c.files[:i], c.files[i+1:]...)
			break
		}
	}
	c.files = append(c.files, recentFile{name, txns, size})
	c.size += size
	c.count += len(txns)
	for len(c.files) > 1 && (c.size > c.max || c.count > RecentMaxTxns) {
		c.size -= c.files[0].size
		c.count -= len(c.files[0].txns)
		c.files[0] = recentFile{}
		c.files = c.files[1:]
	}
}

// Txns returns the transactions of the file name, when they are still
// kept.
func (c *Recent) Txns(name string) ([]fieldsync.Txn, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.files {
		if f.name == name {
			return f.txns, true
		}
	}
	return nil, false
}
