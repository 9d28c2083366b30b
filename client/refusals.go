package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/syncproto"
)

// handleConflicts acts on the conflicts the server reports for this node
// that it has not seen yet: a team row the server merged into its own is
// dropped locally (the server's row comes through the outbox).
func (c *Client) handleConflicts(ctx context.Context, conflicts []fieldsync.Conflict, sum *Summary) error {
	local, err := c.st.State(ctx)
	if err != nil {
		return err
	}
	seen, kept := local.ConflictsSeen, local.Conflicts
	for _, cf := range conflicts {
		if cf.ID <= seen {
			continue
		}
		sum.Conflicts = append(sum.Conflicts, cf)
		if cf.Kind.Refusal() {
			sum.Refused = append(sum.Refused, cf.Reason)
		}
		kept = append(kept, cf)
		if cf.Kind == fieldsync.ConflictTeamMerged {
			if err := c.st.Purge(ctx, cf.Table, cf.RowID); err != nil {
				return err
			}
		}
		seen = cf.ID
	}
	if len(kept) > 100 {
		kept = kept[len(kept)-100:]
	}
	return c.st.SetConflicts(ctx, seen, kept)
}

// serverRows fetches the rows txns name as the server has them now, as
// transactions that put them in a local database of schema sch: an insert
// of the row, or a purge when the node does not see it. A row has the
// columns of the server's schema version, which may be newer than sch:
// the columns sch lacks are left out (the node takes them with the
// version's marker, and the changes after it).
func (c *Client) serverRows(ctx context.Context, rc *syncproto.Client, session string, txns []fieldsync.Txn, sch *fieldsync.Schema) ([]fieldsync.Txn, error) {
	var out []fieldsync.Txn
	done := map[string]bool{}
	for _, t := range txns {
		key := t.Table + "\x00" + t.RowID
		tb := sch.Table(t.Table)
		if done[key] || tb == nil {
			continue
		}
		done[key] = true
		row, err := rc.Row(ctx, session, t.Table, t.RowID)
		switch {
		case errors.Is(err, fieldsync.ErrNotFound):
			out = append(out, fieldsync.Txn{Op: fieldsync.OpPurge, Table: t.Table, RowID: t.RowID})
		case err != nil:
			return nil, err
		default:
			vals, err := tb.CoerceRow(tb.Trim(row))
			if err != nil {
				return nil, err
			}
			out = append(out, fieldsync.Txn{Op: fieldsync.OpInsert, Table: t.Table, RowID: t.RowID, Values: vals})
		}
	}
	return out, nil
}

// settleUpload deals with an upload the server has merged or refused. A
// merged one is kept (in upload/merged) until everything routed before it
// is applied; a refused one's rows are put back as the server has them.
// Inbox applies wait meanwhile, as they read the upload files.
func (c *Client) settleUpload(ctx context.Context, rc *syncproto.Client, st syncproto.State, u int64, refused bool, firstSeq map[int64]int64) error {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	path := c.path("upload", docking.FileName(u))
	if refused {
		// None of it reached the server: put back the rows it changed.
		if err := c.restore(ctx, rc, st, u, path); err != nil {
			return fmt.Errorf("restore rows of refused upload %d: %w", u, err)
		}
	} else if err := c.restoreRefused(ctx, rc, st, u, path); err != nil {
		return fmt.Errorf("restore rows of the refused changes of upload %d: %w", u, err)
	} else if fs, ok := firstSeq[u]; ok {
		return os.Rename(path, c.path("upload", "merged", fmt.Sprintf("%d-%d.dx", u, fs)))
	}
	// The local log forgets the upload first: a stop in between leaves the
	// file, settled again at the next sync.
	if err := c.st.DropUpload(ctx, u); err != nil {
		return err
	}
	return os.Remove(path)
}

// restore puts back the rows a refused upload changed, as the server has
// them, under the node's own changes the server has not seen yet (later
// uploads and the local log).
func (c *Client) restore(ctx context.Context, rc *syncproto.Client, st syncproto.State, u int64, path string) error {
	txns, err := c.readUpload(ctx, u, path)
	if err != nil {
		return err
	}
	return c.refetch(ctx, rc, st, txns)
}

// restoreRefused puts back, as the server has them, the rows of the
// changes the server refused in a merged upload, and then drops those
// changes from the upload's file, which is laid over older server values
// until everything routed before it is applied. A stop in between puts
// the rows back again at the next sync.
func (c *Client) restoreRefused(ctx context.Context, rc *syncproto.Client, st syncproto.State, u int64, path string) error {
	refused := map[int64]bool{}
	rest := int64(0)
	for _, r := range st.RefusedChanges {
		switch {
		case r.Upload != u:
		case r.Kind == fieldsync.ConflictRefusedRest:
			rest = r.Change
		case r.Kind == fieldsync.ConflictRefused:
			refused[r.Change] = true
		}
	}
	if len(refused) == 0 && rest == 0 {
		return nil
	}
	hdr := dx.Header{Kind: dx.KindUpload, Node: c.cfg.Node, Number: uint64(u)}
	logKept, dropped, _, err := c.st.UploadChanges(ctx, u)
	if err != nil {
		return err
	}
	if dropped {
		// Done before, but for the file (a stop in between): the local
		// log says what the file keeps.
		return dx.WriteFile(c.path("upload"), docking.FileName(u), hdr, logKept, nil)
	}
	marker, txns, err := c.readUploadFile(ctx, u, path)
	if err != nil {
		return err
	}
	var gone, kept []fieldsync.Txn
	if marker != nil {
		kept = append(kept, *marker) // the changes kept were made under it
	}
	var nums []int64 // numbered after the marker, as the server numbers them
	for i, t := range txns {
		if num := int64(i + 1); refused[num] || (rest > 0 && num >= rest) {
			gone, nums = append(gone, t), append(nums, num)
		} else {
			kept = append(kept, t)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	if err := c.refetch(ctx, rc, st, gone); err != nil {
		return err
	}
	if err := c.st.DropUploadChanges(ctx, u, nums); err != nil {
		return err
	}
	return dx.WriteFile(c.path("upload"), docking.FileName(u), hdr, kept, nil)
}

// refetch puts the rows txns name back as the server has them now (gone if
// the node does not see them), under the node's own changes the server has
// not seen yet (uploads not merged, the local log).
func (c *Client) refetch(ctx context.Context, rc *syncproto.Client, st syncproto.State, txns []fieldsync.Txn) error {
	rows, err := c.serverRows(ctx, rc, st.Session, txns, c.st.Schema())
	if err != nil {
		return err
	}
	own, err := c.ownUploads(ctx, st.LastMerged, false)
	if err != nil {
		return err
	}
	for _, t := range rows {
		if err := c.st.Put(ctx, t.Table, t.RowID, t.Values, own); err != nil {
			return err
		}
	}
	return nil
}

// settle reports the uploads the server refused and acts on the conflicts
// it met merging the node's uploads.
func (s *session) settle(ctx context.Context) error {
	for _, r := range s.st.Refused {
		s.sum.Refused = append(s.sum.Refused, fmt.Sprintf("upload %d refused: %s", r.Number, r.Reason))
	}
	conflicts, more := s.st.Conflicts, s.st.ConflictsMore
	refused := s.st.RefusedChanges
	for page := 0; ; page++ {
		// The refused changes are conflicts too: each is handled with the
		// page its id falls in, so the conflicts keep their order.
		var now []fieldsync.Conflict
		now, refused = splitRefused(refused, conflicts, more)
		if err := s.c.handleConflicts(ctx, withRefused(conflicts, now), s.sum); err != nil {
			return err
		}
		if !more || len(conflicts) == 0 || page == maxConflictPages {
			return nil // past maxConflictPages, the next sync goes on
		}
		st, err := s.rc.StateAfter(ctx, s.st.Session, conflicts[len(conflicts)-1].ID)
		if err != nil {
			return err
		}
		conflicts, more = st.Conflicts, st.ConflictsMore
	}
}

// splitRefused returns the refused changes that belong with a page of
// conflicts (all of them on the last page), and those left for later pages.
func splitRefused(refused, page []fieldsync.Conflict, more bool) (now, later []fieldsync.Conflict) {
	if !more || len(page) == 0 {
		return refused, nil
	}
	last := page[len(page)-1].ID
	for _, r := range refused {
		if r.ID <= last {
			now = append(now, r)
		} else {
			later = append(later, r)
		}
	}
	return now, later
}

// withRefused is the conflicts the server reported with the refused
// changes among them, once each, in the order they were recorded.
func withRefused(conflicts, refused []fieldsync.Conflict) []fieldsync.Conflict {
	have := map[int64]bool{}
	for _, c := range conflicts {
		have[c.ID] = true
	}
	out := slices.Clone(conflicts)
	for _, r := range refused {
		if !have[r.ID] {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b fieldsync.Conflict) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// maxConflictPages is how many more pages of conflicts one sync fetches.
const maxConflictPages = 100
