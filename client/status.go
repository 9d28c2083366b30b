package client

import (
	"context"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/localdb"
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
	// LastFailure is the last failed sync or inbox apply and why, and
	// LastFailureAt when ("" when none failed yet); a later success leaves
	// them, LastResult says how the latest went.
	LastFailure   string `json:"last_failure,omitempty"`
	LastFailureAt string `json:"last_failure_at,omitempty"`
	// Recoveries are the latest damaged files of the folder and what the
	// client did about them, oldest first.
	Recoveries []Recovery `json:"recoveries"`
	// Damaged, when not "", is the damaged inbox file the client waits to
	// have again, and what it waits for.
	Damaged string `json:"damaged,omitempty"`
	// ReadOnly, when not "", says why the folder cannot be written (it is
	// read-only or its disk is full): syncs and local writes fail until it
	// can.
	ReadOnly string `json:"read_only,omitempty"`
}

// Recovery is a damaged file the client dealt with: when (RFC 3339, UTC)
// and what it did.
type Recovery struct {
	At   string `json:"at"`
	What string `json:"what"`
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
	s.statusOfDamage(c, local)
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

// statusOfDamage fills in the last failure, the recoveries, the damaged
// inbox file waited for, and why the folder cannot be written.
func (s *Status) statusOfDamage(c *Client, local localdb.State) {
	if !local.LastFailureAt.IsZero() {
		s.LastFailure, s.LastFailureAt = local.LastFailure, local.LastFailureAt.UTC().Format(time.RFC3339Nano)
	}
	s.Recoveries = []Recovery{}
	for _, r := range local.Recoveries {
		s.Recoveries = append(s.Recoveries, Recovery{At: r.At.UTC().Format(time.RFC3339Nano), What: r.What})
	}
	if d := local.InboxDamaged; d != nil && d.Number > local.InboxApplied {
		s.Damaged = c.damageErr(d).Error()
	}
	if err := c.st.ReadOnly(); err != nil {
		s.ReadOnly = err.Error()
	}
}
