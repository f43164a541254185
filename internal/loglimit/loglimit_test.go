package loglimit

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimitLetsOneThroughPerInterval(t *testing.T) {
	var l Limit
	if ok, n := l.Allow(time.Hour); !ok || n != 0 {
		t.Fatalf("first line: %t %d, want through with nothing held", ok, n)
	}
	for range 3 {
		if ok, _ := l.Allow(time.Hour); ok {
			t.Fatal("a second line within the interval got through")
		}
	}
	if ok, n := l.Allow(0); !ok || n != 3 {
		t.Fatalf("after the interval: %t %d, want through with 3 held", ok, n)
	}
}

func TestPerKeyLimitsEachKeyAndStaysBounded(t *testing.T) {
	var p PerKey[string]
	if ok, _ := p.Allow("a", time.Hour); !ok {
		t.Fatal("a's first line held")
	}
	if ok, _ := p.Allow("b", time.Hour); !ok {
		t.Fatal("b's first line held because of a's")
	}
	if ok, _ := p.Allow("a", time.Hour); ok {
		t.Fatal("a's second line got through")
	}
	for i := range 2 * MaxKeys {
		p.Allow(string(rune(0x100+i)), time.Hour)
	}
	if len(p.m) > MaxKeys {
		t.Fatalf("%d keys held, want at most %d", len(p.m), MaxKeys)
	}
}

func TestWarnAddsTheHeldBackCount(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var p PerKey[string]
	p.Warn("a", log, time.Hour, "first")
	p.Warn("a", log, time.Hour, "held")
	p.Warn("a", log, 0, "again", "k", 1)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "msg=first") || strings.Contains(lines[0], "heldBackSinceLast") ||
		!strings.Contains(lines[1], "msg=again k=1 heldBackSinceLast=1") {
		t.Fatalf("want the first line as it is and the third with one held back; log:\n%s", buf.String())
	}
}
