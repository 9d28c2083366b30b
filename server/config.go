package server

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/buildinfo"
	"github.com/fieldsync/fieldsync/merger"
	"github.com/fieldsync/fieldsync/syncmgr"
)

// Component names, for Config.Only.
const (
	API       = "api"
	Processor = "processor"
	Router    = "router"
	Sync      = "sync"
	Merger    = "merger"
	Extract   = "extract"
)

// Components lists every component a server can run.
var Components = []string{API, Sync, Processor, Router, Merger, Extract}

// Config configures a server.
type Config struct {
	// DataDir holds the database, the admin token and the docking folder
	// (default ./fieldsync-data).
	DataDir string
	// DB is the server database: empty for the embedded SQLite file in
	// DataDir, or a postgres://... URL.
	DB string
	// Listen is the API's address (default 127.0.0.1:7070).
	Listen string
	// MetricsListen, when set, is the address /metrics, /health and /ready
	// are served on, for every process kind (docs/operations.md).
	MetricsListen string
	// Schema is the synchronized schema. Nil: the one the database
	// recorded at its last start (the built-in CRM schema on a new
	// database). Open records the schema it starts with; one that differs
	// from the recorded one is applied (tables and columns added) and logged
	// as "schema changed: ...".
	Schema *fieldsync.Schema
	// MaxBodyBytes limits API request bodies (default 1 MiB).
	MaxBodyBytes int64
	// Only runs just these components (default: all).
	Only []string
	// RouterPartitions splits nodes between that many routers. RouterPartition
	// picks the one this process runs; -1 runs them all.
	RouterPartitions, RouterPartition int
	// MaxSessions limits concurrent synchronization sessions (default 256).
	MaxSessions int
	// MaxUploadBytes limits one uploaded file (default 64 MiB).
	MaxUploadBytes int64
	// Limits bound what one node takes of the server (zero fields: the
	// defaults; docs/sync.md "Limits").
	Limits Limits
	// MaxFileBytes limits one attachment file (default 1 GiB).
	MaxFileBytes int64
	// NodeFileLimit: published files larger than this are offered to nodes
	// as requested ones (0: no limit).
	NodeFileLimit int64
	// FileGrace is how old a file no row names must be before it is
	// removed (default 24 h); GCEvery how often that is checked (default 1 h).
	FileGrace, GCEvery time.Duration
	// KeepSessions is how long the records of finished synchronization
	// sessions are kept (default 30 days; a node's latest is always kept).
	// They are pruned every GCEvery.
	KeepSessions time.Duration
	// KeepHistory is how long the change history of rows (who changed a
	// row, when, from where: a record's history) is kept once the routers
	// are done with the entries (default 365 days); pruned every GCEvery.
	KeepHistory time.Duration
	// TLSCert and TLSKey, both set, are the PEM files of the certificate
	// (with its chain) and private key the API and Synchronization
	// Manager serve HTTPS with; unset, they serve plain HTTP.
	TLSCert, TLSKey string
	// AdminToken, when set, is the administrator's API token: Open
	// registers it, revokes the token configured before for this data
	// folder (the tokens of other folders and processes stay), and neither
	// reads nor writes DATA/admin.token.
	AdminToken string
	// NoTokenFile keeps the administrator's token out of the data folder:
	// without AdminToken, Open makes a new token of this process's own
	// (Server.Token returns it; Close revokes it), and writes no
	// DATA/admin.token. For programs that embed the server and administer
	// it in-process (Server.Admin) or hand the token on themselves.
	NoTokenFile bool
	// Poll is how often the Transaction Processor, the Transaction Router
	// and the news requests look for work that nobody signalled (a write
	// or a routing by another process); default 200 ms for the first two
	// and 50 ms for news. In one process each step wakes the next
	// directly, so a long Poll changes nothing there (a test sets it to an
	// hour to check that).
	Poll time.Duration
	// RouteWait is how long a node's sync start waits for the routers to
	// route what was logged before it (default 100 ms; negative: no wait):
	// docs/sync.md, "Session".
	RouteWait time.Duration
	// Coalesce tunes how the outbox files of nodes away are coalesced
	// (docs/sync.md, "Coalesced outbox files"); zero: the defaults.
	Coalesce syncmgr.Coalesce
	// MaxLoginDelay caps how long a node name or remote address that keeps
	// failing to log in (to the Synchronization Manager or the API) is made
	// to wait before its next attempt is checked (default 1 min). The wait
	// starts at 1 s after 5 failures of a name or 20 of an address, and
	// doubles with each further failure.
	MaxLoginDelay time.Duration
	// TrustedProxies are the reverse proxies (by address or CIDR prefix;
	// loginguard.ParseProxies reads a list) in front of the API and the
	// Synchronization Manager: a request from one of them is counted, for
	// slowing failed logins, and logged against the client address its
	// X-Forwarded-For header gives. None (the default): the header is
	// ignored and every request counts against its own remote address.
	TrustedProxies []netip.Prefix
	// OnRefusal says what a change (or upload) the Transaction Merger
	// refuses does to its node: continue (default), stop merging its
	// uploads until an administrator resumes it, or deactivate it.
	OnRefusal string
	// Caps on one upload's work (zero: merger's defaults): its changes
	// (100,000), its body once decompressed (64 MiB), the rows it inserts
	// (50,000), the conflicts and refusals recorded for it (1,000), and
	// the changes merged in one server transaction (1,000).
	MaxUploadChanges, MaxUploadInflated, MaxUploadInserts, MaxUploadRecords int64
	MergeBatch                                                              int
	Logger                                                                  *slog.Logger
	// Version is the version GET /health reports (default: fieldsync's
	// version as the binary's build information gives it).
	Version string
}

// Limits bound what one node takes of the server, so that no node slows
// it for the others or stops it (docs/sync.md "Limits").
type Limits struct {
	// NodeSessions is how many sessions one node may hold open (default
	// 2): past it a new session ends the node's least recently used one,
	// or is refused when each has a request running.
	NodeSessions int
	// NodeRequests is how many requests of one node may run at once, news
	// waits apart (default 8).
	NodeRequests int
	// NodeNews is how many news requests of one node may wait at once
	// (default 2); NewsWaiters how many of all nodes (default 1000).
	NodeNews, NewsWaiters int
	// UploadsAhead is how far past its last merged upload a node's upload
	// may be numbered (default 16).
	UploadsAhead int
	// DailyBytes and DailyInserts bound what one node's uploads write on
	// the server over a day: bytes of values and whole files (default 2
	// GiB), rows inserted (default 200,000). Past either, its next uploads
	// wait.
	DailyBytes, DailyInserts int64
	// PartialFiles is how many attachment file uploads one node may leave
	// unfinished (default 8), PartialBytes how much they may hold
	// together (default 2 GiB); PartialExpire drops one this long after
	// its last piece (default 1 h).
	PartialFiles  int
	PartialBytes  int64
	PartialExpire time.Duration
}

// withDefaults fills in the defaults and checks what must be right.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = "fieldsync-data"
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:7070"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = buildinfo.Version()
	}
	if len(cfg.Only) == 0 {
		cfg.Only = Components
	}
	for _, c := range cfg.Only {
		if !slices.Contains(Components, c) {
			return cfg, fmt.Errorf("unknown component %q (choose from %s)", c, strings.Join(Components, ", "))
		}
	}
	if _, err := merger.ParseOnRefusal(cfg.OnRefusal); err != nil {
		return cfg, err
	}
	if cfg.RouterPartitions <= 0 {
		cfg.RouterPartitions = 1
	}
	if cfg.RouterPartition >= cfg.RouterPartitions {
		return cfg, fmt.Errorf("router partition %d does not exist: there are %d (0 to %d)", cfg.RouterPartition, cfg.RouterPartitions, cfg.RouterPartitions-1)
	}
	return cfg, nil
}
