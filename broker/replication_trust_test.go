package broker

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// While the name servers do not answer, the HA port's question "is this
// peer a slave?" waits for them at most once a second: a flood of peers
// connecting does not queue one name-server timeout each behind the
// list's lock (a listed slave connecting meanwhile would wait behind them).
func TestSlaveListRemembersAFailure(t *testing.T) {
	// A name server that accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cfg := testConfig(t.TempDir())
	cfg.NamesrvAddr = ln.Addr().String()
	b := openBroker(t, cfg)
	defer b.Close()
	ip := netip.MustParseAddr("127.0.0.1")
	began := time.Now()
	if b.repl.slaves.listed(ip) {
		t.Fatal("listed with no answer from the name servers")
	}
	first := time.Since(began)
	began = time.Now()
	for range 5 {
		if b.repl.slaves.listed(ip) {
			t.Fatal("listed with no answer from the name servers")
		}
	}
	if again := time.Since(began); again > first/2 {
		t.Fatalf("five more asks within the second took %v (the first, which waited for the name server, %v)", again, first)
	}
}
