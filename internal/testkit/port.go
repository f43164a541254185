package testkit

import (
	"math/rand/v2"
	"net"
	"strconv"
	"testing"
)

// Ports handed out for servers that bind them later come from below the
// kernel's ephemeral range (Linux: 32768-60999): a port of that range that
// was free a moment ago is soon the local port of some outgoing
// connection of another test running in parallel, and the server's bind
// then fails with "address already in use".
const (
	portLow  = 20000
	portHigh = 32000
)

// listenFree binds a free loopback port below the ephemeral range, falling
// back to an ephemeral one if none of a few random tries is free.
func listenFree(t testing.TB) net.Listener {
	t.Helper()
	for range 64 {
		p := portLow + rand.IntN(portHigh-portLow)
		if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p))); err == nil {
			return ln
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// FreePort returns a loopback address whose port was free a moment ago:
// for a server that must keep its address across restarts, or for an
// address where nothing listens.
func FreePort(t testing.TB) string {
	t.Helper()
	ln := listenFree(t)
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
		ln := listenFree(t)
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}
