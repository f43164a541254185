package engine

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/msg"
)

// benchBody is a 1 KiB body of incompressible-looking bytes.
var benchBody = func() []byte {
	b := make([]byte, 1024)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}()

// benchMsg is a 1 KiB message with the properties a client sends (unique
// key, keys, tag).
func benchMsg(topic string, q int32, i int, tag string) *msg.Message {
	props := fmt.Sprintf("UNIQ_KEY\x01%032X\x02KEYS\x01order-%d\x02WAIT\x01true", i, i)
	if tag != "" {
		props += "\x02TAGS\x01" + tag
	}
	return &msg.Message{
		Topic: topic, QueueID: q, Body: benchBody, Properties: props, BornTimestamp: 1,
		BornHost: netip.MustParseAddrPort("127.0.0.1:5555"),
	}
}

func benchOptions(fs vfs.FS, dir string, mode commitlog.FlushMode) Options {
	return Options{
		FS: fs, Dir: dir, SegmentSize: 64 << 20, FlushMode: mode, FlushInterval: 500 * time.Millisecond,
		RetentionInterval: -1, StoreHost: netip.MustParseAddrPort("127.0.0.1:10911"),
	}
}

// fillQueue puts n messages into topic/queue in batches of 32, tags
// alternating A and B, and waits until they are dispatched.
func fillQueue(b *testing.B, s *Store, topic string, q int32, n int) {
	b.Helper()
	batch := make([]*msg.Message, 0, 32)
	for i := 0; i < n; {
		batch = batch[:0]
		for ; len(batch) < 32 && i < n; i++ {
			batch = append(batch, benchMsg(topic, q, i, []string{"A", "B"}[i%2]))
		}
		if _, err := s.PutBatch(batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.WaitDispatched(time.Minute); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkGet32 reads 32 messages of 1 KiB that are in the page cache and
// dispatched, as a pull does, reusing the reply buffer as a broker would.
// With filter=A, half the messages carry tag A, so a Get examines 64
// entries and reads 32 records one by one (no coalescing: the matching
// records are not adjacent).
//
//	go test -run '^$' -bench Get32 -benchmem ./engine/
func BenchmarkGet32(b *testing.B) {
	const n = 1 << 14 // 16 MiB of messages
	for _, fsName := range []string{"os", "mem"} {
		b.Run("fs="+fsName, func(b *testing.B) {
			var fs vfs.FS = vfs.Default
			dir := b.TempDir()
			if fsName == "mem" {
				fs, dir = vfs.NewMem(), "data"
			}
			s := openStore(b, benchOptions(fs, dir, commitlog.AsyncFlush))
			defer s.Close()
			fillQueue(b, s, "T", 0, n)
			for _, f := range []struct {
				name   string
				filter *TagFilter
				span   int64 // queue entries one Get passes over
			}{{"none", nil, 32}, {"A", NewTagFilter("A"), 64}} {
				b.Run("filter="+f.name, func(b *testing.B) {
					var buf []byte
					var off int64
					b.SetBytes(32 * int64(len(benchBody)))
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						res, err := s.Get("T", 0, off, 32, f.filter, buf)
						if err != nil || res.Status != Found || res.Count != 32 {
							b.Fatalf("get at %d: %v %+v", off, err, res.Status)
						}
						buf = res.Data
						off = res.NextOffset
						if off+f.span > n {
							off = 0
						}
					}
				})
			}
		})
	}
}

// BenchmarkDispatchLag measures whether the dispatcher keeps pace with
// ASYNC_FLUSH appends: writers append 1 KiB messages as fast as they can
// for lagDuration while a sampler records (Readable end - dispatched
// position) every 10 ms. It reports the maximum and final lag in bytes and
// records, the mean lag of the first and last thirds of the run (growth
// means the dispatcher falls behind), and the append rate. rate=0 appends
// flat out; rate=N paces the writers to N msgs/s in total (about what the
// broker sustains end to end), to see whether dispatch keeps pace there.
//
//	go test -run '^$' -bench DispatchLag -benchtime 1x ./engine/
func BenchmarkDispatchLag(b *testing.B) {
	const lagDuration = 5 * time.Second
	for _, c := range []struct {
		writers, batch, rate int
	}{{4, 1, 0}, {4, 32, 0}, {4, 1, 60_000}, {4, 32, 100_000}} {
		b.Run(fmt.Sprintf("writers=%d/batch=%d/rate=%d", c.writers, c.batch, c.rate), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				lagRun(b, c.writers, c.batch, c.rate, lagDuration)
			}
		})
	}
}

func lagRun(b *testing.B, writers, batchSize, rate int, dur time.Duration) {
	s := openStore(b, benchOptions(vfs.Default, b.TempDir(), commitlog.AsyncFlush))
	defer s.Close()
	cl := s.CommitLog()
	recSize := int64(benchMsg("T", 0, 0, "A").EncodedSize()) + 20 // + sealed CRC property, roughly
	var stop atomic.Bool
	var msgs atomic.Int64
	var wg sync.WaitGroup
	var werr atomic.Value
	began := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			batch := make([]*msg.Message, batchSize)
			for i := 0; !stop.Load() && time.Since(began) < 2*dur; i++ {
				if rate > 0 {
					// Pace: this writer's share of rate, sleeping until due.
					due := began.Add(time.Duration(float64(i*batchSize*writers) / float64(rate) * float64(time.Second)))
					if d := time.Until(due); d > 0 {
						time.Sleep(d)
					}
				}
				for j := range batch {
					batch[j] = benchMsg("T", int32(w), i*batchSize+j, "A")
				}
				if _, err := s.PutBatch(batch); err != nil {
					werr.Store(err)
					return
				}
				msgs.Add(int64(batchSize))
			}
		}(w)
	}
	var samples []int64
	tick := time.NewTicker(10 * time.Millisecond)
	for time.Since(began) < dur {
		<-tick.C
		samples = append(samples, cl.Readable()-s.DispatchedOffset())
	}
	tick.Stop()
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(began)
	final := samples[len(samples)-1]
	if err, _ := werr.Load().(error); err != nil {
		b.Fatal(err)
	}
	third := len(samples) / 3
	mean := func(xs []int64) float64 {
		var t int64
		for _, x := range xs {
			t += x
		}
		return float64(t) / float64(len(xs))
	}
	first, last := mean(samples[:third]), mean(samples[len(samples)-third:])
	maxLag := slices.Max(samples)
	// Drain: how long the dispatcher needs to catch up after the writers stop.
	drainStart := time.Now()
	if err := s.disp.WaitFor(cl.Written(), time.Minute); err != nil {
		b.Fatal(err)
	}
	drain := time.Since(drainStart)
	b.ReportMetric(float64(msgs.Load())/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(maxLag), "maxlag-B")
	b.ReportMetric(float64(maxLag/recSize), "maxlag-recs")
	b.ReportMetric(float64(final/recSize), "finallag-recs")
	b.ReportMetric(first/float64(recSize), "lag1st3rd-recs")
	b.ReportMetric(last/float64(recSize), "lag3rd3rd-recs")
	b.ReportMetric(float64(drain.Microseconds()), "drain-µs")
	b.Logf("%d writers, batch %d, rate %d: %d msgs in %v (%.0f msgs/s); lag max %d B (%d recs), final %d B, mean first third %.0f B, last third %.0f B; drain %v; %d samples",
		writers, batchSize, rate, msgs.Load(), elapsed.Round(time.Millisecond), float64(msgs.Load())/elapsed.Seconds(),
		maxLag, maxLag/recSize, final, first, last, drain, len(samples))
}
