package durable

import (
	"math"
	"testing"
)

func TestNameRoundTrip(t *testing.T) {
	for _, n := range []int64{0, 1, 42, 1 << 30, 1073741824, 99999999999999, math.MaxInt64} {
		name := Name(n)
		if len(name) != NameLen {
			t.Fatalf("Name(%d) = %q", n, name)
		}
		got, ok := ParseName(name)
		if !ok || got != n {
			t.Fatalf("ParseName(%q) = %d, %v; want %d", name, got, ok, n)
		}
	}
	// The names on disk today: they must never change.
	for n, want := range map[int64]string{
		0:             "00000000000000000000",
		1073741824:    "00000000001073741824",
		math.MaxInt64: "09223372036854775807",
	} {
		if got := Name(n); got != want {
			t.Errorf("Name(%d) = %q, want %q", n, got, want)
		}
	}
	if Name(5) >= Name(40) || Name(40) >= Name(1<<40) {
		t.Fatal("names do not sort in numeric order")
	}
	for _, bad := range []string{"", "0", "CHECKPOINT", "checkpoint", "0000000000000000000a", "000000000000000000001",
		"-0000000000000000001", "99999999999999999999", "0000000000000000000 ", "+0000000000000000001"} {
		if _, ok := ParseName(bad); ok {
			t.Errorf("ParseName(%q) accepted", bad)
		}
	}
}

func BenchmarkName(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = Name(int64(i) << 30)
	}
}
