package ha_test

import (
	"bytes"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/ha"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/testkit"
)

// BenchmarkProducers16 is 16 synchronous producers of 1 KiB puts, with no
// slave ("none") and with SYNC_MASTER ("sync": master and slave in one
// process over loopback, each put waits until the slave holds it). Besides
// the time per op it reports cpu-us/op, the process's CPU time per
// message, which on a shared machine says more than the wall time: the
// master's and the slave's costs per message are what batching frames
// saves.
func BenchmarkProducers16(b *testing.B) {
	b.Run("none", func(b *testing.B) { benchProducers(b, false, 0) })
	b.Run("sync", func(b *testing.B) { benchProducers(b, true, 0) })
	// Every frame sent at once (MaxHold < 0): what the hold saves.
	b.Run("sync-nohold", func(b *testing.B) { benchProducers(b, true, -1) })
}

func benchProducers(b *testing.B, replicate bool, maxHold time.Duration) {
	open := func() *engine.Store {
		return testkit.OpenStore(b, func(o *engine.Options) {
			o.SegmentSize = 64 << 20
			o.FlushMode = engine.AsyncFlush
		})
	}
	mst := open()
	var m *ha.Master
	if replicate {
		m = startBenchPair(b, mst, open(), maxHold)
	}
	body := bytes.Repeat([]byte("x"), 1024)
	const producers = 16
	var left atomic.Int64
	left.Store(int64(b.N))
	var fails atomic.Int64
	cpu0 := cpuTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				m1 := &msg.Message{Topic: "T", QueueID: int32(p % 8), Body: body,
					BornTimestamp: time.Now().UnixMilli(), BornHost: netip.MustParseAddrPort("127.0.0.1:5555")}
				_, end, err := mst.PutBatchNoWait([]*msg.Message{m1})
				if err == nil {
					err = mst.WaitPut(end)
				}
				if err == nil && m != nil {
					err = m.WaitReplicated(end, 3*time.Second)
				}
				if err != nil {
					fails.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
	if m != nil {
		if st := m.Slaves(); len(st) == 1 && st[0].Frames > 0 {
			b.ReportMetric(float64(b.N)/float64(st[0].Frames), "msgs/frame")
		}
	}
	if n := fails.Load(); n > 0 {
		b.Fatalf("%d of %d replicated puts failed", n, b.N)
	}
}

// startBenchPair replicates mst to sst until the benchmark ends.
func startBenchPair(b *testing.B, mst, sst *engine.Store, maxHold time.Duration) *ha.Master {
	m, err := ha.NewMaster(ha.MasterOptions{Listen: "127.0.0.1:0", Log: mst, MaxHold: maxHold, Logger: testkit.Logger(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	s := ha.NewSlave(ha.SlaveOptions{MasterAddr: func() string { return m.Addr() }, Log: sst,
		Redial: 20 * time.Millisecond, Logger: testkit.Logger(b)})
	s.Start()
	b.Cleanup(func() { s.Close() })
	testkit.Eventually(b, 5*time.Second, func() bool { return m.InSync(0) }, "the slave connects")
	return m
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCatchUp is an empty slave copying 64 MiB of 1 KiB records from
// its master over loopback, both in one process; it reports MB/s (until
// the slave holds the master's end) and the process's CPU ns per byte.
func BenchmarkCatchUp(b *testing.B) {
	const total = 64 << 20
	open := func() *engine.Store {
		return testkit.OpenStore(b, func(o *engine.Options) {
			o.SegmentSize = 32 << 20
			o.FlushMode = engine.AsyncFlush
		})
	}
	mst := open()
	body := bytes.Repeat([]byte("x"), 1024)
	var end int64
	for end < total {
		batch := make([]*msg.Message, 32)
		for i := range batch {
			batch[i] = &msg.Message{Topic: "T", QueueID: int32(i % 8), Body: body,
				BornTimestamp: time.Now().UnixMilli(), BornHost: netip.MustParseAddrPort("127.0.0.1:5555")}
		}
		for _, m1 := range batch {
			_, e, err := mst.PutBatchNoWait([]*msg.Message{m1})
			if err != nil {
				b.Fatal(err)
			}
			end = e
		}
	}
	if err := mst.WaitPut(end); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(end)
	b.ResetTimer()
	var cpu time.Duration
	for range b.N {
		b.StopTimer()
		sst := open()
		cpu0 := cpuTime()
		b.StartTimer()
		m := startBenchPair(b, mst, sst, 0)
		testkit.Eventually(b, time.Minute, func() bool { return sst.MaxPhysOffset() >= end }, "the slave catches up")
		b.StopTimer()
		cpu += cpuTime() - cpu0
		m.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(end)/float64(b.N), "cpu-ns/B")
}
