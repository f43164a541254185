package engine

import (
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/internal/testkit/loglines"
	"github.com/wharfmq/wharf/internal/vfstest"
)

// retentionStore opens a store on an injected disk usage with 1,000
// messages in T/0 and T/1 (several 64 KiB segments), all dispatched and
// indexed, so every full segment is a retention candidate.
func retentionStore(t *testing.T, forcibly bool) (*Store, *vfstest.UsageFS, *loglines.Lines) {
	t.Helper()
	fs := &vfstest.UsageFS{FS: vfs.NewMem()}
	fs.UsedPct.Store(10)
	logs := &loglines.Lines{}
	opts := testOptions(fs, commitlog.SyncFlush)
	opts.FileReservedTime = time.Hour
	opts.CleanFileForcibly = forcibly
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s := openStore(t, opts)
	t.Cleanup(func() { s.Close() })
	fillForRetention(t, s)
	if n := len(s.cl.Segments()); n < 4 {
		t.Fatalf("only %d segments", n)
	}
	return s, fs, logs
}

// fillForRetention puts 1,000 messages in T/0 and T/1 (several 64 KiB
// segments), all dispatched and indexed, so every full segment is a
// retention candidate.
func fillForRetention(t *testing.T, s *Store) {
	t.Helper()
	for i := range 1000 {
		if _, err := s.Put(newMsg("T", int32(i%2), i, "")); err != nil {
			t.Fatal(err)
		}
	}
	settleDispatch(t, s)
}

// settleDispatch waits until everything put is dispatched and restarts
// the dispatcher, which settles the index checkpoint: retention then may
// remove every full segment.
func settleDispatch(t *testing.T, s *Store) {
	t.Helper()
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	s.disp.Close()
	var err error
	if s.disp, err = newDispatcherForTest(s); err != nil {
		t.Fatal(err)
	}
}

// clean runs retention at now+after and returns the segments removed.
func clean(t *testing.T, s *Store, after time.Duration) int {
	t.Helper()
	n, err := s.CleanExpired(time.Now().Add(after))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// allReadable fails unless both queues of T still serve offset 0.
func allReadable(t *testing.T, s *Store, when string) {
	t.Helper()
	for q := range int32(2) {
		res, err := s.Get("T", q, 0, 1, nil, nil)
		if err != nil || res.Status != Found {
			t.Fatalf("%s: T/%d from offset 0: %v %v (a segment with unconsumed messages was removed)", when, q, res.Status, err)
		}
	}
}

// TestRetentionKeepsUnconsumed is issue 9 §1: over diskMaxUsedSpaceRatio
// (75 %) and even over diskSpaceCleanForciblyRatio (85 %), a segment that
// is not expired and holds messages a group has not consumed (or that no
// group has read yet) stays; once expired it goes, and the log says its
// age and what was unconsumed, per group.
func TestRetentionKeepsUnconsumed(t *testing.T) {
	s, fs, logs := retentionStore(t, false)
	// G consumed all of T/0 and the first ten of T/1.
	if err := s.CommitOffset("G", "T", 0, 500); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitOffset("G", "T", 1, 10); err != nil {
		t.Fatal(err)
	}
	for _, pct := range []int64{80, 95} {
		fs.UsedPct.Store(pct)
		if n := clean(t, s, 0); n != 0 {
			t.Fatalf("disk %d%%: removed %d segments holding unconsumed messages", pct, n)
		}
		allReadable(t, s, "disk full")
	}
	if !strings.Contains(logs.String(), "keeping a segment with unconsumed messages") {
		t.Fatalf("no log line says why a segment was kept:\n%s", logs)
	}
	if c := strings.Count(logs.String(), "keeping a segment"); c != 1 {
		t.Fatalf("the kept segment was logged %d times, want once", c)
	}

	fs.UsedPct.Store(10)
	if n := clean(t, s, 2*time.Hour); n == 0 {
		t.Fatal("expired segments were not removed")
	}
	if res, _ := s.Get("T", 1, 0, 1, nil, nil); res.Status != OffsetTooSmall {
		t.Fatalf("T/1 at 0 after expiry: %v", res.Status)
	}
	out := logs.String()
	if !regexp.MustCompile(`segment removed by retention.* segment=0+ reason=expired age=2h0m0s unconsumed=\d+ unconsumedByGroup="?G=\d+`).MatchString(out) {
		t.Fatalf("deletion log lacks reason, age or unconsumed counts:\n%s", out)
	}
}

// TestRetentionNoGroupKept: messages of a topic no group has committed on
// count as unconsumed (a consumer may still come and read from offset 0).
func TestRetentionNoGroupKept(t *testing.T) {
	s, fs, _ := retentionStore(t, false)
	fs.UsedPct.Store(88)
	if n := clean(t, s, 0); n != 0 {
		t.Fatalf("removed %d segments of a topic nobody read yet", n)
	}
	allReadable(t, s, "no group")
}

// TestRetentionRemovesConsumed: over 75 % a young segment whose messages
// every group consumed may go (under 75 % it stays until it expires).
func TestRetentionRemovesConsumed(t *testing.T) {
	s, fs, logs := retentionStore(t, false)
	for q := range int32(2) {
		if err := s.CommitOffset("G", "T", q, 500); err != nil {
			t.Fatal(err)
		}
	}
	fs.UsedPct.Store(70)
	if n := clean(t, s, 0); n != 0 {
		t.Fatalf("under 75%%: removed %d young segments", n)
	}
	fs.UsedPct.Store(80)
	if n := clean(t, s, 0); n == 0 {
		t.Fatal("over 75%: consumed segments were kept")
	}
	if !strings.Contains(logs.String(), "every message consumed") {
		t.Fatalf("deletion reason not logged:\n%s", logs)
	}
}

// TestRetentionCleanForcibly: with cleanFileForciblyEnable, over 85 %
// unconsumed young segments go (RocketMQ's trade), and the log counts what
// was lost; between 75 % and 85 % they stay.
func TestRetentionCleanForcibly(t *testing.T) {
	s, fs, logs := retentionStore(t, true)
	if err := s.CommitOffset("G", "T", 0, 100); err != nil {
		t.Fatal(err)
	}
	fs.UsedPct.Store(80)
	if n := clean(t, s, 0); n != 0 {
		t.Fatalf("at 80%%: removed %d segments", n)
	}
	allReadable(t, s, "forcibly at 80%")
	fs.UsedPct.Store(90)
	if n := clean(t, s, 0); n == 0 {
		t.Fatal("at 90% with cleanFileForciblyEnable: nothing removed")
	}
	if res, _ := s.Get("T", 0, 0, 1, nil, nil); res.Status != OffsetTooSmall {
		t.Fatalf("T/0 at 0 after a forcible clean: %v", res.Status)
	}
	out := logs.String()
	if !strings.Contains(out, "cleanFileForciblyEnable") || !strings.Contains(out, "(no group)=") && !strings.Contains(out, "G=") {
		t.Fatalf("forcible deletion not logged with its unconsumed counts:\n%s", out)
	}
}

// statFailFS fails Stat on every file it opens once fail is set.
type statFailFS struct {
	vfs.FS
	fail *atomic.Bool
}

type statFailFile struct {
	vfs.File
	fail *atomic.Bool
}

func (f statFailFile) Stat() (vfs.FileInfo, error) {
	if f.fail.Load() {
		return nil, errors.New("injected stat failure")
	}
	return f.File.Stat()
}

func (fs statFailFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return statFailFile{File: f, fail: fs.fail}, nil
}

func (fs statFailFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return fs.wrap(fs.FS.Create(name, c))
}

func (fs statFailFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	return fs.wrap(fs.FS.Open(name, opts...))
}

func (fs statFailFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return fs.wrap(fs.FS.OpenReadWrite(name, c, opts...))
}

// A segment whose modification time cannot be read is not expired:
// before, a failed Stat left a zero time, an age of centuries, and every
// segment went as "expired".
func TestSegmentOfUnknownAgeIsNotExpired(t *testing.T) {
	fail := &atomic.Bool{}
	opts := testOptions(statFailFS{FS: vfs.NewMem(), fail: fail}, commitlog.SyncFlush)
	opts.FileReservedTime = time.Hour
	s := openStore(t, opts)
	defer s.Close()
	fillForRetention(t, s)
	fail.Store(true)
	if n, err := s.CleanExpired(time.Now()); n != 0 || err != nil {
		t.Fatalf("segments of unknown age: %d removed, %v", n, err)
	}
	allReadable(t, s, "unknown age")
	fail.Store(false)
	if n, err := s.CleanExpired(time.Now().Add(2 * time.Hour)); n == 0 || err != nil {
		t.Fatalf("expired segments of known age: %d removed, %v", n, err)
	}
}
