//go:build linux

package main

import (
	"testing"
	"time"
)

// TestQuantile: nearest rank; with 20 samples p50 is the 10th and p99 the
// largest, whatever the order.
func TestQuantile(t *testing.T) {
	var ds []time.Duration
	for i := 20; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Second)
	}
	if got := quantile(ds, 0.5); got != 10*time.Second {
		t.Fatalf("p50 %s, want 10s", got)
	}
	if got := quantile(ds, 0.99); got != 20*time.Second {
		t.Fatalf("p99 %s, want 20s", got)
	}
	if got := quantile(ds[:1], 0.5); got != 20*time.Second {
		t.Fatalf("p50 of one sample %s, want 20s", got)
	}
	if ds[0] != 20*time.Second {
		t.Fatal("quantile reordered its argument")
	}
}
