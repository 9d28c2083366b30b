package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/localdb"
)

// ApplyInbox applies the downloaded inbox files in order, each in one local
// transaction that records it as applied, and removes them. It returns how
// many files it applied. A damaged file is set aside, to be downloaded
// again at the next sync (the files after it wait); a failure is recorded
// for Status.
func (c *Client) ApplyInbox(ctx context.Context) (int, error) {
	if err := c.writable("apply the inbox"); err != nil {
		return 0, err
	}
	n, err := c.applyInbox(ctx, nil, nil, nil)
	if err != nil {
		err = c.writeFailure("apply the inbox", err)
		c.st.RecordFailure(context.WithoutCancel(ctx), time.Now(), "apply failed: "+oneLine(err.Error()))
	}
	return n, err
}

// applyBatch is inbox files read and waiting to be applied together.
type applyBatch struct {
	c       *Client
	own     *localdb.OwnChanges
	m       *meter
	damaged **localdb.DamagedInbox
	files   []localdb.InboxFile
	paths   []string
	txns    int
}

// flush applies the files read so far in one local transaction and
// removes them from the inbox; it returns how many it applied.
func (b *applyBatch) flush(ctx context.Context) (int, error) {
	if len(b.files) == 0 {
		return 0, nil
	}
	k, err := b.c.st.ApplyInboxFiles(ctx, b.files, b.own)
	if err != nil {
		return 0, err
	}
	for i, f := range b.files {
		if d := *b.damaged; d != nil && f.Number == d.Number {
			if err := b.c.inboxRecovered(ctx, d); err != nil {
				return k, err
			}
			*b.damaged = nil
		}
		if b.paths[i] == "" {
			// held, not in the inbox
		} else if err := os.Remove(b.paths[i]); err != nil {
			return k, err
		}
		b.m.done()
	}
	b.files, b.paths, b.txns = b.files[:0], b.paths[:0], 0
	return k, nil
}

// Inbox files are applied in local transactions of up to applyBatchFiles
// files or applyBatchTxns transactions: one commit for many small files.
const applyBatchFiles, applyBatchTxns = 256, 20_000

// applyInbox applies the inbox files, and the files held (by number) that
// a session downloaded and verified without putting them in the inbox.
func (c *Client) applyInbox(ctx context.Context, progress func(Progress), sum *Summary, held map[int64]heldFile) (int, error) {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	nums, err := docking.Numbers(c.path("inbox"))
	if err != nil {
		return 0, err
	}
	for n := range held {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	local, err := c.st.State(ctx)
	if err != nil {
		return 0, err
	}
	damaged, err := c.damagedInbox(ctx, local)
	if err != nil {
		return 0, err
	}
	if len(nums) == 0 && damaged == nil {
		return 0, c.pruneMerged(ctx)
	}
	m := newMeter(progress, "apply", len(nums), 0)
	own, err := c.ownUploads(ctx, 0, true)
	if err != nil {
		return 0, err
	}
	applied := 0
	b := &applyBatch{c: c, own: own, m: m, damaged: &damaged}
	flush := func() error { k, err := b.flush(ctx); applied += k; return err }
	for _, n := range nums {
		if damaged != nil && n > damaged.Number {
			break // the files after a damaged one wait for it
		}
		path := c.path("inbox", docking.FileName(n))
		f, ok := held[n]
		if ok {
			path, err = "", nil // not in the inbox
		} else {
			f, err = readInboxFile(path)
		}
		if errors.Is(err, fieldsync.ErrDamagedFile) {
			if err := flush(); err != nil {
				return applied, err
			}
			return applied, c.setAsideInbox(ctx, n, path, err, local, sum)
		} else if err != nil {
			return applied, err
		}
		b.files = append(b.files, localdb.InboxFile{Number: n, Txns: f.txns, Parts: f.parts})
		b.paths = append(b.paths, path)
		if b.txns += len(f.txns); len(b.files) >= applyBatchFiles || b.txns >= applyBatchTxns {
			if err := flush(); err != nil {
				return applied, err
			}
		}
	}
	if err := flush(); err != nil {
		return applied, err
	}
	if damaged != nil {
		return applied, c.damageErr(damaged)
	}
	if err := c.pruneFiles(ctx); err != nil {
		return applied, err
	}
	return applied, c.pruneMerged(ctx)
}

// heldFile is a verified outbox file's transactions, and its parts when
// it was merged from several.
type heldFile struct {
	txns  []fieldsync.Txn
	parts []dx.Part
}

// readInboxFile reads and verifies an inbox file.
func readInboxFile(path string) (heldFile, error) {
	h, txns, err := dx.ReadFile(path, dx.Limits{})
	return heldFile{txns: txns, parts: h.Parts}, err
}

// applyInbox applies the inbox within the session, before the outbox is
// acknowledged: a damaged file is downloaded again at once and applied
// (twice at most). The session is kept alive meanwhile.
func (s *session) applyInbox(ctx context.Context) error {
	stop := s.keepAlive(ctx)
	defer stop()
	for attempt := 0; ; attempt++ {
		n, err := s.c.applyInbox(ctx, s.progress, s.sum, s.held)
		s.held, s.heldBytes = nil, 0 // applied, or fetched again
		s.sum.Applied += n
		var dmg *inboxDamage
		switch {
		case !errors.As(err, &dmg):
			return err
		case dmg.d.Lost && s.fail != nil:
			return nil // reported by the sync, after its other steps
		case dmg.d.Lost || attempt == 2:
			return err
		}
		if err := s.download(ctx); err != nil {
			return err
		}
		if err := s.files(ctx); err != nil {
			return err
		}
	}
}

// keepAlive keeps the session from being ended as idle while the inbox is
// applied, asking the server for the outbox now and then; stop ends it.
func (s *session) keepAlive(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(sessionKeepAlive)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				s.rc.Outbox(ctx, s.st.Session)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// sessionKeepAlive is how often a session applying the inbox tells the
// server it is still there (the server ends sessions idle for 2 minutes).
const sessionKeepAlive = 30 * time.Second

// ownUploads reads the node's changes in its upload files: with merged, the
// merged uploads kept until everything routed before them is applied; and
// the uploads above after not yet known merged. The caller holds applyMu,
// so no sync moves the files meanwhile.
func (c *Client) ownUploads(ctx context.Context, after int64, merged bool) (*localdb.OwnChanges, error) {
	type upload struct {
		number, before int64
		path           string
	}
	var files []upload
	if merged {
		ms, err := c.mergedUploads()
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			files = append(files, upload{m.number, m.firstSeq, m.path})
		}
	}
	ups, err := docking.Numbers(c.path("upload"))
	if err != nil {
		return nil, err
	}
	for _, u := range ups {
		if u > after {
			files = append(files, upload{u, 0, c.path("upload", docking.FileName(u))})
		}
	}
	slices.SortFunc(files, func(a, b upload) int { return cmp.Compare(a.number, b.number) })
	own := &localdb.OwnChanges{}
	for _, f := range files {
		txns, err := c.readUpload(ctx, f.number, f.path)
		if err != nil {
			return nil, err
		}
		own.Add(txns, f.before)
	}
	return own, nil
}

// mergedUpload is an upload the server merged, kept (in upload/merged)
// until every transaction routed before it has been applied.
type mergedUpload struct {
	number, firstSeq int64
	path             string
}

func (c *Client) mergedUploads() ([]mergedUpload, error) {
	ents, err := os.ReadDir(c.path("upload", "merged"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []mergedUpload
	for _, e := range ents {
		var m mergedUpload
		if _, err := fmt.Sscanf(e.Name(), "%d-%d.dx", &m.number, &m.firstSeq); err == nil {
			m.path = c.path("upload", "merged", e.Name())
			out = append(out, m)
		}
	}
	return out, nil
}

// pruneMerged removes the merged uploads nothing older can overwrite any
// more: every transaction routed before them was downloaded (routedSeq) and
// applied (the inbox is empty).
func (c *Client) pruneMerged(ctx context.Context) error {
	if ins, err := docking.Numbers(c.path("inbox")); err != nil || len(ins) > 0 {
		return err
	}
	state, err := c.st.State(ctx)
	if err != nil {
		return err
	}
	merged, err := c.mergedUploads()
	if err != nil {
		return err
	}
	for _, m := range merged {
		if m.firstSeq-1 <= state.RoutedSeq {
			if err := c.retire(ctx, m); err != nil { // restored.go
				return err
			}
		}
	}
	return nil
}
