package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync"
)

// WatchOptions tunes Watch.
type WatchOptions struct {
	// Every is the longest time between two synchronizations (default 1 min).
	Every time.Duration
	// Report, when not nil, is told the outcome of every synchronization.
	Report func(Summary, error)
}

// Watch keeps the node in step while ctx lasts: it synchronizes at once,
// then again soon after a local change, as soon as the server says the
// node's outbox has news, and at least every opts.Every. When the server
// cannot be reached, is busy, or another sync of the folder runs, it backs
// off (1 s doubling up to 1 min).
func (c *Client) Watch(ctx context.Context, opts WatchOptions) error {
	if err := c.writable("sync"); err != nil {
		return err
	}
	if opts.Every <= 0 {
		opts.Every = time.Minute
	}
	ctx, stop := context.WithCancel(ctx)
	news := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.watchNews(ctx, news) }()
	defer func() { stop(); wg.Wait() }() // the news watcher ends with Watch
	backoff := time.Duration(0)
	for {
		sum, err := c.Sync(ctx, SyncOptions{Apply: true})
		if ctx.Err() != nil {
			return nil
		}
		if opts.Report != nil {
			opts.Report(sum, err)
		}
		wait := opts.Every
		if err != nil {
			backoff = min(max(2*backoff, time.Second), time.Minute)
			wait = backoff
		} else {
			backoff = 0
		}
		if !c.waitForWork(ctx, wait, news, err != nil) {
			return nil
		}
	}
}

// waitForWork waits up to d for a reason to sync again: a local change
// (seen in the local log), news from the server, or the time. While backing
// off after an error it waits the whole time. It reports false when ctx ended.
func (c *Client) waitForWork(ctx context.Context, d time.Duration, news <-chan struct{}, backingOff bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return true
		case <-news:
			if !backingOff {
				return true
			}
		case <-tick.C:
			if backingOff {
				continue
			}
			if ls, err := c.st.LogState(ctx); err == nil && ls.Pending > 0 {
				return true // a local change waits to go up
			}
		}
	}
}

// watchNews long-polls the server for news in the node's outbox. News
// that carries its files is applied at once, with no session (applyNews);
// other news is signalled, for a sync. It asks about files beyond both the
// last one applied and the last one announced, so one piece of news is
// told once, and says which it has applied, so the server deletes them.
func (c *Client) watchNews(ctx context.Context, news chan<- struct{}) {
	rc := c.remote()
	var announced int64
	for ctx.Err() == nil {
		if c.restoreWaits(ctx, rc) { // restored.go
			select {
			case <-ctx.Done():
			case <-time.After(restoreRetry):
			}
			select {
			case news <- struct{}{}:
			default:
			}
			continue
		}
		local, _ := c.st.State(ctx)
		after := max(local.InboxApplied, announced)
		body, err := rc.NewsApplied(ctx, after, local.InboxApplied)
		if err != nil {
			if errors.Is(err, fieldsync.ErrNotFound) {
				return // a server without news: the periodic sync remains
			}
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
			continue
		}
		if body.News && len(body.Files) > 0 && body.OutboxLast > announced {
			err := c.applyNews(ctx, body.Files) // newsapply.go
			if err == nil {
				continue // applied: nothing left for a sync
			}
			if !errors.Is(err, errSyncInstead) {
				c.log.Warn("apply the files news carried", "err", err)
			}
		}
		if body.News {
			announced = max(announced, body.OutboxLast)
			select {
			case news <- struct{}{}:
			default:
			}
			if body.OutboxLast == 0 { // a restored server: the sync catches up, news waits meanwhile
				select {
				case <-ctx.Done():
				case <-time.After(restoreRetry):
				}
			}
		}
	}
}
