package engine

import (
	"bytes"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/msg"
)

// TestPropsFilter: a Props filter sees every record's properties whatever
// its tag (no tag code or bloom skipping), and a filter that matches
// nothing ends a Get after maxPropsMissBytes, advancing NextOffset like a
// tag miss.
func TestPropsFilter(t *testing.T) {
	opts := testOptions(vfs.NewMem(), commitlog.AsyncFlush)
	opts.SegmentSize = 8 << 20
	s := openStore(t, opts)
	defer s.Close()
	const n = 600
	body := bytes.Repeat([]byte("b"), 8<<10)
	want := 0
	for i := range n {
		// Tags differ, so a tag filter's codes would rule records out.
		m := newMsg("P", 0, i, []string{"A", "B", "C"}[i%3])
		m.Body = body
		if i%7 == 0 {
			m.Properties += "\x02color\x01red"
			want++
		}
		if _, err := s.Put(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitDispatched(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	red := NewPropsFilter(func(p []byte) bool { v, _ := msg.Property(p, "color"); return v == "red" })
	got := 0
	for off, gets := int64(0), 0; off < n; gets++ {
		res, err := s.Get("P", 0, off, 32, red, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range decodeRecords(t, res.Data) {
			if v, _ := r.Property("color"); v != "red" || r.QueueOffset < off || r.QueueOffset >= res.NextOffset {
				t.Fatalf("get at %d returned offset %d color %q, next %d", off, r.QueueOffset, v, res.NextOffset)
			}
		}
		got += res.Count
		if res.NextOffset <= off || gets > n {
			t.Fatalf("no progress at %d: %+v", off, res.Status)
		}
		off = res.NextOffset
	}
	if got != want {
		t.Fatalf("got %d red messages, want %d", got, want)
	}

	none := NewPropsFilter(func([]byte) bool { return false })
	res, err := s.Get("P", 0, 0, 32, none, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Records are the body plus a few hundred bytes of header and properties.
	lo, hi := maxPropsMissBytes/(len(body)+512), maxPropsMissBytes/len(body)+1
	if res.Status != NoMatchedMessage || res.Count != 0 || res.NextOffset != int64(res.Scanned) ||
		res.Scanned < lo || res.Scanned > hi {
		t.Fatalf("matching nothing: %v count %d scanned %d next %d; want NO_MATCHED_MESSAGE after %d..%d records",
			res.Status, res.Count, res.Scanned, res.NextOffset, lo, hi)
	}

	// Small records: the entry bound ends the Get, whatever maxCount asks.
	for i := range 2 * minScanEntries {
		if _, err := s.Put(newMsg("S", 0, i, "")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitDispatched(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, maxCount := range []int{32, 1 << 20} {
		res, err := s.Get("S", 0, 0, maxCount, none, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := min(max(minScanEntries, maxCount), 2*minScanEntries); res.Status != NoMatchedMessage ||
			res.Scanned != want || res.NextOffset != int64(want) {
			t.Fatalf("small records, maxCount %d: %v scanned %d next %d; want NO_MATCHED_MESSAGE after %d",
				maxCount, res.Status, res.Scanned, res.NextOffset, want)
		}
	}
}

func decodeRecords(t *testing.T, b []byte) []msg.Record {
	t.Helper()
	var out []msg.Record
	for len(b) > 0 {
		r, err := msg.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
		b = b[len(r.Raw):]
	}
	return out
}

// BenchmarkGet32Props is BenchmarkGet32's filter=A case with a Props filter
// selecting the same messages by their TAGS property: every entry's record
// is read (64 per Get), so it shows what a SQL92 filter costs beyond tags.
//
//	go test -run '^$' -bench Get32Props -benchmem ./engine/
func BenchmarkGet32Props(b *testing.B) {
	const n = 1 << 14
	s := openStore(b, benchOptions(vfs.NewMem(), "data", commitlog.AsyncFlush))
	defer s.Close()
	fillQueue(b, s, "T", 0, n)
	f := NewPropsFilter(func(p []byte) bool { v, _ := msg.Property(p, msg.PropTags); return v == "A" })
	var buf []byte
	var off int64
	b.SetBytes(32 * int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		res, err := s.Get("T", 0, off, 32, f, buf)
		if err != nil || res.Status != Found || res.Count != 32 {
			b.Fatalf("get at %d: %v %v", off, err, res.Status)
		}
		buf = res.Data
		if off = res.NextOffset; off+64 > n {
			off = 0
		}
	}
}
