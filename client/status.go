package client

import (
	"context"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
)

// Status is a node's local view.
type Status struct {
	Node           string `json:"node"`
	Server         string `json:"server"`
	LastSync       string `json:"last_sync"`
	LastResult     string `json:"last_sync_result"`
	PendingChanges int64  `json:"pending_changes"` // local transactions not yet packaged
	PendingUploads int    `json:"pending_uploads"` // upload files not yet known merged
	InboxFiles     int    `json:"inbox_files"`     // downloaded, not yet applied
	ExtractSeq     int64  `json:"extract_seq"`
	// Conflicts are the latest conflicts the server met merging this node's changes.
	Conflicts []fieldsync.Conflict `json:"conflicts"`
	// FilesPending are attachment files the node should have and has not
	// fetched yet; Requested are the rows whose requested file the user asked for.
	FilesPending int      `json:"files_pending"`
	Requested    []string `json:"requested"`
	// FilesToUpload are files attached offline that have not gone up yet.
	FilesToUpload int `json:"files_to_upload"`
}

// Status returns the node's local view.
func (c *Client) Status(ctx context.Context) (Status, error) {
	s := Status{Node: c.cfg.Node, Server: c.cfg.Server}
	local, err := c.st.State(ctx)
	if err != nil {
		return s, err
	}
	if !local.LastSync.IsZero() {
		s.LastSync = local.LastSync.UTC().Format(time.RFC3339Nano)
	}
	s.LastResult = local.LastResult
	ls, err := c.st.LogState(ctx)
	if err != nil {
		return s, err
	}
	s.PendingChanges = ls.Pending
	ups, _ := docking.Numbers(c.path("upload"))
	s.PendingUploads = len(ups)
	ins, _ := docking.Numbers(c.path("inbox"))
	s.InboxFiles = len(ins)
	s.ExtractSeq = local.ExtractSeq
	if s.Conflicts = local.Conflicts; s.Conflicts == nil {
		s.Conflicts = []fieldsync.Conflict{}
	}
	s.FilesPending, s.Requested, err = c.fileStatus(ctx)
	if s.Requested == nil {
		s.Requested = []string{}
	}
	if err != nil {
		return s, err
	}
	s.FilesToUpload, err = c.filesToUpload(ctx)
	return s, err
}
