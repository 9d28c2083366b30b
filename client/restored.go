package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/syncproto"
)

// A server restored from a backup has a new incarnation (State.Incarnation)
// and has lost what followed the backup: the uploads of the node it merged
// since, and its numbering of outbox files, transactions and conflicts,
// which it gives out again. A node that meets a new incarnation:
//
//   - sends again the uploads the server no longer has merged (numbered
//     above State.LastMerged), from upload/merged and upload/kept, where
//     merged uploads stay for a while (Config.KeepMerged, KeepMergedDays);
//     one no longer kept is sent empty, so that the later ones are merged,
//     and its loss is recorded;
//   - drops its inbox and its positions in the server's numbering, and
//     takes the node's new Database Extract (the administrator's "admin
//     restored" asked for it) as soon as it is built, keeping its own
//     changes the extract cannot hold; only then does it download again.
//
// upload/kept/N.dx holds merged uploads no longer needed otherwise.

// Defaults of how long merged uploads are kept for a restored server.
const (
	DefaultKeepMerged     = 100
	DefaultKeepMergedDays = 14
)

// serverRestored tells whether the session's server is in another
// incarnation than the local data: it then resets what the client held of
// the old one (once per new incarnation) and the session sends the lost
// uploads again and waits for the new extract.
func (s *session) serverRestored(ctx context.Context) (bool, error) {
	inc := s.st.Incarnation
	known, resetFor, err := s.c.st.ServerIncarnation(ctx)
	if err != nil || inc == "" || inc == known {
		return false, err
	}
	if known == "" { // a folder made before the server told its incarnation
		return false, s.c.st.SetServerIncarnation(ctx, inc)
	}
	if resetFor != inc {
		if err := s.c.resetForRestore(ctx, s.st, s.sum); err != nil {
			return true, fmt.Errorf("catch up with the server restored from a backup: %w", err)
		}
	}
	// The uploads sent again are numbered above what the start asked about.
	s.started.since = min(s.started.since, s.st.LastMerged)
	return true, nil
}

// resetForRestore puts back for sending the uploads the restored server
// lost, drops the inbox and forgets the client's positions in the old
// incarnation's numbering.
func (c *Client) resetForRestore(ctx context.Context, st syncproto.State, sum *Summary) error {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	inbox, err := docking.Numbers(c.path("inbox"))
	if err != nil {
		return err
	}
	for _, n := range inbox {
		if err := os.Remove(c.path("inbox", docking.FileName(n))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	again, lost, err := c.resendLost(ctx, st.LastMerged)
	if err != nil {
		return err
	}
	if err := c.st.ResetForRestore(ctx, st.Incarnation); err != nil {
		return err
	}
	what := "the server was restored from a backup: the local data is rebuilt from the node's new Database Extract"
	if again > 0 {
		what += fmt.Sprintf("; %d uploads it no longer has are sent again", again)
	}
	c.recordRecovery(ctx, sum, what)
	for _, l := range lost {
		c.recordRecovery(ctx, sum, l)
	}
	return nil
}

// resendLost moves the merged uploads numbered above lastMerged back into
// upload/ to be sent again, retires the others (the new extract holds
// them), and sends empty the ones no longer kept. It returns how many it
// put back, and the losses.
func (c *Client) resendLost(ctx context.Context, lastMerged int64) (int, []string, error) {
	merged, err := c.mergedUploads()
	if err != nil {
		return 0, nil, err
	}
	again := 0
	for _, m := range merged {
		if m.number > lastMerged {
			err = c.unretire(m.path, m.number)
			again++
		} else {
			err = c.retire(ctx, m)
		}
		if err != nil {
			return 0, nil, err
		}
	}
	kept, err := docking.Numbers(c.path("upload", "kept"))
	if err != nil {
		return 0, nil, err
	}
	for _, n := range kept {
		if n > lastMerged {
			if err := c.unretire(c.path("upload", "kept", docking.FileName(n)), n); err != nil {
				return 0, nil, err
			}
			again++
		}
	}
	lost, err := c.sendEmpty(ctx, lastMerged)
	return again, lost, err
}

// sendEmpty writes an empty upload for each number above lastMerged the
// folder no longer holds, so the server merges the later ones, and
// returns those losses.
func (c *Client) sendEmpty(ctx context.Context, lastMerged int64) ([]string, error) {
	local, err := c.st.State(ctx)
	if err != nil {
		return nil, err
	}
	var lost []string
	for n := lastMerged + 1; n < local.UploadNext; n++ {
		if exists(c.path("upload", docking.FileName(n))) {
			continue
		}
		hdr := dx.Header{Kind: dx.KindUpload, Node: c.cfg.Node, Number: uint64(n)}
		if err := dx.WriteFile(c.path("upload"), docking.FileName(n), hdr, nil, nil); err != nil {
			return nil, err
		}
		lost = append(lost, fmt.Sprintf("upload %d, merged before the server's backup was restored, is no longer kept: its changes are lost to the server", n))
	}
	return lost, nil
}

// unretire puts a merged upload back into upload/, to be sent again.
func (c *Client) unretire(path string, n int64) error {
	dst := c.path("upload", docking.FileName(n))
	if exists(dst) {
		return os.Remove(path)
	}
	return os.Rename(path, dst)
}

// restoredExtract takes the node's new Database Extract once the restored
// server has built it, and reports whether the session goes on (else it
// ends here, and a later sync takes it).
func (s *session) restoredExtract(ctx context.Context) (bool, error) {
	if s.st.ExtractPending || s.st.ExtractSeq < 0 {
		return false, nil
	}
	err := s.c.takeExtract(ctx, s.rc, s.st, s.progress)
	if errors.Is(err, errExtractNotReady) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("take the node's new Database Extract: %w", err)
	}
	s.sum.Reextracted = true
	return true, s.c.st.SetServerIncarnation(ctx, s.st.Incarnation)
}

// retire moves a merged upload nothing needs any more into upload/kept,
// where it stays for a restored server to have again, and drops the kept
// ones past the folder's retention.
func (c *Client) retire(ctx context.Context, m mergedUpload) error {
	if err := c.st.DropUpload(ctx, m.number); err != nil {
		return err
	}
	if err := os.MkdirAll(c.path("upload", "kept"), 0o700); err != nil {
		return err
	}
	dst := c.path("upload", "kept", docking.FileName(m.number))
	if err := os.Rename(m.path, dst); err != nil {
		return err
	}
	now := time.Now()
	if err := os.Chtimes(dst, now, now); err != nil {
		return err
	}
	return c.pruneKept(now)
}

// pruneKept removes the kept merged uploads that are neither among the
// newest Config.KeepMerged nor retired within Config.KeepMergedDays.
func (c *Client) pruneKept(now time.Time) error {
	nums, err := docking.Numbers(c.path("upload", "kept"))
	if err != nil {
		return err
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] > nums[j] })
	count, days := c.cfg.KeepMerged, c.cfg.KeepMergedDays
	if count == 0 {
		count = DefaultKeepMerged
	}
	if days == 0 {
		days = DefaultKeepMergedDays
	}
	for i, n := range nums {
		path := c.path("upload", "kept", docking.FileName(n))
		info, err := os.Stat(path)
		if err != nil {
			continue
		}
		if i < count || now.Sub(info.ModTime()) < time.Duration(days)*24*time.Hour {
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// otherIncarnation tells whether a server's answer comes from another
// incarnation than the one the local data is in step with.
func (c *Client) otherIncarnation(ctx context.Context, st syncproto.State) bool {
	known, _, err := c.st.ServerIncarnation(ctx)
	return err == nil && st.Incarnation != "" && known != "" && st.Incarnation != known
}

// restoreRetry is how often a watching folder that waits for its new
// extract after a restore syncs.
const restoreRetry = 2 * time.Second

// restoreWaits sets the news client's incarnation to the one the local
// data is in step with, and reports whether the folder waits for the new
// extract of a restored server (its syncs then take the place of news).
func (c *Client) restoreWaits(ctx context.Context, rc *syncproto.Client) bool {
	known, resetFor, err := c.st.ServerIncarnation(ctx)
	if err != nil {
		return false
	}
	rc.Incarnation = known
	return resetFor != ""
}
