package loginguard

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseProxies parses a comma-separated list of trusted reverse proxies:
// CIDR prefixes (10.0.0.0/8, fd00::/8) and bare addresses (127.0.0.1, ::1,
// each its own /32 or /128). An empty list trusts none.
func ParseProxies(list string) ([]netip.Prefix, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var out []netip.Prefix
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, fmt.Errorf("trusted proxies %q have an empty entry (a comma too many?)", list)
		}
		p, err := parseProxy(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("trusted proxy %q is not a CIDR prefix (such as 10.0.0.0/8 or fd00::/8)", s)
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 { // ::ffff:10.0.0.0/104 is 10.0.0.0/8
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("trusted proxy %q is not an IP address or CIDR prefix (such as 127.0.0.1 or 10.0.0.0/8)", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ClientAddr returns the address a request is counted against: its
// RemoteAddr, unless that is one of the trusted proxies. Then the
// X-Forwarded-For header is read from the right, the trusted addresses in
// it skipped, and the first address not trusted is the client's (the
// leftmost if all are trusted); what lies to its left was written by the
// client and is ignored. A malformed entry met before it, or no header,
// leaves RemoteAddr. Without trusted proxies the header is never read, so
// that a client cannot choose the address it is counted by.
func ClientAddr(r *http.Request, trusted []netip.Prefix) string {
	if len(trusted) == 0 || !isTrusted(addrOf(r.RemoteAddr), trusted) {
		return r.RemoteAddr
	}
	var entries []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		entries = append(entries, strings.Split(v, ",")...)
	}
	client := ""
	for i := len(entries) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(entries[i]))
		if err != nil {
			return r.RemoteAddr
		}
		client = a.WithZone("").Unmap().String()
		if !isTrusted(a, trusted) {
			break
		}
	}
	if client == "" {
		return r.RemoteAddr
	}
	return client
}

// addrOf returns the IP address of a host:port (or a bare host); the zero
// address when it is none.
func addrOf(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, _ := netip.ParseAddr(host)
	return a
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	if !a.IsValid() {
		return false
	}
	a = a.WithZone("").Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
