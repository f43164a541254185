package index

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// benchOpts is production-ish: 1M slots on the OS file system. Files hold
// 1M entries (a fifth of the default) to keep the benchmark's disk use at
// 32 MB a file.
func benchOpts(b *testing.B) Options {
	return Options{FS: vfs.Default, Dir: b.TempDir(), SlotCount: 1_000_000, EntriesPerFile: 1_000_000, Logger: quietLogger()}
}

func BenchmarkIndexAdd(b *testing.B) {
	x := mustOpen(b, benchOpts(b))
	defer x.Close()
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = fmt.Sprintf("TopicTest#ORDER-%08d", i)
	}
	b.ReportAllocs()
	b.SetBytes(entrySize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := x.Add(keys[i&(len(keys)-1)], int64(i)*256, 1_700_000_000_000+int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

// BenchmarkIndexQuery looks keys up among 1,000,000 indexed messages, each
// with a UNIQ_KEY and a KEYS entry (2,000,000 entries in two files: the older
// sealed, read by pread; the newer active, slots in memory). It reports the
// p50 and p99 latency of single queries.
func BenchmarkIndexQuery(b *testing.B) {
	const msgs = 1_000_000
	o := benchOpts(b)
	x := mustOpen(b, o)
	defer x.Close()
	start := time.Now()
	for i := 0; i < msgs; i++ {
		phys := int64(i) * 1024
		ts := 1_700_000_000_000 + int64(i)
		mustAdd(b, x, uniqKey(i), phys, ts)
		mustAdd(b, x, bizKey(i), phys, ts)
	}
	if err := x.Sync(msgs * 1024); err != nil {
		b.Fatal(err)
	}
	b.Logf("setup: %d messages, %d entries in %v", msgs, 2*msgs, time.Since(start).Round(time.Millisecond))

	run := func(b *testing.B, key func(rng *rand.Rand) string, wantHit bool) {
		rng := rand.New(rand.NewPCG(1, uint64(b.N)))
		keys := make([]string, 1<<13)
		for i := range keys {
			keys[i] = key(rng)
		}
		lat := make([]time.Duration, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			k := keys[i&(len(keys)-1)]
			t0 := time.Now()
			h, err := x.Query(k, 32, 0, 1<<62)
			lat[i] = time.Since(t0)
			if err != nil || (len(h) > 0) != wantHit {
				b.Fatalf("Query(%q) = %v, %v", k, h, err)
			}
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	}
	// Entries 1..1M are in the first (sealed) file: messages below 500k.
	b.Run("sealed", func(b *testing.B) {
		run(b, func(rng *rand.Rand) string { return uniqKey(rng.IntN(msgs / 2)) }, true)
	})
	b.Run("active", func(b *testing.B) {
		run(b, func(rng *rand.Rand) string { return uniqKey(msgs/2 + rng.IntN(msgs/2)) }, true)
	})
	b.Run("miss", func(b *testing.B) {
		run(b, func(rng *rand.Rand) string { return uniqKey(msgs + rng.IntN(msgs)) }, false)
	})
}

func uniqKey(i int) string { return fmt.Sprintf("TopicTest#7F0000010001%020X", i) }
func bizKey(i int) string  { return fmt.Sprintf("TopicTest#ORDER-%d", i) }

func BenchmarkBloomMayContain(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	f := NewTagBloom(DefaultBloomBlock, DefaultBloomFPRate)
	for i := 0; i < DefaultBloomBlock; i++ {
		f.Add(int64(int32(rng.Uint32())))
	}
	probes := make([]int64, 1<<12)
	for i := range probes {
		probes[i] = int64(int32(rng.Uint32()))
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		if f.MayContain(probes[i&(len(probes)-1)]) {
			n++
		}
	}
	_ = n
}
