// Package client is the remote client: a node's local SQLite database,
// started from its Database Extract, written through the same kind of write
// path as the server (the row and a local transaction log entry in one
// local transaction), and kept in step with the server by Sync: upload the
// pending local transactions as numbered .dx files, download the outbox
// into the local inbox, then apply the inbox, each file in one local
// transaction that records it as applied.
//
// The folder of a node (DIR):
//
//	local.db        the local database (data, local log, applied inbox and upload numbers)
//	node.json       server URL, node name, and the CA certificate to trust (if any)
//	node.secret     the node's secret (mode 0600)
//	inbox/N.dx      downloaded outbox files, until applied
//	upload/N.dx     packaged local transactions, until the server merged them
package client

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the local database

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/extract"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/sqlite"
	"github.com/fieldsync/fieldsync/syncproto"
	"github.com/fieldsync/fieldsync/visibility"
)

// Config says which node a client is and where its server is.
type Config struct {
	Dir    string `json:"-"`
	Server string `json:"server"`
	Node   string `json:"node"`
	Secret string `json:"-"`
	// CACert is PEM text of the certificate authorities to trust for an
	// https:// server besides the system's (for a server whose certificate
	// an in-house authority signed). It is kept in the node's folder.
	CACert string `json:"ca_cert,omitempty"`
	// HTTP is the client used to reach the server (default: one with
	// sensible timeouts).
	HTTP   *http.Client `json:"-"`
	Logger *slog.Logger `json:"-"`
	// Progress, when not nil, is called as Init downloads the extract.
	Progress func(Progress) `json:"-"`
}

// Client is a node's local side.
type Client struct {
	cfg      Config
	st       *sqlite.Store
	employee string
	log      *slog.Logger

	applyMu sync.Mutex // one inbox apply at a time
}

const (
	metaNode       = "node"
	metaEmployee   = "employee_id"
	metaUploadNext = "upload_next"
	metaLastSync   = "last_sync"
	metaLastResult = "last_sync_result"
	metaConflicts  = "conflicts_seen"
	metaRoutedSeq  = "routed_seq" // the server's router position at the last sync
	// metaConflictList keeps the latest conflicts reported to the node.
	metaConflictList = "conflicts"
)

func (c *Client) path(parts ...string) string {
	return filepath.Join(append([]string{c.cfg.Dir}, parts...)...)
}

// Init makes DIR a node's folder: it downloads the node's Database Extract
// and opens it as the local database. DIR must not hold one already.
func Init(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Dir == "" || cfg.Server == "" || cfg.Node == "" || cfg.Secret == "" {
		return nil, fieldsync.Errorf(fieldsync.ErrInvalid, "client init needs a folder, a server URL, a node name and its secret")
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, "local.db")); err == nil {
		return nil, fieldsync.Errorf(fieldsync.ErrExists, "%s already holds a node's local database", cfg.Dir)
	}
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, log: cfg.Logger.With("component", "Remote client", "node", cfg.Node)}
	rc := c.remote()
	sess, err := c.startSession(ctx, rc)
	if err != nil {
		return nil, err
	}
	part := c.path("extract.db.part")
	m := newMeter(cfg.Progress, "extract", 1, 0) // its size comes with it
	if _, err := rc.Download(ctx, sess.Session, syncproto.ExtractPath, part, nil, m); err != nil {
		return nil, fmt.Errorf("download extract: %w", err)
	}
	m.done()
	rc.End(ctx, sess.Session, "extract")
	// Read the schema and sequence number the extract carries.
	meta, err := readExtractMeta(part)
	if err != nil {
		return nil, err
	}
	s, err := schema.Parse(meta[extract.MetaSchemaName], []byte(meta[extract.MetaSchemaYAML]))
	if err != nil {
		return nil, fmt.Errorf("the extract's schema: %w", err)
	}
	if err := os.Rename(part, c.path("local.db")); err != nil {
		return nil, err
	}
	st, err := sqlite.OpenLocal(ctx, c.path("local.db"), s)
	if err != nil {
		return nil, err
	}
	c.st = st
	for k, v := range map[string]string{metaNode: cfg.Node, metaEmployee: meta[extract.MetaEmployee],
		"extract_seq": meta[extract.MetaExtractSeq], metaUploadNext: "1"} {
		if err := st.SetMeta(ctx, k, v); err != nil {
			st.Close()
			return nil, err
		}
	}
	c.employee = meta[extract.MetaEmployee]
	conf, _ := json.MarshalIndent(Config{Server: cfg.Server, Node: cfg.Node, CACert: cfg.CACert}, "", "  ")
	if err := os.WriteFile(c.path("node.json"), conf, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.path("node.secret"), []byte(cfg.Secret+"\n"), 0o600); err != nil {
		return nil, err
	}
	return c, nil
}

func readExtractMeta(path string) (map[string]string, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.Query("SELECT key, value FROM fs_extract")
	if err != nil {
		return nil, fmt.Errorf("the downloaded extract is not readable: %w", err)
	}
	defer rows.Close()
	meta := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		meta[k] = v
	}
	return meta, rows.Err()
}

func withDefaults(cfg Config) (Config, error) {
	if cfg.HTTP == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if cfg.CACert != "" {
			tc, err := fieldsync.TLSTrusting(cfg.CACert)
			if err != nil {
				return cfg, err
			}
			tr.TLSClientConfig = tc
		}
		cfg.HTTP = &http.Client{Timeout: 10 * time.Minute, Transport: tr}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Server = strings.TrimRight(cfg.Server, "/")
	return cfg, nil
}

// Open opens a node's folder made by Init.
func Open(ctx context.Context, dir string, logger *slog.Logger) (*Client, error) {
	data, err := os.ReadFile(filepath.Join(dir, "node.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fieldsync.Errorf(fieldsync.ErrNotFound, "%s is not a node's folder (run fieldsync client init first)", dir)
	} else if err != nil {
		return nil, err
	}
	var cfg Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "node.json"), err)
	}
	secret, err := os.ReadFile(filepath.Join(dir, "node.secret"))
	if err != nil {
		return nil, err
	}
	cfg.Dir, cfg.Secret, cfg.Logger = dir, strings.TrimSpace(string(secret)), logger
	if cfg, err = withDefaults(cfg); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg}
	meta, err := readLocalSchema(c.path("local.db"))
	if err != nil {
		return nil, err
	}
	s, err := schema.Parse(meta[extract.MetaSchemaName], []byte(meta[extract.MetaSchemaYAML]))
	if err != nil {
		return nil, err
	}
	if c.st, err = sqlite.OpenLocal(ctx, c.path("local.db"), s); err != nil {
		return nil, err
	}
	if c.employee, err = c.st.Meta(ctx, metaEmployee); err != nil {
		c.st.Close()
		return nil, err
	}
	c.log = c.cfg.Logger.With("component", "Remote client", "node", cfg.Node)
	return c, nil
}

func readLocalSchema(path string) (map[string]string, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("local database: %w", err)
	}
	return readExtractMeta(path)
}

// Close closes the local database.
func (c *Client) Close() error { return c.st.Close() }

// SetServer points the client at another address of its server, through
// the given HTTP client (a proxy, another Synchronization Manager process).
func (c *Client) SetServer(url string, hc *http.Client) {
	c.cfg.Server = url
	if hc != nil {
		c.cfg.HTTP = hc
	}
}

// Dir returns the node's folder.
func (c *Client) Dir() string { return c.cfg.Dir }

// Node returns the node's name.
func (c *Client) Node() string { return c.cfg.Node }

// Store returns the local database.
func (c *Client) Store() *sqlite.Store { return c.st }

// Get returns a local row.
func (c *Client) Get(ctx context.Context, table, id string) (fieldsync.Row, error) {
	return c.st.Get(ctx, table, id)
}

// List lists local rows.
func (c *Client) List(ctx context.Context, table string, q fieldsync.Query) (fieldsync.Page, error) {
	return c.st.List(ctx, table, q)
}

// Apply makes local changes through the local write path: only to tables
// nodes may write and rows the node sees. They are uploaded at the next sync.
func (c *Client) Apply(ctx context.Context, changes ...fieldsync.Change) ([]fieldsync.Txn, error) {
	s := c.st.Schema()
	var out []fieldsync.Txn
	err := c.st.InTx(ctx, func(tx *sql.Tx) error {
		r := c.st.TxReader(tx)
		for _, ch := range changes {
			t, err := s.LookupTable(ch.Table)
			if err != nil {
				return err
			}
			if !t.RemoteWrite {
				return fieldsync.Errorf(fieldsync.ErrForbidden, "table %s may not be written by remote nodes", t.Name)
			}
			if ch.Op != fieldsync.OpInsert {
				if _, err := r.Get(ctx, t.Name, ch.ID); err != nil {
					return err
				}
			}
			txns, err := c.st.ApplyTx(ctx, tx, c.cfg.Node, ch)
			if err != nil {
				return err
			}
			if ch.Op == fieldsync.OpInsert && !t.Private {
				ok, err := visibility.Sees(ctx, r, s, c.employee, t.Name, txns[0].RowID)
				if err != nil {
					return err
				}
				if !ok {
					return fieldsync.Errorf(fieldsync.ErrForbidden, "node %s would not see this %s row: it may not create it", c.cfg.Node, t.Name)
				}
			}
			out = append(out, txns...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.st.NotifyChanged()
	return out, nil
}

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
	keep := own.keeper()
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
		ok, err := c.st.ApplyInbox(ctx, n, txns, keep)
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

// ownChange is one of the node's own changes to a row, kept safe from the
// server's older values while applying the inbox.
type ownChange struct {
	vals              fieldsync.Row // the columns it set, to their values
	inserted, deleted bool
	// before: the change entered the server's log at this sequence number;
	// only transactions routed before it are older than the change. 0 while
	// the change is not merged: every server value is older.
	before int64
}

// ownChanges are the node's changes in its upload files, by table and row,
// oldest first.
type ownChanges map[string][]ownChange

func (o ownChanges) add(txns []fieldsync.Txn, before int64) {
	for _, t := range txns {
		key := t.Table + "\x00" + t.RowID
		o[key] = append(o[key], ownChange{before: before, inserted: t.Op == fieldsync.OpInsert, deleted: t.Op == fieldsync.OpDelete, vals: t.Values})
	}
}

// ownUploads reads the node's changes in its upload files: with merged, the
// merged uploads kept until everything routed before them is applied; and
// the uploads above after not yet known merged. The caller holds applyMu,
// so no sync moves the files meanwhile.
func (c *Client) ownUploads(after int64, merged bool) (ownChanges, error) {
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
	own := ownChanges{}
	for _, f := range files {
		_, txns, err := dx.ReadFile(f.path, dx.Limits{})
		if err != nil {
			return nil, err
		}
		own.add(txns, f.before)
	}
	return own, nil
}

// keeper is what ApplyInbox asks which of the node's own values to keep
// (the node's latest value of each column it changed): the changes in its
// upload files, then those in its local log, which the store reads inside
// the applying transaction.
func (o ownChanges) keeper() sqlstore.Keeper {
	return func(local []fieldsync.Txn) func(fieldsync.Txn) (fieldsync.Row, bool) {
		pending := ownChanges{}
		pending.add(local, 0)
		return func(t fieldsync.Txn) (fieldsync.Row, bool) {
			key := t.Table + "\x00" + t.RowID
			var vals fieldsync.Row
			for _, changes := range [][]ownChange{o[key], pending[key]} {
				for _, oc := range changes { // oldest first
					if oc.before != 0 && t.Seq >= oc.before {
						continue // the server's value is newer than the node's change
					}
					if oc.deleted {
						return nil, true
					}
					if vals == nil {
						vals = fieldsync.Row{}
					}
					for k, v := range oc.vals {
						vals[k] = v
					}
				}
			}
			return vals, false
		}
	}
}

// ownRows is what ReplaceData asks which rows the node changed in ways an
// extract taken at seq cannot hold (not merged, or merged after seq), and
// whether such a change inserted the row.
func (o ownChanges) ownRows(seq int64) func(local []fieldsync.Txn) []sqlstore.OwnRow {
	return func(local []fieldsync.Txn) []sqlstore.OwnRow {
		pending := ownChanges{}
		pending.add(local, 0)
		at := map[string]int{} // index in out
		var out []sqlstore.OwnRow
		for _, changes := range []ownChanges{o, pending} {
			for key, cs := range changes {
				for _, oc := range cs {
					if oc.before != 0 && oc.before <= seq {
						continue // in the extract
					}
					i, ok := at[key]
					if !ok {
						table, id, _ := strings.Cut(key, "\x00")
						i, at[key] = len(out), len(out)
						out = append(out, sqlstore.OwnRow{Table: table, ID: id})
					}
					out[i].Inserted = out[i].Inserted || oc.inserted
				}
			}
		}
		return out
	}
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
	routed, err := c.st.MetaInt(ctx, metaRoutedSeq)
	if err != nil {
		return err
	}
	merged, err := c.mergedUploads()
	if err != nil {
		return err
	}
	for _, m := range merged {
		if m.firstSeq-1 <= routed {
			if err := os.Remove(m.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}
