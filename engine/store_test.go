package engine

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/msg"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	goleak.VerifyTestMain(m)
}

func testOptions(fs vfs.FS, mode commitlog.FlushMode) Options {
	return Options{
		FS: fs, Dir: "data", SegmentSize: 64 << 10, FlushMode: mode, FlushInterval: 5 * time.Millisecond,
		IndexSlots: 64, IndexEntriesPerFile: 256, RetentionInterval: -1,
		StoreHost: netip.MustParseAddrPort("127.0.0.1:10911"),
	}
}

func openStore(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return s
}

func newMsg(topic string, q int32, i int, tag string) *msg.Message {
	props := fmt.Sprintf("UNIQ_KEY\x01U%08d\x02KEYS\x01k%d shared", i, i)
	if tag != "" {
		props += "\x02TAGS\x01" + tag
	}
	return &msg.Message{
		Topic: topic, QueueID: q, Body: []byte(fmt.Sprintf("body-%d-%s", i, bytes.Repeat([]byte("x"), i%200))),
		Properties: props, BornTimestamp: time.Now().UnixMilli(),
		BornHost: netip.MustParseAddrPort("127.0.0.1:5555"),
	}
}

func TestPutGetRestart(t *testing.T) {
	for _, mode := range []commitlog.FlushMode{commitlog.SyncFlush, commitlog.AsyncFlush} {
		t.Run(mode.String(), func(t *testing.T) {
			fs := vfs.NewMem()
			s := openStore(t, testOptions(fs, mode))
			for i := 0; i < 300; i++ {
				res, err := s.Put(newMsg("T", int32(i%3), i, "A"))
				if err != nil {
					t.Fatal(err)
				}
				if res.QueueOffset != int64(i/3) {
					t.Fatalf("message %d got queue offset %d", i, res.QueueOffset)
				}
			}
			if err := s.WaitDispatched(5 * time.Second); err != nil {
				t.Fatal(err)
			}
			check := func(s *Store) {
				for q := int32(0); q < 3; q++ {
					res, err := s.Get("T", q, 0, 32, nil, nil)
					if err != nil || res.Status != Found || res.Count != 32 || res.NextOffset != 32 || res.MaxOffset != 100 {
						t.Fatalf("queue %d: %+v %v", q, res, err)
					}
					// Walk the records: dense offsets, right queue.
					for p, k := 0, int64(0); p < len(res.Data); k++ {
						r, err := msg.Decode(res.Data[p:])
						if err != nil || r.QueueOffset != k || r.QueueID != q {
							t.Fatalf("record %d of queue %d: %+v %v", k, q, r.QueueOffset, err)
						}
						p += len(r.Raw)
					}
				}
				if res, _ := s.Get("T", 0, 100, 32, nil, nil); res.Status != OffsetOverflowOne || res.NextOffset != 100 {
					t.Fatalf("at max: %+v", res)
				}
				if res, _ := s.Get("T", 0, 101, 32, nil, nil); res.Status != OffsetOverflowBadly || res.NextOffset != 100 {
					t.Fatalf("past max: %+v", res)
				}
				if res, _ := s.Get("nope", 0, 0, 32, nil, nil); res.Status != NoMatchedLogicQueue {
					t.Fatalf("unknown queue: %+v", res)
				}
				recs, err := s.QueryByKey("T", "k7", 10, 0, time.Now().UnixMilli()+1000)
				if err != nil || len(recs) != 1 {
					t.Fatalf("query k7: %d %v", len(recs), err)
				}
				recs, _ = s.QueryByKey("T", "shared", 5, 0, time.Now().UnixMilli()+1000)
				if len(recs) != 5 {
					t.Fatalf("query shared: %d", len(recs))
				}
				r0, _ := msg.Decode(recs[0])
				r1, _ := msg.Decode(recs[1])
				if r0.PhysOffset < r1.PhysOffset {
					t.Fatal("query results not newest first")
				}
				recs, _ = s.QueryByKey("T", "U00000042", 5, 0, time.Now().UnixMilli()+1000)
				if len(recs) != 1 {
					t.Fatalf("query by unique key: %d", len(recs))
				}
			}
			check(s)
			if err := s.CommitOffset("G", "T", 1, 17); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, testOptions(fs, mode))
			defer s.Close()
			check(s)
			if off, ok, err := s.ConsumerOffset("G", "T", 1); err != nil || !ok || off != 17 {
				t.Fatalf("consumer offset after restart: %d %v %v", off, ok, err)
			}
			// Offsets continue where they stopped.
			res, err := s.Put(newMsg("T", 0, 1000, "A"))
			if err != nil || res.QueueOffset != 100 {
				t.Fatalf("after restart: %+v %v", res, err)
			}
		})
	}
}

func TestTagFilterUsesBlooms(t *testing.T) {
	s := openStore(t, testOptions(vfs.NewMem(), commitlog.AsyncFlush))
	defer s.Close()
	const n = 20 * 1024
	rare := 0
	for i := 0; i < n; i++ {
		tag := "common"
		if i%100 == 0 {
			tag = "rare"
			rare++
		}
		if _, err := s.Put(newMsg("F", 0, i, tag)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitDispatched(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	count := func(f *TagFilter) (got, scanned, skipped int) {
		for off := int64(0); off < n; {
			res, err := s.Get("F", 0, off, 32, f, nil)
			if err != nil {
				t.Fatal(err)
			}
			got += res.Count
			scanned += res.Scanned
			skipped += res.BloomSkipped
			if res.NextOffset <= off {
				t.Fatalf("no progress at %d: %+v", off, res)
			}
			off = res.NextOffset
		}
		return
	}
	got, scanned, skipped := count(NewTagFilter("rare"))
	if got != rare {
		t.Fatalf("got %d rare messages, want %d", got, rare)
	}
	gotAll, scannedAll, _ := count(nil)
	if gotAll != n || scannedAll != n {
		t.Fatalf("unfiltered: got %d scanned %d", gotAll, scannedAll)
	}
	t.Logf("tag on 1%% of %d messages: %d entries examined with blooms (%d skipped), %d without", n, scanned, skipped, scannedAll)
	// Every block holds a rare message, so only the sub-block keys can
	// skip: ~8 % of 8-entry sub-blocks hold one.
	if scanned*8 > scannedAll {
		t.Fatalf("blooms examined %d of %d entries; want at least 8x fewer", scanned, scannedAll)
	}
}

func TestBloomSkipsBlocks(t *testing.T) {
	s := openStore(t, testOptions(vfs.NewMem(), commitlog.AsyncFlush))
	defer s.Close()
	const n = 16 * 1024
	for i := 0; i < n; i++ {
		tag := "common"
		if i >= n-64 {
			tag = "rare"
		}
		if _, err := s.Put(newMsg("F", 0, i, tag)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitDispatched(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, scanned := 0, 0
	for off := int64(0); off < n; {
		res, err := s.Get("F", 0, off, 32, NewTagFilter("rare"), nil)
		if err != nil {
			t.Fatal(err)
		}
		got += res.Count
		scanned += res.Scanned
		off = res.NextOffset
	}
	if got != 64 {
		t.Fatalf("got %d, want 64", got)
	}
	if scanned > 2*1024 {
		t.Fatalf("examined %d entries: blooms did not skip", scanned)
	}
	t.Logf("examined %d of %d entries", scanned, n)
}

func TestOffsetByTime(t *testing.T) {
	s := openStore(t, testOptions(vfs.NewMem(), commitlog.SyncFlush))
	defer s.Close()
	var times []int64
	for i := 0; i < 20; i++ {
		res, err := s.Put(newMsg("T", 0, i, ""))
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, res.StoreTime)
		if i%5 == 4 {
			time.Sleep(3 * time.Millisecond)
		}
	}
	s.WaitDispatched(5 * time.Second)
	for i, ts := range times {
		off, err := s.OffsetByTime("T", 0, ts)
		if err != nil {
			t.Fatal(err)
		}
		if off > int64(i) || times[off] != ts {
			t.Fatalf("time %d (message %d): offset %d", ts, i, off)
		}
	}
	if off, _ := s.OffsetByTime("T", 0, times[19]+1000); off != 20 {
		t.Fatalf("future time: %d", off)
	}
	if off, _ := s.OffsetByTime("T", 0, 0); off != 0 {
		t.Fatalf("past time: %d", off)
	}
}

func TestLimits(t *testing.T) {
	s := openStore(t, testOptions(vfs.NewMem(), commitlog.SyncFlush))
	defer s.Close()
	m := newMsg("T", 0, 1, "")
	m.Body = make([]byte, 5<<20)
	if _, err := s.Put(m); err == nil {
		t.Fatal("5 MiB body accepted")
	}
	m = newMsg(string(bytes.Repeat([]byte("t"), 128)), 0, 1, "")
	if _, err := s.Put(m); err == nil {
		t.Fatal("128-byte topic accepted")
	}
	if _, err := Open(testOptions(s.opts.FS, commitlog.SyncFlush)); err == nil {
		t.Fatal("a second Open of a locked store succeeded")
	}
}

// TestGetByteCap: a Get stops near maxGetBytes even when every record is
// adjacent to the last (one coalesced read), so a reply of big messages
// never outgrows a frame; the rest comes with the next Get.
func TestGetByteCap(t *testing.T) {
	opts := testOptions(vfs.NewMem(), commitlog.AsyncFlush)
	opts.SegmentSize = 8 << 20
	s := openStore(t, opts)
	defer s.Close()
	body := bytes.Repeat([]byte("b"), 100<<10)
	for i := range 20 {
		m := newMsg("Big", 0, i, "")
		m.Body = body
		if _, err := s.Put(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	for off, gets := int64(0), 0; off < 20; gets++ {
		res, err := s.Get("Big", 0, off, 32, nil, nil)
		if err != nil || res.Status != Found {
			t.Fatalf("get at %d: %+v %v", off, res.Status, err)
		}
		if len(res.Data) > maxGetBytes+len(body)+1024 {
			t.Fatalf("get at %d returned %d bytes in %d records, cap %d", off, len(res.Data), res.Count, maxGetBytes)
		}
		off = res.NextOffset
		if gets > 20 {
			t.Fatal("no progress")
		}
	}
}
