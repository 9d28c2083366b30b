package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/localdb"
)

// ApplyInbox applies the downloaded inbox files in order, each in one local
// transaction that records it as applied, and removes them. It returns how
// many files it applied.
func (c *Client) ApplyInbox(ctx context.Context) (int, error) { return c.applyInbox(ctx, nil) }

func (c *Client) applyInbox(ctx context.Context, progress func(Progress)) (int, error) {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	nums, err := docking.Numbers(c.path("inbox"))
	if err != nil {
		return 0, err
	}
	if len(nums) == 0 {
		return 0, c.pruneMerged(ctx)
	}
	m := newMeter(progress, "apply", len(nums), 0)
	own, err := c.ownUploads(0, true)
	if err != nil {
		return 0, err
	}
	applied := 0
	for _, n := range nums {
		path := c.path("inbox", docking.FileName(n))
		_, txns, err := dx.ReadFile(path, dx.Limits{})
		if err != nil {
			aside := c.path("inbox", "damaged")
			os.MkdirAll(aside, 0o700)
			os.Rename(path, filepath.Join(aside, docking.FileName(n)))
			return applied, fmt.Errorf("inbox file %d set aside in %s: %w", n, aside, err)
		}
		ok, err := c.st.ApplyInbox(ctx, n, txns, own)
		if err != nil {
			return applied, err
		}
		if ok {
			applied++
		}
		if err := os.Remove(path); err != nil {
			return applied, err
		}
		m.done()
	}
	if err := c.pruneFiles(ctx); err != nil {
		return applied, err
	}
	return applied, c.pruneMerged(ctx)
}

// ownUploads reads the node's changes in its upload files: with merged, the
// merged uploads kept until everything routed before them is applied; and
// the uploads above after not yet known merged. The caller holds applyMu,
// so no sync moves the files meanwhile.
func (c *Client) ownUploads(after int64, merged bool) (*localdb.OwnChanges, error) {
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
		_, txns, err := dx.ReadFile(f.path, dx.Limits{})
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
			if err := os.Remove(m.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}
