package loginguard

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseProxy(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  ", nil},
		{"127.0.0.1", []string{"127.0.0.1/32"}},
		{"10.0.0.0/8, 127.0.0.1", []string{"10.0.0.0/8", "127.0.0.1/32"}},
		{"10.1.2.3/8", []string{"10.0.0.0/8"}},
		{"::1,fd00::/8", []string{"::1/128", "fd00::/8"}},
		{"::ffff:192.0.2.9", []string{"192.0.2.9/32"}},
		{"::ffff:10.0.0.0/104", []string{"10.0.0.0/8"}},
	} {
		got, err := ParseProxies(c.in)
		if err != nil {
			t.Fatalf("ParseProxies(%q): %v", c.in, err)
		}
		var strs []string
		for _, p := range got {
			strs = append(strs, p.String())
		}
		if !slices.Equal(strs, c.want) {
			t.Fatalf("ParseProxies(%q) = %v, want %v", c.in, strs, c.want)
		}
	}
}

func TestParseProxyNamesTheBadEntry(t *testing.T) {
	for _, c := range []struct{ in, bad string }{
		{"10.0.0.0/8,proxy.internal", `"proxy.internal"`},
		{"10.0.0.0/33", `"10.0.0.0/33"`},
		{"127.0.0.1, 300.1.1.1", `"300.1.1.1"`},
		{"fe80::1%eth0", `"fe80::1%eth0"`},
		{"10.0.0.0/8,", `"10.0.0.0/8," have an empty entry`},
	} {
		_, err := ParseProxies(c.in)
		if err == nil || !strings.Contains(err.Error(), c.bad) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("ParseProxies(%q): %v, want one line naming %s", c.in, err, c.bad)
		}
	}
}

func request(remote string, xff ...string) *http.Request {
	r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return r
}

func TestClientAddrBehindProxy(t *testing.T) {
	trusted, err := ParseProxies("10.0.0.0/8,127.0.0.1,::1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct, no header", "192.0.2.7:4000", nil, "192.0.2.7:4000"},
		{"untrusted peer's header ignored", "192.0.2.7:4000", []string{"198.51.100.1"}, "192.0.2.7:4000"},
		{"trusted proxy without header", "127.0.0.1:4000", nil, "127.0.0.1:4000"},
		{"one proxy", "127.0.0.1:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client's own entries left of it ignored", "127.0.0.1:4000", []string{"203.0.113.5, 198.51.100.1"}, "198.51.100.1"},
		{"trusted hops skipped", "10.1.1.1:4000", []string{"203.0.113.5, 198.51.100.1, 10.2.2.2,127.0.0.1"}, "198.51.100.1"},
		{"several headers in order", "127.0.0.1:4000", []string{"203.0.113.5", "198.51.100.1, 10.2.2.2"}, "198.51.100.1"},
		{"all trusted: the leftmost", "127.0.0.1:4000", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3"},
		{"IPv6 client", "[::1]:4000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv4-mapped proxy and client", "[::ffff:127.0.0.1]:4000", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"malformed entry", "127.0.0.1:4000", []string{"not-an-ip"}, "127.0.0.1:4000"},
		{"malformed behind a trusted hop", "127.0.0.1:4000", []string{"198.51.100.1, bad, 10.2.2.2"}, "127.0.0.1:4000"},
		{"malformed left of the client ignored", "127.0.0.1:4000", []string{"bad, 198.51.100.1"}, "198.51.100.1"},
		{"with a port", "127.0.0.1:4000", []string{"198.51.100.1:5555"}, "127.0.0.1:4000"},
		{"empty entry", "127.0.0.1:4000", []string{"198.51.100.1,"}, "127.0.0.1:4000"},
		{"empty header", "127.0.0.1:4000", []string{""}, "127.0.0.1:4000"},
		{"unparsable remote", "@", []string{"198.51.100.1"}, "@"},
	} {
		if got := ClientAddr(request(c.remote, c.xff...), trusted); got != c.want {
			t.Errorf("%s: ClientAddr = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestClientAddrWithoutTrustedProxy(t *testing.T) {
	for _, trusted := range [][]netip.Prefix{nil, {}} {
		r := request("127.0.0.1:4000", "198.51.100.1")
		if got := ClientAddr(r, trusted); got != "127.0.0.1:4000" {
			t.Fatalf("no trusted proxies: ClientAddr = %q, want the remote address", got)
		}
	}
}

// TestProxyForwardedAddressesCountApart: behind a trusted proxy, two clients'
// failures count against their own addresses, not the proxy's.
func TestProxyForwardedAddressesCountApart(t *testing.T) {
	c := newClock()
	g := guard(c, Config{FreeAddr: 2})
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	one := Addr(ClientAddr(request("127.0.0.1:1", "198.51.100.1"), trusted))
	other := Addr(ClientAddr(request("127.0.0.1:2", "198.51.100.2"), trusted))
	for range 3 {
		g.Fail(one)
	}
	if g.Wait(one) == 0 || g.Wait(other) != 0 || g.Wait(Addr("127.0.0.1:3")) != 0 {
		t.Fatalf("waits: one %v, other %v, proxy %v", g.Wait(one), g.Wait(other), g.Wait(Addr("127.0.0.1:3")))
	}
}
