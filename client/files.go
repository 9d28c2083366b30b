package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/durable"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/syncproto"
)

// FilePath is where the node keeps an attachment file once fetched.
func (c *Client) FilePath(ref fieldsync.FileRef) string { return c.path("files", ref.SHA256) }

// Request asks for the file of a requested-mode attachment row: it comes
// at the next sync.
func (c *Client) Request(ctx context.Context, table, id string) error {
	if err := c.writable("request a file"); err != nil {
		return err
	}
	t, err := c.st.Schema().LookupTable(table)
	if err != nil {
		return err
	}
	if !t.HasFile() {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "table %s carries no files", table)
	}
	if _, err := c.st.Get(ctx, table, id); err != nil {
		return err
	}
	req, err := c.requested(ctx)
	if err != nil {
		return err
	}
	req[table+"/"+id] = true
	return c.saveRequested(ctx, req)
}

func (c *Client) requested(ctx context.Context) (map[string]bool, error) {
	local, err := c.st.State(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, k := range local.Requested {
		out[k] = true
	}
	return out, nil
}

func (c *Client) saveRequested(ctx context.Context, req map[string]bool) error {
	list := make([]string, 0, len(req))
	for k := range req {
		list = append(list, k)
	}
	sort.Strings(list)
	return c.st.SetRequested(ctx, list)
}

// fileRow is an attachment row as far as files go.
type fileRow struct {
	key  string // table/id
	ref  fieldsync.FileRef
	mode string
}

// fileRows returns the local rows that carry a file, with the changes the
// inbox (downloaded, not yet applied) brings laid over them.
func (c *Client) fileRows(ctx context.Context, held map[int64]heldFile) (map[string]fileRow, error) {
	type rowKey struct{ table, id string }
	rows := map[rowKey]fieldsync.Row{}
	// One schema throughout (an inbox apply may put another in force
	// meanwhile), that of a schema-change marker after it.
	sch := c.st.Schema()
	for _, t := range sch.Tables {
		if !t.HasFile() {
			continue
		}
		err := fieldsync.Each(ctx, c.st, t.Name, fieldsync.Query{}, func(r fieldsync.Row) error {
			rows[rowKey{t.Name, r.ID()}] = r
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	nums, err := docking.Numbers(c.path("inbox"))
	if err != nil {
		return nil, err
	}
	for n := range held {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	for _, n := range nums {
		hf, ok := held[n]
		txns := hf.txns
		if !ok {
			if _, txns, err = dx.ReadFile(c.path("inbox", docking.FileName(n)), dx.Limits{}); err != nil {
				continue // ApplyInbox sets it aside
			}
		}
		for _, t := range txns {
			if fieldsync.IsSchemaMarker(t) {
				sch = c.markerSchema(sch, t)
				continue
			}
			tb := sch.Table(t.Table)
			if tb == nil || !tb.HasFile() {
				continue
			}
			key := rowKey{t.Table, t.RowID}
			switch t.Op {
			case fieldsync.OpInsert:
				rows[key] = t.Values.Clone()
			case fieldsync.OpUpdate:
				if r, ok := rows[key]; ok {
					r = r.Clone()
					for k, v := range t.Values {
						r[k] = v
					}
					rows[key] = r
				}
			default:
				delete(rows, key)
			}
		}
	}
	out := map[string]fileRow{}
	for key, r := range rows {
		tb := sch.Table(key.table)
		if tb == nil {
			continue // a table a marker dropped
		}
		for _, ref := range tb.FileRefs(r) {
			mode, _ := r[fieldsync.ModeColumn].(string)
			out[key.table+"/"+key.id] = fileRow{key: key.table + "/" + key.id, ref: ref, mode: mode}
		}
	}
	return out, nil
}

// wantedFiles returns the files the node should have: published and
// broadcast ones, and requested ones the user asked for.
func (c *Client) wantedFiles(ctx context.Context, held map[int64]heldFile) (map[string]fieldsync.FileRef, error) {
	rows, err := c.fileRows(ctx, held)
	if err != nil {
		return nil, err
	}
	req, err := c.requested(ctx)
	if err != nil {
		return nil, err
	}
	local, err := c.st.State(ctx)
	if err != nil {
		return nil, err
	}
	limit := local.FileLimit
	want := map[string]fieldsync.FileRef{}
	for _, fr := range rows {
		offered := fr.mode == fieldsync.ModeRequested || limit > 0 && fr.ref.Size > limit // too big: offered as requested
		if offered && !req[fr.key] {
			continue
		}
		want[fr.ref.SHA256] = fr.ref
	}
	return want, nil
}

// fetchFiles downloads the wanted files the node lacks, resuming partial
// downloads and verifying each against its hash before keeping it. It
// returns how many it fetched and their bytes.
func (c *Client) fetchFiles(ctx context.Context, rc *syncproto.Client, session string, progress func(Progress), held map[int64]heldFile) (int, int64, error) {
	want, err := c.wantedFiles(ctx, held)
	if err != nil {
		return 0, 0, err
	}
	if err := os.MkdirAll(c.path("files"), 0o700); err != nil {
		return 0, 0, err
	}
	var missing []fieldsync.FileRef
	var missingBytes int64
	var m *meter
	for _, ref := range want {
		if _, err := os.Stat(c.FilePath(ref)); err != nil {
			missing = append(missing, ref)
			missingBytes += ref.Size
		}
	}
	if len(missing) > 0 {
		m = newMeter(progress, "files", len(missing), missingBytes)
	}
	n, total := 0, int64(0)
	for _, ref := range missing {
		final := c.FilePath(ref)
		part := c.path("files", ".part-"+ref.SHA256)
		h := sha256.New()
		got, err := rc.Download(ctx, session, syncproto.FilePath(ref), part, h, m)
		if err != nil {
			if errors.Is(err, fieldsync.ErrNotFound) {
				m.done()
				continue // not ours (any more)
			}
			return n, total, fmt.Errorf("fetch file %s: %w", ref, err)
		}
		size := int64(0)
		if info, err := os.Stat(part); err == nil {
			size = info.Size()
		}
		if got := (fieldsync.FileRef{SHA256: hex.EncodeToString(h.Sum(nil)), Size: size}); got != ref {
			err := fieldsync.Errorf(fieldsync.ErrDamagedFile, "file content %s does not match its reference %s", got, ref)
			os.Remove(part)
			return n, total, fmt.Errorf("fetch file %s: %w (discarded; the next sync fetches it again)", ref, err)
		}
		if err := os.Rename(part, final); err != nil {
			return n, total, err
		}
		m.done()
		n++
		total += got
	}
	return n, total, nil
}

// pruneFiles drops the files no local row carries any more (rows that
// stopped being visible take their files with them).
func (c *Client) pruneFiles(ctx context.Context) error {
	ents, err := os.ReadDir(c.path("files"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	rows, err := c.fileRows(ctx, nil)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, fr := range rows {
		keep[fr.ref.SHA256] = true
	}
	for _, e := range ents {
		if !keep[e.Name()] && len(e.Name()) == 64 {
			if err := os.Remove(filepath.Join(c.path("files"), e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// filesToUpload counts the files the node's unmerged changes name that
// only the node has (attached offline). An upload file that cannot be read
// (damaged, and packaged by an earlier version of the client) is left out:
// the next sync deals with it.
func (c *Client) filesToUpload(ctx context.Context) (int, error) {
	var txns []fieldsync.Txn
	ups, err := docking.Numbers(c.path("upload"))
	if err != nil {
		return 0, err
	}
	for _, u := range ups {
		t, err := c.readUpload(ctx, u, c.path("upload", docking.FileName(u)))
		if errors.Is(err, fieldsync.ErrDamagedFile) {
			continue
		} else if err != nil {
			return 0, err
		}
		txns = append(txns, t...)
	}
	ls, err := c.st.LogState(ctx)
	if err != nil {
		return 0, err
	}
	local, err := c.st.ReadLog(ctx, ls.Trimmed, 1_000_000)
	if err != nil {
		return 0, err
	}
	txns = append(txns, local...)
	seen := map[string]bool{}
	for _, t := range txns {
		tb := c.st.Schema().Table(t.Table)
		if tb == nil || !tb.HasFile() {
			continue
		}
		for _, ref := range tb.FileRefs(t.Values) {
			if _, err := os.Stat(c.FilePath(ref)); err == nil {
				seen[ref.SHA256] = true
			}
		}
	}
	return len(seen), nil
}

// fileStatus counts wanted files not here yet, and the requested rows.
func (c *Client) fileStatus(ctx context.Context) (pending int, requested []string, err error) {
	want, err := c.wantedFiles(ctx, nil)
	if err != nil {
		return 0, nil, err
	}
	for _, ref := range want {
		if _, err := os.Stat(c.FilePath(ref)); err != nil {
			pending++
		}
	}
	req, err := c.requested(ctx)
	if err != nil {
		return 0, nil, err
	}
	for k := range req {
		requested = append(requested, k)
	}
	sort.Strings(requested)
	return pending, requested, nil
}

// Attach makes a local file the attachment of a row (its file column, and
// file_name and mode when the table has them), as a local change: the row
// goes up at the next sync, and the file with it.
func (c *Client) Attach(ctx context.Context, table, id, path, mode string) (fieldsync.Row, error) {
	if err := c.writable("attach a file"); err != nil {
		return nil, err
	}
	t, err := c.st.Schema().LookupTable(table)
	if err != nil {
		return nil, err
	}
	col := t.FileColumn()
	if col == nil {
		return nil, fieldsync.Errorf(fieldsync.ErrInvalid, "table %s carries no files", table)
	}
	ref, err := c.keepFile(path)
	if err != nil {
		return nil, err
	}
	vals := map[string]any{col.Name: ref.String()}
	if t.Column(fieldsync.FileNameColumn) != nil {
		vals[fieldsync.FileNameColumn] = filepath.Base(path)
	}
	if mode != "" && t.Column(fieldsync.ModeColumn) != nil {
		vals[fieldsync.ModeColumn] = mode
	}
	if _, err := c.Apply(ctx, fieldsync.Update(table, id, vals)); err != nil {
		return nil, err
	}
	return c.st.Get(ctx, table, id)
}

// files fetches the attachment files the node should have: published and
// broadcast ones, and requested ones the user asked for.
func (s *session) files(ctx context.Context) error {
	nf, fb, err := s.c.fetchFiles(ctx, s.rc, s.st.Session, s.progress, s.held)
	s.sum.Files += nf
	s.sum.FileBytes += fb
	return err
}

// keepFile copies a file into the node's folder, where it is kept by its
// content hash (crash-safe: it appears whole or not at all), and returns
// its reference.
func (c *Client) keepFile(path string) (fieldsync.FileRef, error) {
	in, err := os.Open(path)
	if err != nil {
		return fieldsync.FileRef{}, err
	}
	defer in.Close()
	if err := os.MkdirAll(c.path("files"), 0o700); err != nil {
		return fieldsync.FileRef{}, err
	}
	tmp, err := durable.CreateTemp(c.path("files"))
	if err != nil {
		return fieldsync.FileRef{}, err
	}
	defer tmp.Abort()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), in)
	if err != nil {
		return fieldsync.FileRef{}, fmt.Errorf("attach %s: %w", path, err)
	}
	ref := fieldsync.FileRef{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}
	return ref, tmp.CommitAs(c.FilePath(ref))
}

// markerSchema returns the schema a schema-change marker of the inbox puts
// in force when the local database applies it, or cur when it puts none
// (not newer than the database's, or not readable: the apply says why).
func (c *Client) markerSchema(cur *fieldsync.Schema, t fieldsync.Txn) *fieldsync.Schema {
	v, err := fieldsync.ParseSchemaMarker(t)
	if err != nil || v.YAML == nil || v.Version <= c.st.SchemaVersion() {
		return cur
	}
	s, err := schema.Parse(v.Source, v.YAML)
	if err != nil {
		return cur
	}
	return s
}
