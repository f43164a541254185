package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/internal/testkit/loglines"
	"github.com/wharfmq/wharf/internal/vfstest"
)

// TestDispatcherStallRefusesSendsAndResumes is issue 9 §4: when the
// dispatcher cannot write (a key-index file cannot be created), sends are
// refused with ErrStalled and the cause instead of being acknowledged
// unseen, the log says so once, not per retry; once the cause is gone the
// dispatcher resumes by itself and every acknowledged message is visible,
// by queue and by key, exactly once.
func TestDispatcherStallRefusesSendsAndResumes(t *testing.T) {
	fs := &vfstest.NoCreateFS{FS: vfs.NewMem(), Part: "/index/"}
	logs := &loglines.Lines{}
	opts := testOptions(fs, commitlog.SyncFlush)
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	// 256 entries after the header entry, 3 keys a message: the file
	// fills in the middle of a message, whose first key is then in the
	// old file and must not be added again when the round is retried.
	opts.IndexEntriesPerFile = 257
	s := openStore(t, opts)
	defer s.Close()

	acked := 0
	put := func() error {
		_, err := s.Put(newMsg("T", 0, acked, ""))
		if err == nil {
			acked++
		}
		return err
	}
	for range 10 {
		if err := put(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	fs.Fail.Store(true)
	// The active index file fills within ~90 messages; the next one
	// cannot be created.
	var err error
	for deadline := time.Now().Add(5 * time.Second); acked < 2000 && time.Now().Before(deadline); {
		if err = put(); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("after %d acknowledged sends with the index failing: %v (sends must be refused, with the cause)", acked, err)
	}
	if s.DispatchStall() == nil {
		t.Fatal("DispatchStall is nil while sends are refused")
	}
	// A read does not wait for a stalled dispatcher (it would wait out
	// its whole timeout for nothing).
	start := time.Now()
	if s.AwaitVisible(10*time.Second) || time.Since(start) > time.Second {
		t.Fatalf("AwaitVisible waited %v for a stalled dispatcher", time.Since(start))
	}
	time.Sleep(300 * time.Millisecond) // several retries
	if err := put(); !errors.Is(err, ErrStalled) {
		t.Fatalf("send while still stalled: %v", err)
	}
	if c := strings.Count(logs.String(), "dispatcher stalled"); c != 1 {
		t.Fatalf("the stall was logged %d times, want once:\n%s", c, logs)
	}

	fs.Fail.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for err = put(); err != nil; err = put() {
		if time.Now().After(deadline) {
			t.Fatalf("sends not accepted again 5 s after the cause went: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if s.DispatchStall() != nil || !strings.Contains(logs.String(), "dispatcher resumed") {
		t.Fatalf("no resume recorded:\n%s", logs)
	}
	for off := int64(0); off < int64(acked); {
		res, err := s.Get("T", 0, off, 32, nil, nil)
		if err != nil || res.Status != Found {
			t.Fatalf("message %d of %d acknowledged is not visible: %v %v", off, acked, res.Status, err)
		}
		off = res.NextOffset
	}
	if st, _ := s.QueueState("T", 0); st.Max != int64(acked) {
		t.Fatalf("queue holds %d messages, %d acknowledged", st.Max, acked)
	}
	now := time.Now().UnixMilli()
	for i := range acked {
		for _, key := range []string{fmt.Sprintf("k%d", i), fmt.Sprintf("U%08d", i)} {
			recs, err := s.QueryByKey("T", key, 4, 0, now)
			if err != nil || len(recs) != 1 {
				t.Fatalf("key %s: %d records, want 1: %v", key, len(recs), err)
			}
		}
	}
}
