// Package client is the remote client: a node's local database (package
// localdb), started from its Database Extract and written through the
// local write path (the row and a local transaction log entry in one local
// transaction), kept in step with the server by Sync: one session that
// uploads the pending local transactions as numbered .dx files, downloads
// the outbox into the local inbox and the attachment files the node should
// have, and acknowledges it; then ApplyInbox (or SyncOptions.Apply) applies
// the inbox, each file in one local transaction that records it as applied.
// The client links no server component: it speaks to the Synchronization
// Manager through package syncproto.
//
// The folder of a node (DIR):
//
//	local.db        the local database (data, local log, local state)
//	node.json       server URL, node name, and the CA certificate to trust (if any)
//	node.secret     the node's secret (mode 0600)
//	inbox/N.dx      downloaded outbox files, until applied (acknowledged then)
//	inbox/damaged/  an inbox file found damaged, until it is had again
//	upload/N.dx     packaged local transactions, until the server merged them
//	upload/merged/  merged uploads, until what was routed before them is applied
//	upload/kept/    merged uploads after that, for a while (restored.go)
//	files/HASH      attachment files, by content hash
//
// Damaged files recover by themselves (recover.go); a folder that is
// read-only or whose disk is full opens for reading only (writable.go).
package client

import (
	"context"
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

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/durable"
	"github.com/fieldsync/fieldsync/localdb"
	"github.com/fieldsync/fieldsync/syncproto"
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
	// Folder is the id this folder's client init gave it: a later init of
	// the node supersedes it (the server then refuses it).
	Folder string `json:"folder,omitempty"`
	// HTTP is the client used to reach the server (default: one with
	// sensible timeouts).
	HTTP   *http.Client `json:"-"`
	Logger *slog.Logger `json:"-"`
	// KeepMerged and KeepMergedDays say how long merged uploads are kept
	// (in upload/kept), for a server restored from a backup to have them
	// again: the newest KeepMerged of them (default 100) and those merged
	// within KeepMergedDays days (default 14); negative: none.
	KeepMerged     int `json:"keep_merged,omitempty"`
	KeepMergedDays int `json:"keep_merged_days,omitempty"`
	// Progress, when not nil, is called as Init downloads the extract.
	Progress func(Progress) `json:"-"`
}

// Client is a node's local side.
type Client struct {
	cfg Config
	st  *localdb.DB
	log *slog.Logger

	applyMu sync.Mutex // one inbox apply at a time
}

func (c *Client) path(parts ...string) string {
	return filepath.Join(append([]string{c.cfg.Dir}, parts...)...)
}

// Init makes DIR a node's folder: it downloads the node's Database Extract
// and opens it as the local database. DIR must not hold one already. An
// init that fails leaves no trace in the folder: the files it made are
// removed, and so are the folders it made (DIR and its missing parents).
func Init(ctx context.Context, cfg Config) (c *Client, err error) {
	if cfg.Dir == "" || cfg.Server == "" || cfg.Node == "" || cfg.Secret == "" {
		return nil, fieldsync.Errorf(fieldsync.ErrInvalid, "client init needs a folder, a server URL, a node name and its secret")
	}
	if err := syncproto.CheckServer(cfg.Server); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, "local.db")); err == nil {
		return nil, fieldsync.Errorf(fieldsync.ErrExists, "%s already holds a node's local database", cfg.Dir)
	}
	if cfg, err = withDefaults(cfg); err != nil {
		return nil, err
	}
	undo, err := makeFolder(cfg.Dir)
	if err != nil {
		return nil, err
	}
	c = &Client{cfg: cfg, log: cfg.Logger.With("component", "Remote client", "node", cfg.Node)}
	defer func() {
		if err != nil {
			if c.st != nil {
				c.st.Close()
			}
			undo()
			c = nil
		}
	}()
	return c, c.init(ctx)
}

// init does Init's work in the folder made for it.
func (c *Client) init(ctx context.Context) error {
	cfg := c.cfg
	rc := c.remote()
	sess, _, err := c.startSession(ctx, rc)
	if err != nil {
		return err
	}
	if err := c.claimNode(ctx, rc, &sess); err != nil {
		return err
	}
	part := c.path("extract.db.part")
	m := newMeter(cfg.Progress, "extract", 1, 0) // its size comes with it
	if _, err := rc.Download(ctx, sess.Session, syncproto.ExtractPath, part, nil, m); err != nil {
		return fmt.Errorf("download extract: %w", err)
	}
	m.done()
	rc.End(ctx, sess.Session, "extract")
	// The extract must be the node's, with a schema this client reads.
	h, err := localdb.ReadHeader(ctx, part)
	if err != nil {
		return err
	}
	if h.Node != cfg.Node {
		return fmt.Errorf("the extract is node %q's, not %q's", h.Node, cfg.Node)
	}
	if h.ExtractSeq < sess.ExtractSeq {
		return fmt.Errorf("the server sent an extract taken at %d, older than the node's latest (%d): run client init again", h.ExtractSeq, sess.ExtractSeq)
	}
	if _, err := h.Schema(); err != nil {
		return err
	}
	if err := os.Rename(part, c.path("local.db")); err != nil {
		return err
	}
	if c.st, err = localdb.Open(ctx, c.path("local.db")); err != nil {
		return err
	}
	c.st.SetLogger(c.log)
	// A node's new folder (a reinstalled laptop) numbers its uploads after
	// those the server has of the node, so none is taken for a duplicate.
	if sess.LastReceived > 0 {
		if err := c.st.SetUploadNext(ctx, sess.LastReceived+1); err != nil {
			return err
		}
	}
	if err := c.st.SetServerIncarnation(ctx, sess.Incarnation); err != nil {
		return err
	}
	conf, _ := json.MarshalIndent(Config{Server: cfg.Server, Node: cfg.Node, CACert: cfg.CACert, Folder: c.cfg.Folder,
		KeepMerged: cfg.KeepMerged, KeepMergedDays: cfg.KeepMergedDays}, "", "  ")
	if err := durable.WriteFile(c.cfg.Dir, "node.json", conf, 0o600); err != nil {
		return err
	}
	if err := durable.WriteFile(c.cfg.Dir, "node.secret", []byte(cfg.Secret+"\n"), 0o600); err != nil {
		return err
	}
	return nil
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
	c := &Client{cfg: cfg, log: cfg.Logger.With("component", "Remote client", "node", cfg.Node)}
	if c.st, err = localdb.Open(ctx, c.path("local.db")); err != nil {
		return nil, err
	}
	c.st.SetLogger(c.log)
	return c, nil
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
func (c *Client) Store() *localdb.DB { return c.st }

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
	if err := c.writable("write locally"); err != nil {
		return nil, err
	}
	txns, err := c.st.Apply(ctx, changes...)
	if err != nil && !isDataError(err) {
		err = c.writeFailure("write locally", err)
	}
	return txns, err
}

// initFiles match the files Init makes in a node's folder (the local
// database's locks and journals among them).
var initFiles = []string{"extract.db.part*", "local.db*", "node.json", "node.secret"}

// makeFolder makes dir and its missing parents for Init, and returns what
// undoes it: it removes the files matching initFiles that dir did not hold
// before, then the folders it made, innermost first (a folder something
// else was put in meanwhile stays).
func makeFolder(dir string) (undo func(), err error) {
	var made []string // dir and the parents it lacks, innermost first
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); !errors.Is(err, os.ErrNotExist) {
			break
		}
		made = append(made, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	had := initFilesIn(dir)
	undo = func() {
		for _, f := range initFilesIn(dir) {
			if !slices.Contains(had, f) {
				os.Remove(f)
			}
		}
		for _, d := range made {
			if os.Remove(d) != nil {
				return
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		undo()
		return nil, err
	}
	return undo, nil
}

// initFilesIn lists the files in dir that match initFiles.
func initFilesIn(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var files []string
	for _, e := range entries {
		for _, pattern := range initFiles {
			if ok, _ := filepath.Match(pattern, e.Name()); ok && !e.IsDir() {
				files = append(files, filepath.Join(dir, e.Name()))
				break
			}
		}
	}
	return files
}
