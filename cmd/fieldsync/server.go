package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fieldsync/fieldsync/filestore"
	"github.com/fieldsync/fieldsync/internal/loginguard"
	"github.com/fieldsync/fieldsync/merger"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncmgr"
)

// serverFlags are the server's settings that are not server.Config fields
// as they are.
type serverFlags struct {
	schemaFile, only, trustedProxy, config, logFormat string
	verbose                                           bool
}

func serverCmd() *cobra.Command {
	var cfg server.Config
	var sf serverFlags
	cmd := &cobra.Command{
		Use:   "server [--db URL] [--data DIR] [--listen ADDR] [--tls-cert FILE --tls-key FILE] [--schema FILE] [--only COMPONENTS] [--router-partitions N --router-partition K] [--config FILE]",
		Short: "run the server: every component, or those of --only (fieldsync server --help lists every setting)",
		Long: `Components: ` + strings.Join(server.Components, ", ") + `. Each setting comes from its flag, else from the
environment variable FIELDSYNC_ and the flag's name in upper snake case (FIELDSYNC_DB,
FIELDSYNC_MAX_BODY), else from the --config file (lines of "flag-name: value"), else its
default. The server stops gracefully on SIGINT or SIGTERM.`,
		Example: `fieldsync server
fieldsync server --db postgres://fieldsync@db.internal:5432/fieldsync --data /srv/fieldsync --listen 0.0.0.0:7070
fieldsync server --only processor,router --router-partitions 2 --router-partition 1
FIELDSYNC_DB=postgres://db.internal/fieldsync fieldsync server --config /etc/fieldsync.yaml`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := settings(cmd.Flags(), sf.config); err != nil {
				return err
			}
			if err := sf.complete(&cfg, cmd.ErrOrStderr()); err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "v" { // --v, as Go's flag package took -v
			name = "verbose"
		}
		return pflag.NormalizedName(name)
	})
	mainFlags(fs, &cfg, &sf)
	sizeFlags(fs, &cfg)
	mergeFlags(fs, &cfg)
	limitFlags(fs, &cfg.Limits)
	return cmd
}

// complete fills in what the flags give through a conversion: the schema
// file, the components, the trusted proxies, the logger.
func (sf *serverFlags) complete(cfg *server.Config, stderr io.Writer) error {
	proxies, err := loginguard.ParseProxies(sf.trustedProxy)
	if err != nil {
		return fmt.Errorf("%w: --trusted-proxy: %w", errUsage, err)
	}
	cfg.TrustedProxies = proxies
	if sf.schemaFile != "" {
		if cfg.Schema, err = schema.Load(sf.schemaFile); err != nil {
			return err
		}
	}
	if sf.only != "" {
		cfg.Only = strings.Split(sf.only, ",")
	}
	level := slog.LevelInfo
	if sf.verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: utcTime}
	switch sf.logFormat {
	case "text", "":
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, opts))
	case "json":
		cfg.Logger = slog.New(slog.NewJSONHandler(stderr, opts))
	default:
		return fmt.Errorf("%w: --log-format %q: choose text or json", errUsage, sf.logFormat)
	}
	cfg.Version = buildVersion()
	return nil
}

// utcTime logs the time of each record in UTC.
func utcTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		a.Value = slog.TimeValue(a.Value.Time().UTC())
	}
	return a
}

// serve opens the server and runs it until ctx ends.
func serve(ctx context.Context, cfg server.Config, stdout io.Writer) error {
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
	mln, err := srv.ListenMetrics()
	if err != nil {
		return err
	}
	if mln != nil {
		fmt.Fprintf(stdout, "fieldsync server metrics on http://%s/metrics\n", mln.Addr())
	}
	var ln net.Listener
	if srv.Runs(server.API) || srv.Runs(server.Sync) {
		if ln, err = srv.Listen(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "fieldsync server listening on %s://%s (data %s, admin token in %s)\n", srv.Scheme(), ln.Addr(), cfg.DataDir, srv.TokenPath())
	} else {
		fmt.Fprintf(stdout, "fieldsync server running %s (data %s)\n", strings.Join(cfg.Only, ","), cfg.DataDir)
	}
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "fieldsync server stopped")
	return nil
}

// mainFlags registers where the server keeps its data, where it listens,
// what it runs, and its settings file.
func mainFlags(fs *pflag.FlagSet, cfg *server.Config, sf *serverFlags) {
	fs.StringVar(&cfg.DataDir, "data", "./fieldsync-data", "the data folder `DIR`: database, admin token, docking folder")
	fs.StringVar(&cfg.DB, "db", "", "server database `URL` (postgres://...; default: SQLite in the data folder)")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:7070", "the API's address `ADDR` (host:port)")
	fs.StringVar(&sf.schemaFile, "schema", "", "schema `FILE` (default: the one the database recorded at its last start; the built-in CRM schema on a new database)")
	fs.StringVar(&sf.only, "only", "", "run only these `COMPONENTS`, comma-separated: "+strings.Join(server.Components, ", "))
	fs.IntVar(&cfg.RouterPartitions, "router-partitions", 1, "split nodes between `N` Transaction Routers (the same N in every process)")
	fs.IntVar(&cfg.RouterPartition, "router-partition", -1, "run only router partition `K` (0 to N-1; -1: all of them)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "serve HTTPS with this PEM certificate `FILE` (and its chain); needs --tls-key")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "the PEM private key `FILE` of --tls-cert")
	fs.DurationVar(&cfg.KeepSessions, "keep-sessions", 30*24*time.Hour, "keep records of finished synchronization sessions for `DURATION` (a node's latest is always kept)")
	fs.DurationVar(&cfg.KeepHistory, "keep-history", 365*24*time.Hour, "keep the change history of rows (a record's history) for `DURATION`")
	fs.DurationVar(&cfg.MaxLoginDelay, "max-login-delay", time.Minute, "make a node name or address that keeps failing to log in wait at most `DURATION` between attempts")
	fs.StringVar(&sf.trustedProxy, "trusted-proxy", "", "reverse `PROXIES` (addresses or CIDR prefixes, comma-separated) whose X-Forwarded-For gives the client address that failed logins count against")
	fs.StringVar(&sf.config, "config", "", "read the settings no flag or environment variable gives from `FILE` (lines of flag-name: value)")
	fs.BoolVarP(&sf.verbose, "verbose", "v", false, "log debug messages")
	fs.StringVar(&sf.logFormat, "log-format", "text", "log `FORMAT`: text or json")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", "", "serve /metrics, /health and /ready on `ADDR` (host:port; default: none)")
}

// sizeFlags registers the flags of the largest requests and files, and of
// the sessions of all nodes.
func sizeFlags(fs *pflag.FlagSet, cfg *server.Config) {
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body", 1<<20, "largest API request body, in `BYTES`")
	fs.Int64Var(&cfg.MaxFileBytes, "max-file", 1<<30, "largest attachment file, in `BYTES`")
	fs.Int64Var(&cfg.NodeFileLimit, "node-file-limit", 0, "published files larger than `BYTES` are offered to nodes as requested (0: no limit)")
	fs.IntVar(&cfg.MaxSessions, "max-sessions", syncmgr.DefaultMaxSessions, "at most `N` synchronization sessions of all nodes open at once (past it: busy, retry later)")
	fs.Int64Var(&cfg.MaxUploadBytes, "max-upload", syncmgr.DefaultMaxUploadBytes, "largest upload file a node may send, compressed, in `BYTES`")
}

// mergeFlags registers what the Transaction Merger takes of one upload, and
// what a refused change does to its node.
func mergeFlags(fs *pflag.FlagSet, cfg *server.Config) {
	fs.StringVar(&cfg.OnRefusal, "on-refusal", "continue", "what a refused change does to its node, `ACTION`: continue, stop (until admin node resume) or deactivate")
	fs.Int64Var(&cfg.MaxUploadChanges, "max-upload-changes", merger.DefaultMaxChanges, "refuse an upload of more than `N` changes")
	fs.Int64Var(&cfg.MaxUploadInflated, "max-upload-inflated", merger.DefaultMaxBytes, "refuse an upload whose body decompresses to more than `BYTES`")
	fs.Int64Var(&cfg.MaxUploadInserts, "max-upload-inserts", merger.DefaultMaxInserts, "refuse the rest of an upload past `N` inserted rows")
	fs.Int64Var(&cfg.MaxUploadRecords, "max-upload-records", merger.DefaultMaxRecords, "refuse the rest of an upload past `N` recorded conflicts and refusals")
	fs.IntVar(&cfg.MergeBatch, "merge-batch", merger.DefaultBatch, "merge uploads `N` changes per server transaction")
}

// limitFlags registers the flags of what one node may take of the server
// (docs/sync.md "Limits").
func limitFlags(fs *pflag.FlagSet, l *server.Limits) {
	fs.IntVar(&l.NodeSessions, "node-sessions", syncmgr.DefaultMaxNodeSessions, "at most `N` sessions one node holds open (past it its least recently used one ends)")
	fs.IntVar(&l.NodeRequests, "node-requests", syncmgr.DefaultMaxNodeRequests, "at most `N` requests of one node running at once (news waits apart)")
	fs.IntVar(&l.NodeNews, "node-news", syncmgr.DefaultMaxNodeNews, "at most `N` news requests of one node waiting at once")
	fs.IntVar(&l.NewsWaiters, "news-waiters", syncmgr.DefaultMaxNewsWaiters, "at most `N` news requests of all nodes waiting at once")
	fs.IntVar(&l.UploadsAhead, "uploads-ahead", syncmgr.DefaultUploadsAhead, "a node's upload may be numbered at most `N` past its last merged one")
	fs.Int64Var(&l.DailyBytes, "node-daily-bytes", syncmgr.DefaultMaxNodeDailyBytes, "`BYTES` one node's uploads (values and whole files) may write on the server over a day before its next ones wait")
	fs.Int64Var(&l.DailyInserts, "node-daily-inserts", syncmgr.DefaultMaxNodeDailyInserts, "`ROWS` one node's uploads may insert on the server over a day before its next ones wait")
	fs.IntVar(&l.PartialFiles, "node-partial-files", filestore.DefaultPartialCount, "at most `N` attachment file uploads one node leaves unfinished")
	fs.Int64Var(&l.PartialBytes, "node-partial-bytes", filestore.DefaultPartialBytes, "`BYTES` one node's unfinished file uploads may hold together")
	fs.DurationVar(&l.PartialExpire, "partial-expire", filestore.DefaultPartialExpire, "drop an unfinished file upload `DURATION` after its last piece")
}
