package client

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/durable"
	"github.com/fieldsync/fieldsync/syncproto"
)

// errSyncInstead: news carried files this folder cannot take outside a
// sync (one runs, files wait in the inbox, the files are not the next
// ones, a row names an attachment file to fetch): a sync gets them.
var errSyncInstead = errors.New("a sync takes this news")

// applyNews applies the outbox files news carried, as a sync would have
// downloaded and applied them, without a session: each is verified, put in
// the inbox (not fsynced: the server keeps it until the next news request
// says it is applied) and applied in its own local transaction. The next
// news request acknowledges them (syncproto.ParamApplied).
func (c *Client) applyNews(ctx context.Context, files []syncproto.NewsedFile) error {
	release, err := durable.TryLock(c.path("sync.lock"))
	if err != nil {
		return errSyncInstead // a sync runs: it gets them
	}
	defer release()
	local, err := c.st.State(ctx)
	if err != nil {
		return err
	}
	waiting, err := docking.Numbers(c.path("inbox"))
	if err != nil {
		return err
	}
	if len(waiting) > 0 || local.InboxDamaged != nil || files[0].Number != local.InboxApplied+1 {
		return errSyncInstead
	}
	for i, f := range files {
		if f.Number != files[0].Number+int64(i) {
			return errSyncInstead
		}
		final := c.path("inbox", docking.FileName(f.Number))
		part := final + ".part"
		if err := os.WriteFile(part, f.Data, 0o600); err != nil {
			return err
		}
		if _, _, err := dx.ReadFileAs(part, fmt.Sprintf("outbox file %d (from news)", f.Number), dx.Limits{}); err != nil {
			os.Remove(part)
			return errSyncInstead // damaged on its way: a sync downloads it again
		}
		if err := os.Rename(part, final); err != nil {
			return err
		}
	}
	if _, err := c.applyInbox(ctx, nil, nil, nil); err != nil {
		return err
	}
	want, err := c.wantedFiles(ctx, nil)
	if err != nil {
		return err
	}
	for sha := range want {
		if _, err := os.Stat(c.path("files", sha)); err != nil {
			return errSyncInstead // an attachment file to fetch
		}
	}
	return nil
}
