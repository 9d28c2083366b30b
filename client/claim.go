package client

import (
	"context"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/syncproto"
)

// FreshExtractWait bounds how long a client init waits for the server to
// take the fresh extract of a node that had a folder before.
var FreshExtractWait = 10 * time.Minute

// claimNode makes the new folder the node's current one on the server. A
// node that had a folder before (a reinstalled laptop, a second folder)
// gets a fresh Database Extract taken for this init: the node's older one
// may lack what the old folder acknowledged, so the init waits for the new
// one (sess is updated to the state that has it). The old folder is told,
// at its next sync, that it was superseded.
func (c *Client) claimNode(ctx context.Context, rc *syncproto.Client, sess *syncproto.State) error {
	folder := fieldsync.NewID()
	ans, err := rc.Init(ctx, sess.Session, folder)
	if err != nil {
		return fmt.Errorf("claim node %s for this folder: %w", c.cfg.Node, err)
	}
	c.cfg.Folder, rc.Folder = folder, folder
	if !ans.FreshExtract && !sess.ExtractPending {
		return nil
	}
	if ans.FreshExtract {
		c.log.Info("the node had another folder: waiting for a fresh extract", "previous_since", ans.Superseded)
	}
	m := newMeter(c.cfg.Progress, "fresh extract", 0, 0)
	deadline := time.Now().Add(FreshExtractWait)
	for {
		st, err := rc.State(ctx, sess.Session)
		if err != nil {
			return err
		}
		if !st.ExtractPending {
			st.Session = sess.Session
			*sess = st
			m.done()
			return nil
		}
		if time.Now().After(deadline) {
			return fieldsync.Errorf(fieldsync.ErrBusy, "the server has not taken node %s's fresh extract within %s (is its Database Extract running?): run client init again later",
				c.cfg.Node, FreshExtractWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
