package brokerstats

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestTableBoundAndOverflow(t *testing.T) {
	tb := NewTable(3, "%OTHER%", func() *Item { return new(Item) })
	a := tb.Get("a")
	if tb.Get("a") != a {
		t.Fatal("Get returned another entry for the same key")
	}
	tb.Get("b")
	tb.Get("c")
	if tb.Len() != 3 {
		t.Fatalf("len %d, want 3", tb.Len())
	}
	d, e := tb.Get("d"), tb.Get("e")
	if d != e {
		t.Fatal("keys past the bound do not share the overflow entry")
	}
	if o, ok := tb.Lookup("%OTHER%"); !ok || o != d {
		t.Fatal("overflow entry not under the overflow key")
	}
	if _, ok := tb.Lookup("d"); ok {
		t.Fatal("a key past the bound got its own entry")
	}
	if tb.Len() != 4 {
		t.Fatalf("len %d, want 4 (3 keys and the overflow key)", tb.Len())
	}
	seen := map[string]bool{}
	tb.Range(func(k string, _ *Item) { seen[k] = true })
	if len(seen) != 4 || !seen["a"] || !seen["%OTHER%"] {
		t.Fatalf("Range saw %v", seen)
	}
}

// TestTableGetAllocates nothing once a key exists: the send path looks
// topics up on every message.
func TestTableGetAllocFree(t *testing.T) {
	type key struct{ a, b string }
	tb := NewTable(0, key{}, func() *Item { return new(Item) })
	k := key{"topic", "group"}
	tb.Get(k).Add(1)
	if n := testing.AllocsPerRun(1000, func() { tb.Get(k).Add(1) }); n != 0 {
		t.Fatalf("Get+Add allocates %.1f times per call", n)
	}
}

func TestTableConcurrentGet(t *testing.T) {
	tb := NewTable(50, "%OTHER%", func() *Item { return new(Item) })
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				tb.Get(fmt.Sprintf("k%d", (i+g)%80)).Add(1)
			}
		}()
	}
	wg.Wait()
	var total int64
	tb.Range(func(_ string, it *Item) { total += it.Value() })
	if total != 400 || tb.Len() != 51 {
		t.Fatalf("total %d over %d keys, want 400 over 51", total, tb.Len())
	}
}

// TestItemWindows follows RocketMQ's StatsItem: sum, per-second rate and
// per-call average between the oldest and newest snapshot of each ring,
// the first ring starting from zero one step before its first snapshot.
func TestItemWindows(t *testing.T) {
	it := new(Item)
	var items []*Item
	items = append(items, it)
	s := NewSampler(nil, func(fn func(*Item)) {
		for _, i := range items {
			fn(i)
		}
	})
	if w := it.Minute(); w != (Window{}) {
		t.Fatalf("minute before any snapshot: %+v", w)
	}
	t0 := time.Unix(1_700_000_000, 0)
	it.Add(30) // before the first snapshot: counts in the first window
	it.Add(10)
	s.Tick(t0)
	w := it.Minute()
	if w.Sum != 40 || w.TPS != 4 || w.Avgpt != 20 {
		t.Fatalf("minute after the first snapshot: %+v, want sum 40, tps 4, avgpt 20", w)
	}
	// Ticks every second; the minute ring takes one every 10 s and keeps 7.
	for sec := 1; sec <= 100; sec++ {
		it.Add(5)
		s.Tick(t0.Add(time.Duration(sec) * time.Second))
	}
	w = it.Minute()
	// Snapshots at 40..100 s: 60 s, 60 adds of 5.
	if w.Sum != 300 || w.TPS != 5 || w.Avgpt != 5 {
		t.Fatalf("minute: %+v, want sum 300, tps 5, avgpt 5", w)
	}
	h := it.Hour()
	// Snapshots at -600 s (zero) and 0 s: the hour ring steps every 10 min.
	if h.Sum != 40 {
		t.Fatalf("hour: %+v, want sum 40", h)
	}
	s.SnapshotItems(t0.Add(100 * time.Second))
	if h := it.Hour(); h.Sum != 540 || h.Avgpt != 540.0/102 {
		t.Fatalf("hour after SnapshotItems: %+v", h)
	}
	if d := it.Day(); d.Sum != 540 {
		t.Fatalf("day: %+v", d)
	}
}

func TestRates(t *testing.T) {
	var v [2]int64
	r := NewRates(2, func(dst []int64) { copy(dst, v[:]) })
	if got := r.TPS(0); got != "0.00 0.00 0.00" {
		t.Fatalf("TPS before samples %q", got)
	}
	t0 := time.Unix(1_700_000_000, 0)
	for sec := range 700 {
		// counter 0: 3 per second for the first 600 s, then 13 per second.
		if sec > 600 {
			v[0] += 13
		} else if sec > 0 {
			v[0] += 3
		}
		v[1] = int64(sec)
		r.sample(t0.Add(time.Duration(sec) * time.Second))
	}
	// Last 10 s and last 60 s: 13/s; last 600 s: 99 s at 13 and 501 at 3.
	want := fmt.Sprintf("13.00 13.00 %.2f", (99*13+501*3)/600.0)
	if got := r.TPS(0); got != want {
		t.Fatalf("TPS %q, want %q", got, want)
	}
	if got := r.TPS(1); got != "1.00 1.00 1.00" {
		t.Fatalf("TPS(1) %q", got)
	}
	if got := r.Rate(5, 10); got != 0 {
		t.Fatalf("rate of a counter out of range %v", got)
	}
}

func TestSamplerStartClose(t *testing.T) {
	var n int64
	s := NewSampler(NewRates(1, func(dst []int64) { dst[0] = n }), func(func(*Item)) {})
	s.Start()
	s.Close()
	s.Close() // idempotent
}
