package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/filestore"
	"github.com/fieldsync/fieldsync/internal/loginguard"
	"github.com/fieldsync/fieldsync/merger"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncmgr"
)

func serverCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("server", stderr)
	data := fs.String("data", "./fieldsync-data", "data `folder`: database, admin token, docking folder")
	listen := fs.String("listen", "127.0.0.1:7070", "API `address`")
	db := fs.String("db", "", "server database `URL` (postgres://...; default: SQLite in the data folder)")
	schemaFile := fs.String("schema", "", "schema `file` (default: the one the database recorded at its last start; the built-in CRM schema on a new database)")
	only := fs.String("only", "", "run only these `components`, comma-separated: "+strings.Join(server.Components, ", "))
	parts := fs.Int("router-partitions", 1, "split nodes between this many Transaction Routers")
	part := fs.Int("router-partition", -1, "run only this router `partition` (default: all of them)")
	maxBody, maxFile, maxSessions, maxUpload := sizeFlags(fs)
	nodeFileLimit := fs.Int64("node-file-limit", 0, "published files larger than this many `bytes` are offered to nodes as requested (0: no limit)")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with this PEM certificate `file` (and its chain); needs --tls-key")
	tlsKey := fs.String("tls-key", "", "the PEM private key `file` of --tls-cert")
	keepSessions := fs.Duration("keep-sessions", 30*24*time.Hour, "keep records of finished synchronization sessions this `long` (a node's latest is always kept)")
	maxLoginDelay := fs.Duration("max-login-delay", time.Minute, "make a node name or address that keeps failing to log in wait at most this `long` between attempts")
	trustedProxy := fs.String("trusted-proxy", "", "reverse `proxies` (addresses or CIDR prefixes, comma-separated) whose X-Forwarded-For gives the client address that failed logins count against")
	onRefusal := fs.String("on-refusal", "continue", "what a refused change does to its node: continue, stop (until admin node resume) or deactivate")
	maxChanges := fs.Int64("max-upload-changes", merger.DefaultMaxChanges, "refuse an upload of more than this many `changes`")
	maxInflated := fs.Int64("max-upload-inflated", merger.DefaultMaxBytes, "refuse an upload whose body decompresses to more than this many `bytes`")
	maxInserts := fs.Int64("max-upload-inserts", merger.DefaultMaxInserts, "refuse the rest of an upload past this many inserted `rows`")
	maxRecords := fs.Int64("max-upload-records", merger.DefaultMaxRecords, "refuse the rest of an upload past this many recorded `conflicts` and refusals")
	mergeBatch := fs.Int("merge-batch", merger.DefaultBatch, "merge uploads this many `changes` per server transaction")
	verbose := fs.Bool("v", false, "log debug messages")
	limits := limitFlags(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: server takes no arguments, got %q", errUsage, pos[0])
	}
	proxies, err := loginguard.ParseProxies(*trustedProxy)
	if err != nil {
		return fmt.Errorf("%w: --trusted-proxy: %w", errUsage, err)
	}
	var s *fieldsync.Schema
	if *schemaFile != "" {
		if s, err = schema.Load(*schemaFile); err != nil {
			return err
		}
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg := server.Config{DataDir: *data, DB: *db, Listen: *listen, MaxFileBytes: *maxFile, MaxSessions: *maxSessions, MaxUploadBytes: *maxUpload, NodeFileLimit: *nodeFileLimit, Schema: s, MaxBodyBytes: *maxBody,
		RouterPartitions: *parts, RouterPartition: *part, KeepSessions: *keepSessions, TLSCert: *tlsCert, TLSKey: *tlsKey, MaxLoginDelay: *maxLoginDelay, Logger: logger,
		OnRefusal: *onRefusal, MaxUploadChanges: *maxChanges, MaxUploadInflated: *maxInflated, MaxUploadInserts: *maxInserts,
		MaxUploadRecords: *maxRecords, MergeBatch: *mergeBatch,
		Limits: *limits, TrustedProxies: proxies}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	// Refused before it announces anything when another process runs its
	// router partitions on this folder.
	if err := srv.Claim(ctx); err != nil {
		return err
	}
	var ln net.Listener
	if srv.Runs(server.API) || srv.Runs(server.Sync) {
		if ln, err = srv.Listen(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "fieldsync server listening on %s://%s (data %s, admin token in %s)\n", srv.Scheme(), ln.Addr(), *data, srv.TokenPath())
	} else {
		fmt.Fprintf(stdout, "fieldsync server running %s (data %s)\n", *only, *data)
	}
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "fieldsync server stopped")
	return nil
}

// sizeFlags registers the flags of the largest requests and files, and of
// the sessions of all nodes.
func sizeFlags(fs *flag.FlagSet) (maxBody, maxFile *int64, maxSessions *int, maxUpload *int64) {
	maxBody = fs.Int64("max-body", 1<<20, "largest API request body, in `bytes`")
	maxFile = fs.Int64("max-file", 1<<30, "largest attachment file, in `bytes`")
	maxSessions = fs.Int("max-sessions", syncmgr.DefaultMaxSessions, "synchronization `sessions` of all nodes open at once (past it: busy, retry later)")
	maxUpload = fs.Int64("max-upload", syncmgr.DefaultMaxUploadBytes, "largest upload file a node may send, compressed, in `bytes`")
	return maxBody, maxFile, maxSessions, maxUpload
}

// limitFlags registers the flags of what one node may take of the server
// (docs/sync.md "Limits").
func limitFlags(fs *flag.FlagSet) *server.Limits {
	var l server.Limits
	fs.IntVar(&l.NodeSessions, "node-sessions", syncmgr.DefaultMaxNodeSessions, "sessions one node may hold open (past it its least recently used one ends)")
	fs.IntVar(&l.NodeRequests, "node-requests", syncmgr.DefaultMaxNodeRequests, "requests of one node that may run at once, news waits apart")
	fs.IntVar(&l.NodeNews, "node-news", syncmgr.DefaultMaxNodeNews, "news requests of one node that may wait at once")
	fs.IntVar(&l.NewsWaiters, "news-waiters", syncmgr.DefaultMaxNewsWaiters, "news requests of all nodes that may wait at once")
	fs.IntVar(&l.UploadsAhead, "uploads-ahead", syncmgr.DefaultUploadsAhead, "how far past its last merged upload a node's upload may be numbered")
	fs.Int64Var(&l.DailyBytes, "node-daily-bytes", syncmgr.DefaultMaxNodeDailyBytes, "`bytes` one node's uploads (values and whole files) may write on the server over a day before its next ones wait")
	fs.Int64Var(&l.DailyInserts, "node-daily-inserts", syncmgr.DefaultMaxNodeDailyInserts, "`rows` one node's uploads may insert on the server over a day before its next ones wait")
	fs.IntVar(&l.PartialFiles, "node-partial-files", filestore.DefaultPartialCount, "attachment file uploads one node may leave unfinished")
	fs.Int64Var(&l.PartialBytes, "node-partial-bytes", filestore.DefaultPartialBytes, "`bytes` one node's unfinished file uploads may hold together")
	fs.DurationVar(&l.PartialExpire, "partial-expire", filestore.DefaultPartialExpire, "drop an unfinished file upload this `long` after its last piece")
	return &l
}

func schemaCmd(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: schema takes no arguments", errUsage)
	}
	_, err := stdout.Write(schema.DefaultYAML())
	return err
}
