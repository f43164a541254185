package acl

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// addrPattern is one RocketMQ remote-address pattern (see the package doc).
// The zero value matches nothing (RocketMQ's blank pattern).
type addrPattern struct {
	text   string
	all    bool                       // "*"
	set    map[netip.Addr]bool        // exact, "{a,b}" or "a,b"
	ranges *[4]struct{ lo, hi uint8 } // IPv4 "1.2.3.4-9", "1.2.*"
}

// parseAddrPattern reads one pattern; "" is the blank pattern.
func parseAddrPattern(s string) (addrPattern, error) {
	s = strings.TrimSpace(s)
	p := addrPattern{text: s}
	switch {
	case s == "":
		return p, nil
	case s == "*" || s == "*.*.*.*" || s == "*:*:*:*:*:*:*:*":
		p.all = true
		return p, nil
	case strings.HasSuffix(s, "}"):
		open := strings.LastIndexByte(s, '{')
		if open < 0 {
			return p, fmt.Errorf("address pattern %q: '}' without '{'", s)
		}
		prefix := s[:open]
		if !strings.HasSuffix(prefix, ".") && !strings.HasSuffix(prefix, ":") {
			return p, fmt.Errorf("address pattern %q: the {a,b} list must be the last part", s)
		}
		var items []string
		for _, it := range strings.Split(s[open+1:len(s)-1], ",") {
			items = append(items, prefix+strings.TrimSpace(it))
		}
		return p, p.addExact(items)
	case strings.Contains(s, ","):
		return p, p.addExact(strings.Split(s, ","))
	case strings.ContainsAny(s, "*-"):
		if strings.Contains(s, ":") {
			return p, fmt.Errorf("address pattern %q: IPv6 ranges are not supported; list the addresses", s)
		}
		return p, p.parseRange(s)
	}
	return p, p.addExact([]string{s})
}

func (p *addrPattern) addExact(items []string) error {
	p.set = make(map[netip.Addr]bool, len(items))
	for _, it := range items {
		a, err := netip.ParseAddr(strings.TrimSpace(it))
		if err != nil {
			return fmt.Errorf("address pattern %q: %q is not an IP address", p.text, it)
		}
		p.set[a.Unmap()] = true
	}
	return nil
}

// parseRange reads "a.b.c.d" where, from the first "*" or "x-y" part on,
// every part is "*" or (that first one only) a range; missing parts are "*".
func (p *addrPattern) parseRange(s string) error {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return fmt.Errorf("address pattern %q: more than four parts", s)
	}
	var r [4]struct{ lo, hi uint8 }
	wild := false
	for i := range 4 {
		part := "*"
		if i < len(parts) {
			part = strings.TrimSpace(parts[i])
		}
		switch {
		case part == "*":
			r[i].lo, r[i].hi = 0, 255
			wild = true
		case wild:
			return fmt.Errorf("address pattern %q: after a '*' or a range only '*' may follow", s)
		case strings.Contains(part, "-"):
			lo, hi, _ := strings.Cut(part, "-")
			l, err1 := strconv.ParseUint(lo, 10, 8)
			h, err2 := strconv.ParseUint(hi, 10, 8)
			if err1 != nil || err2 != nil || l > h {
				return fmt.Errorf("address pattern %q: bad range %q", s, part)
			}
			r[i].lo, r[i].hi = uint8(l), uint8(h)
			wild = true
		default:
			n, err := strconv.ParseUint(part, 10, 8)
			if err != nil {
				return fmt.Errorf("address pattern %q: bad part %q", s, part)
			}
			r[i].lo, r[i].hi = uint8(n), uint8(n)
		}
	}
	if !wild {
		return fmt.Errorf("address pattern %q: not a range", s)
	}
	p.ranges = &r
	return nil
}

// match reports whether the peer address (no port) matches.
func (p *addrPattern) match(ip netip.Addr) bool {
	switch {
	case p.all:
		return true
	case !ip.IsValid():
		return false
	case p.set != nil:
		return p.set[ip]
	case p.ranges != nil:
		if !ip.Is4() {
			return false
		}
		b := ip.As4()
		for i, r := range p.ranges {
			if b[i] < r.lo || b[i] > r.hi {
				return false
			}
		}
		return true
	}
	return false
}
