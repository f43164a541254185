package dispatch

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/engine/queue"
	"github.com/wharfmq/wharf/index"
)

// dispatchRecords sizes BenchmarkDispatch's CommitLog (1 KiB records).
var dispatchRecords = flag.Int("dispatch-records", 200_000, "records BenchmarkDispatch dispatches per iteration")

// BenchmarkDispatch times CatchUp over records already in the CommitLog
// (OS file system, page cache warm): 1 KiB messages over 8 queues, each with
// a unique key, one key and a tag, as the Go client sends them. Each
// iteration dispatches the whole log into a fresh queue DB and index; the
// index is the broker's default shape. Close (index fsync) is not timed.
//
//	go test -run '^$' -bench Dispatch -benchtime 3x ./engine/dispatch/
//	go test -run '^$' -bench Dispatch -benchtime 3x -cpuprofile cpu.out ./engine/dispatch/
//	go test -run '^$' -bench Dispatch -benchtime 1x ./engine/dispatch/ -args -dispatch-records=1000000
func BenchmarkDispatch(b *testing.B) {
	records := *dispatchRecords
	dir := b.TempDir()
	cl, err := commitlog.Open(commitlog.Options{Dir: filepath.Join(dir, "cl"), SegmentSize: 256 << 20, FlushMode: commitlog.AsyncFlush})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	body := make([]byte, 1024)
	for i := range body {
		body[i] = byte(i * 131)
	}
	next := make([]int64, 8)
	var buf []byte
	for i := 0; i < records; i += 32 {
		q := int32(i / 32 % 8)
		buf = buf[:0]
		for j := 0; j < 32; j++ {
			m := &msg.Message{
				Topic: "BenchTopic", QueueID: q, Body: body,
				Properties: fmt.Sprintf("UNIQ_KEY\x01%032X\x02KEYS\x01order-%d\x02TAGS\x01%s", i+j, i+j, []string{"A", "B", "C"}[(i+j)%3]),
				BornHost:   netip.MustParseAddrPort("127.0.0.1:5555"), StoreHost: netip.MustParseAddrPort("127.0.0.1:10911"),
			}
			buf = msg.AppendRecord(buf, m)
		}
		if _, _, err := cl.Append(buf, func(phys int64, rec []byte) {
			msg.SetOffsets(rec, next[q], phys)
			next[q]++
			msg.SetStoreTimestamp(rec, time.Now().UnixMilli())
		}); err != nil {
			b.Fatal(err)
		}
	}
	if err := cl.WaitSynced(cl.End()); err != nil {
		b.Fatal(err)
	}
	logBytes := cl.End()
	b.SetBytes(logBytes)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ddir := filepath.Join(dir, fmt.Sprintf("derived-%d", i))
		if err := os.MkdirAll(ddir, 0o755); err != nil {
			b.Fatal(err)
		}
		qdb, err := queue.Open(queue.Options{FS: vfs.Default, Dir: filepath.Join(ddir, "meta")})
		if err != nil {
			b.Fatal(err)
		}
		idx, err := index.Open(index.Options{Dir: filepath.Join(ddir, "index")})
		if err != nil {
			b.Fatal(err)
		}
		d, err := New(Options{Log: cl, Queues: qdb, Index: idx})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		began := time.Now()
		if err := d.CatchUp(); err != nil {
			b.Fatal(err)
		}
		el := time.Since(began)
		b.StopTimer()
		if d.Pos() != logBytes {
			b.Fatalf("dispatched to %d of %d", d.Pos(), logBytes)
		}
		b.ReportMetric(float64(records)/el.Seconds(), "entries/s")
		b.ReportMetric(float64(el.Nanoseconds())/float64(records), "ns/entry")
		if err := d.Close(); err != nil {
			b.Fatal(err)
		}
		qdb.Close()
		idx.Close()
		os.RemoveAll(ddir)
		b.StartTimer()
	}
}
