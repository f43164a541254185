package engine

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/msg"
)

// recoveryMiB sizes BenchmarkRecovery's CommitLog. The default keeps
// `make bench` short; the figures in BENCHMARKS.md use 1024.
var recoveryMiB = flag.Int("recovery-mib", 64, "CommitLog size of BenchmarkRecovery in MiB")

// BenchmarkRecovery builds a store of -recovery-mib MiB of 1 KiB messages
// (8 queues, 256 MiB segments, OS file system in a temp dir, removed after)
// and times Open in five situations:
//
//   - clean: after a clean Close (lock file gone, CommitLog checkpoint clean).
//   - crash: a copy of the directory taken while the store was open and
//     idle, as a crash would leave it once the page cache reached the disk:
//     lock file present, CommitLog checkpoint not clean, Pebble replays its
//     WAL, the index replays from its last periodic sync.
//   - fullscan: the CommitLog checkpoint file removed, so recovery verifies
//     every record from the first segment.
//   - rebuild: meta/ and index/ removed: the dispatcher rebuilds consume
//     queues, blooms and key index from the whole CommitLog (RELIABILITY T30).
//   - rebuild-queues: meta/ only removed (the index is intact).
//
// Each reports seconds, and MB/s of CommitLog (10^6 bytes) where Open had
// to read it. The page cache is warm (the files were just written).
//
//	go test -run '^$' -bench Recovery -benchtime 1x ./engine/ -args -recovery-mib=1024
func BenchmarkRecovery(b *testing.B) {
	base := filepath.Join(b.TempDir(), "store")
	opts := benchOptions(vfs.Default, base, commitlog.AsyncFlush)
	opts.SegmentSize = 256 << 20
	opts.IndexSlots, opts.IndexEntriesPerFile = 0, 0 // broker defaults
	want := int64(*recoveryMiB) << 20
	began := time.Now()
	s := openStore(b, opts)
	batch := make([]*msg.Message, 32)
	var n int
	for s.CommitLog().End() < want {
		for j := range batch {
			batch[j] = benchMsg("T", int32(n/32%8), n+j, []string{"A", "B"}[j%2])
		}
		if _, err := s.PutBatch(batch); err != nil {
			b.Fatal(err)
		}
		n += len(batch)
	}
	if err := s.WaitDispatched(5 * time.Minute); err != nil {
		b.Fatal(err)
	}
	end := s.CommitLog().End()
	b.Logf("built %d messages, %d bytes of CommitLog in %v", n, end, time.Since(began).Round(time.Millisecond))
	// Let the periodic index sync and CommitLog checkpoint happen once, as
	// they would on an idle broker, then take the crash copy.
	time.Sleep(1500 * time.Millisecond)
	crashCopy := filepath.Join(b.TempDir(), "crash")
	if err := os.CopyFS(crashCopy, os.DirFS(base)); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	rawMBs := readAllMBs(b, filepath.Join(base, "commitlog"))
	b.Logf("baseline: sequential read of the segments (page cache) at %.0f MB/s", rawMBs)

	mbs := func(bytes int64, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }
	// timedOpen opens dir, checks it holds every message, and reports.
	// rebuilt says the whole CommitLog is replayed into derived data.
	timedOpen := func(b *testing.B, dir string, rebuilt bool, prep func(dir string)) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			if prep != nil {
				prep(dir)
			}
			o := opts
			o.Dir = dir
			o.RecreateMeta = rebuilt // the rebuild cases delete meta/
			b.StartTimer()
			t0, c0 := time.Now(), cpuTime()
			s, err := Open(o)
			el, cpu := time.Since(t0), cpuTime()-c0
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			rep := s.RecoveryReport()
			var total int64
			for _, st := range s.Meta().Queues() {
				total += st.Max - st.Min
			}
			if total != int64(n) || s.CommitLog().End() != end {
				b.Fatalf("after Open: %d entries of %d, end %d of %d", total, n, s.CommitLog().End(), end)
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(el.Seconds(), "open-s")
			b.ReportMetric(cpu.Seconds(), "cpu-s")
			b.ReportMetric(float64(rep.Bytes)/1e6, "scanned-MB")
			if rep.Bytes > 0 {
				b.ReportMetric(mbs(rep.Bytes, rep.Duration), "scan-MB/s")
			}
			if rebuilt {
				b.ReportMetric(mbs(end, el), "rebuild-MB/s")
				b.ReportMetric(float64(n)/el.Seconds(), "rebuild-msgs/s")
			}
			b.Logf("open %v (process CPU %v); CommitLog recovery: clean=%v from=%d scanned %d bytes in %v", el.Round(time.Millisecond),
				cpu.Round(time.Millisecond), rep.Clean, rep.From, rep.Bytes, rep.Duration.Round(time.Millisecond))
			b.StartTimer()
		}
	}
	b.Run("clean", func(b *testing.B) { timedOpen(b, base, false, nil) })
	b.Run("crash", func(b *testing.B) {
		work := filepath.Join(b.TempDir(), "w")
		timedOpen(b, work, false, func(dir string) {
			if err := os.RemoveAll(dir); err != nil {
				b.Fatal(err)
			}
			if err := os.CopyFS(dir, os.DirFS(crashCopy)); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("fullscan", func(b *testing.B) {
		timedOpen(b, base, false, func(dir string) {
			if err := os.Remove(filepath.Join(dir, "commitlog", "checkpoint")); err != nil {
				b.Fatal(err)
			}
		})
	})
	rebuild := func(b *testing.B, remove ...string) {
		timedOpen(b, base, true, func(dir string) {
			for _, r := range remove {
				if err := os.RemoveAll(filepath.Join(dir, r)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("rebuild", func(b *testing.B) { rebuild(b, "meta", "index") })
	b.Run("rebuild-queues", func(b *testing.B) { rebuild(b, "meta") })
}

// readAllMBs reads every file of dir sequentially and returns MB/s.
func readAllMBs(b *testing.B, dir string) float64 {
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4<<20)
	var total int64
	t0 := time.Now()
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		total += n
	}
	return float64(total) / 1e6 / time.Since(t0).Seconds()
}

// cpuTime is the CPU time (user + system) the process has used, every
// goroutine and Pebble's background work included.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
