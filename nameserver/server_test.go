package nameserver

import (
	"testing"
	"time"
)

func TestOptions(t *testing.T) {
	if _, err := New(Options{BrokerExpiry: -time.Second}); err == nil {
		t.Fatal("negative BrokerExpiry accepted")
	}
	if _, err := New(Options{ScanInterval: -time.Second}); err == nil {
		t.Fatal("negative ScanInterval accepted")
	}
	s, err := New(Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if s.opts.Listen != DefaultListen || s.opts.BrokerExpiry != DefaultBrokerExpiry || s.opts.ScanInterval != DefaultScanInterval {
		t.Fatalf("defaults not applied: %+v", s.opts)
	}
	if s.Addr() != "" {
		t.Fatalf("Addr before Start = %q", s.Addr())
	}
	// Close without Start, twice.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}

func TestStartTwiceAndBadListen(t *testing.T) {
	ts := startServer(t, Options{})
	if err := ts.srv.Start(); err == nil {
		t.Fatal("second Start succeeded")
	}
	s, err := New(Options{Listen: "256.0.0.1:bad", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(); err == nil {
		t.Fatal("Start on a bad address succeeded")
	}
}
