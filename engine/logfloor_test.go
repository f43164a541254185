package engine

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/internal/testkit/loglines"
)

// A first segment removed by hand (not by retention) is not silent: Open
// names it in an error line, the queues' minimum offsets move past it, and
// the rest is served. Segments retention removed raise nothing.
func TestMissingFirstSegmentIsReported(t *testing.T) {
	fs := vfs.NewMem()
	logs := &loglines.Lines{}
	opts := testOptions(fs, commitlog.SyncFlush)
	opts.FileReservedTime = time.Hour
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s := openStore(t, opts)
	fillForRetention(t, s)
	segs := s.cl.Segments()
	if len(segs) < 4 {
		t.Fatalf("only %d segments", len(segs))
	}
	seg := s.SegmentSize()
	// Retention removes the first segments: no error at the next Open.
	if n, err := s.CleanExpired(time.Now().Add(2 * time.Hour)); err != nil || n == 0 {
		t.Fatalf("retention removed %d segments, %v", n, err)
	}
	// ...keep at least three: put more.
	for i := range 1000 {
		if _, err := s.Put(newMsg("T", 0, 1000+i, "")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, opts)
	if strings.Contains(logs.String(), "segments missing") {
		t.Fatalf("segments removed by retention reported missing:\n%s", logs)
	}
	first := s.cl.MinOffset()
	minBefore, _ := s.QueueState("T", 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The oldest remaining segment deleted by hand.
	if err := fs.Remove(fs.PathJoin(opts.Dir, "commitlog", commitlog.SegmentName(first))); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, opts)
	if !strings.Contains(logs.String(), "segments missing") || !strings.Contains(logs.String(), commitlog.SegmentName(first)) {
		t.Fatalf("a segment deleted by hand went unreported:\n%s", logs)
	}
	st, _ := s.QueueState("T", 0)
	if st.Min <= minBefore.Min {
		t.Fatalf("queue minimum %d after losing segment %d; was %d", st.Min, first, minBefore.Min)
	}
	res, err := s.Get("T", 0, st.Min, 1, nil, nil)
	if err != nil || res.Status != Found {
		t.Fatalf("the rest is not served: %v %v", res.Status, err)
	}
	if e, ok, err := s.qdb.EntryAt("T", 0, st.Min); err != nil || !ok || e.Phys < first+seg {
		t.Fatalf("first entry %+v %v %v points below the log's start %d", e, ok, err, first+seg)
	}
	// Said once: the floor now stands at the new start.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	said := logs.Count("segments missing")
	s = openStore(t, opts)
	defer s.Close()
	if logs.Count("segments missing") != said {
		t.Fatalf("reported again at the next Open:\n%s", logs)
	}
}
