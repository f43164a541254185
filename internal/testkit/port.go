package testkit

import (
	"net"
	"testing"
)

// FreePort returns a loopback address whose port was free a moment ago:
// for a server that must keep its address across restarts, or for an
// address where nothing listens.
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// FreePorts returns n distinct loopback addresses whose ports were free a
// moment ago: a process that needs several (a broker's listen and HA
// ports). The listeners are held until all n are chosen, so no two match.
func FreePorts(t testing.TB, n int) []string {
	t.Helper()
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	addrs := make([]string, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}
