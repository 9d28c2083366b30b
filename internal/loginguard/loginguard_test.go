package loginguard

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// clock is a test clock that moves only when told.
type clock struct{ t time.Time }

func (c *clock) now() time.Time           { return c.t }
func (c *clock) add(d time.Duration)      { c.t = c.t.Add(d) }
func newClock() *clock                    { return &clock{t: time.Unix(1_000_000, 0)} }
func guard(c *clock, cfg Config) *Guard   { cfg.Now = c.now; return New(cfg) }
func waits(g *Guard, k Key) time.Duration { return g.Wait(k) }

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	c := newClock()
	g := guard(c, Config{Free: 2, Delay: time.Second, MaxDelay: 5 * time.Second})
	ann := Name("ann")
	want := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		g.Fail(ann)
		if got := waits(g, ann); got != w {
			t.Fatalf("after failure %d: wait %v, want %v", i+1, got, w)
		}
		c.add(w) // the client waits as told
	}
	if got := waits(g, Name("bob")); got != 0 {
		t.Fatalf("another name waits %v", got)
	}
	g.Succeed(ann)
	g.Fail(ann)
	if got := waits(g, ann); got != 0 {
		t.Fatalf("after a correct login and one failure: wait %v, want 0", got)
	}
}

func TestAddressHasItsOwnAllowance(t *testing.T) {
	c := newClock()
	g := guard(c, Config{Free: 1, FreeAddr: 3})
	addr := Addr("192.0.2.7:40000")
	for i := range 4 {
		g.Fail(Name(fmt.Sprint("n", i)), addr)
	}
	if got := g.Wait(Name("fresh"), addr); got != time.Second {
		t.Fatalf("a fourth failure from one address: wait %v, want 1s", got)
	}
	if got := g.Wait(Name("fresh"), Addr("192.0.2.8:1")); got != 0 {
		t.Fatalf("another address waits %v", got)
	}
}

func TestForgetsAfterAWhile(t *testing.T) {
	c := newClock()
	g := guard(c, Config{Free: 1, Forget: time.Minute})
	g.Fail(Name("ann"))
	g.Fail(Name("ann"))
	if waits(g, Name("ann")) == 0 {
		t.Fatal("no wait after two failures")
	}
	c.add(time.Minute)
	if got := waits(g, Name("ann")); got != 0 || g.Len() != 0 {
		t.Fatalf("after Forget: wait %v, %d keys", got, g.Len())
	}
}

func TestBoundedUnderAFloodOfNames(t *testing.T) {
	c := newClock()
	g := guard(c, Config{MaxKeys: 100, Free: 1})
	target := Name("ann")
	g.Fail(target)
	g.Fail(target)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 100_000 {
		g.Fail(Name(fmt.Sprintf("x%016x", rnd.Uint64())), Addr(fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255)))
		if g.Len() > 100 {
			t.Fatalf("after %d failures: %d keys, over MaxKeys", i+1, g.Len())
		}
		c.add(time.Millisecond)
	}
	if g.Len() != 100 {
		t.Fatalf("%d keys, want 100", g.Len())
	}
}

func TestLogLinesRateLimited(t *testing.T) {
	c := newClock()
	g := guard(c, Config{LogEvery: time.Minute, LogAddr: 5, Free: 1000, FreeAddr: 1000})
	addr := Addr("192.0.2.7:1")
	logged := 0
	for i := range 600 { // ten minutes, one failure a second, a new name each time
		r := g.Fail(Name(fmt.Sprint("n", i)), addr)
		if r.Log {
			logged++
			if want := map[bool]int{true: 55, false: 0}[i%60 == 0 && i > 0]; r.Suppressed != want {
				t.Fatalf("line %d (failure %d) counts %d suppressed, want %d", logged, i+1, r.Suppressed, want)
			}
		}
		c.add(time.Second)
	}
	if logged != 50 {
		t.Fatalf("%d lines for 600 failures from one address in 10 minutes, want 50", logged)
	}
	logged = 0
	for i := range 120 { // one name, many addresses: one line a minute
		if g.Fail(Name("ann"), Addr(fmt.Sprintf("198.51.100.%d:1", i))).Log {
			logged++
		}
		c.add(time.Second)
	}
	if logged != 2 {
		t.Fatalf("%d lines for 120 failures of one name in 2 minutes, want 2", logged)
	}
}

func TestAddr(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"192.0.2.7:1234", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:1234", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:1234", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:9", "2001:db8:1:2::/64"},
		{"not an address", "not an address"},
	} {
		if got := Addr(c.in).value; got != c.want {
			t.Errorf("Addr(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
