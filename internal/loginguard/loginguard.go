// Package loginguard slows failed logins down and keeps their log lines
// few. The Synchronization Manager (node name and secret) and the API
// (bearer tokens) ask a Guard before they check a credential: after a few
// failures of one key (a node name, a remote address) every further
// failure makes the key wait twice as long, up to a cap, and while it
// waits its attempts are answered "retry later" without being checked.
// A correct login clears its key.
//
// The Guard remembers a bounded number of keys, the least recently failed
// forgotten first, and forgets a key once it has not failed for a while,
// so a flood of made-up names or addresses cannot make it grow.
package loginguard

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/httperr"
)

// Config says how failed logins are slowed. Zero fields take the defaults.
type Config struct {
	// Free is how many failures of a node name go unslowed (default 5);
	// FreeAddr the same for a remote address (default 20: many laptops may
	// share one address behind a NAT).
	Free, FreeAddr int
	// Delay is the wait after the first slowed failure (default 1 s); it
	// doubles with every further failure up to MaxDelay (default 1 min).
	Delay, MaxDelay time.Duration
	// Forget is how long a key is remembered after its last failure
	// (default 15 min).
	Forget time.Duration
	// MaxKeys bounds the keys remembered (default 10,000).
	MaxKeys int
	// LogEvery is the period of the log's limits (default 1 min): a node
	// name's failures are logged once in it, an address's LogAddr times
	// (default 5); a line counts the failures left unlogged before it.
	LogEvery time.Duration
	LogAddr  int
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Free, 5)
	def(&c.FreeAddr, 20)
	def(&c.MaxKeys, 10000)
	def(&c.LogAddr, 5)
	defDur(&c.Delay, time.Second)
	defDur(&c.MaxDelay, time.Minute)
	defDur(&c.Forget, 15*time.Minute)
	defDur(&c.LogEvery, time.Minute)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Key is what failures are counted against: a node name or a remote
// address.
type Key struct {
	kind  byte // 'n' a name, 'a' an address
	value string
}

// Name is the key of a node name. Names longer than any node's share the
// key of their first 64 bytes, so that keys stay small.
func Name(name string) Key {
	if len(name) > 64 {
		name = name[:64]
	}
	return Key{'n', name}
}

// Addr is the key of a request's remote address (host:port as
// http.Request.RemoteAddr has it). IPv6 addresses count by their /64
// network, which one machine usually holds whole.
func Addr(remote string) Key {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return Key{'a', host}
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return Key{'a', p.String()}
	}
	return Key{'a', ip.String()}
}

// Throttled is the error an attempt that must wait is answered with: 429
// (code throttled) with a Retry-After of the wait. It is the same for every
// name, known or not.
func Throttled(wait time.Duration) error {
	secs := max(1, int64((wait+time.Second-1)/time.Second))
	return httperr.WithRetryAfter(fieldsync.Errorf(fieldsync.ErrThrottled,
		"too many failed logins for this name or from this address: retry in %d s", secs), wait)
}

// entry is what the Guard remembers of one key.
type entry struct {
	key        Key
	failures   int
	last       time.Time // the last failure
	until      time.Time // attempts before this wait
	period     time.Time // when the log's current period began
	lines      int       // lines logged in it
	suppressed int       // failures not logged since the last line
}

// Guard counts failed logins by key. It is safe for concurrent use.
type Guard struct {
	cfg Config

	mu    sync.Mutex
	keys  map[Key]*list.Element // of *entry
	order *list.List            // most recently failed first
}

// New returns a Guard.
func New(cfg Config) *Guard {
	return &Guard{cfg: cfg.withDefaults(), keys: map[Key]*list.Element{}, order: list.New()}
}

// Wait returns how long the keys must still wait before an attempt is
// checked: 0 when every key may try now.
func (g *Guard) Wait(keys ...Key) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.cfg.Now()
	var wait time.Duration
	for _, k := range keys {
		if e := g.get(k, now); e != nil {
			wait = max(wait, e.until.Sub(now))
		}
	}
	return wait
}

// Report is what Fail and Refused say about logging a failure.
type Report struct {
	// Log says the failure should be logged: every key is within its
	// limit of lines.
	Log bool
	// Failures is the failures of the first key, this one included.
	Failures int
	// Suppressed is the failures left unlogged since the keys' last line,
	// the most of any key.
	Suppressed int
}

// Fail records a failed login of the keys and makes them wait as their
// failures say.
func (g *Guard) Fail(keys ...Key) Report {
	return g.record(true, keys)
}

// Refused records an attempt answered "retry later" without a check: it
// counts for the log, not for the wait.
func (g *Guard) Refused(keys ...Key) Report {
	return g.record(false, keys)
}

func (g *Guard) record(failed bool, keys []Key) Report {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.cfg.Now()
	var r Report
	r.Log = true
	es := make([]*entry, len(keys))
	for i, k := range keys {
		e := g.touch(k, now)
		es[i] = e
		if failed {
			e.failures++
			e.until = now.Add(g.delay(k, e.failures))
		}
		if i == 0 {
			r.Failures = e.failures
		}
		if now.Sub(e.period) >= g.cfg.LogEvery {
			e.period, e.lines = now, 0
		}
		if e.lines >= g.logLimit(k) {
			r.Log = false
		}
		r.Suppressed = max(r.Suppressed, e.suppressed)
	}
	for _, e := range es {
		if r.Log {
			e.lines++
			e.suppressed = 0
		} else {
			e.suppressed++
		}
	}
	return r
}

// logLimit is how many lines a key may log in a period.
func (g *Guard) logLimit(k Key) int {
	if k.kind == 'a' {
		return g.cfg.LogAddr
	}
	return 1
}

// delay is the wait after a key's nth failure.
func (g *Guard) delay(k Key, n int) time.Duration {
	free := g.cfg.Free
	if k.kind == 'a' {
		free = g.cfg.FreeAddr
	}
	if n <= free {
		return 0
	}
	d := g.cfg.Delay
	for i := free + 1; i < n && d < g.cfg.MaxDelay; i++ {
		d *= 2
	}
	return min(d, g.cfg.MaxDelay)
}

// Succeed forgets the keys' failures: a correct login.
func (g *Guard) Succeed(keys ...Key) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, k := range keys {
		if el := g.keys[k]; el != nil {
			g.order.Remove(el)
			delete(g.keys, k)
		}
	}
}

// Len returns how many keys the Guard remembers.
func (g *Guard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.keys)
}

// get returns a key's entry, or nil when it is not remembered (or no
// longer: forgotten after Forget).
func (g *Guard) get(k Key, now time.Time) *entry {
	el := g.keys[k]
	if el == nil {
		return nil
	}
	e := el.Value.(*entry)
	if now.Sub(e.last) >= g.cfg.Forget {
		g.order.Remove(el)
		delete(g.keys, k)
		return nil
	}
	return e
}

// touch returns a key's entry, made when needed, as the most recently
// failed; it drops the keys past Forget and, past MaxKeys, the least
// recently failed.
func (g *Guard) touch(k Key, now time.Time) *entry {
	e := g.get(k, now)
	if e != nil {
		g.order.MoveToFront(g.keys[k])
	} else {
		e = &entry{key: k}
		g.keys[k] = g.order.PushFront(e)
	}
	e.last = now
	for g.order.Len() > 0 {
		back := g.order.Back()
		old := back.Value.(*entry)
		if len(g.keys) <= g.cfg.MaxKeys && now.Sub(old.last) < g.cfg.Forget {
			break
		}
		g.order.Remove(back)
		delete(g.keys, old.key)
	}
	return e
}
