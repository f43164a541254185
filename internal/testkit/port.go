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
