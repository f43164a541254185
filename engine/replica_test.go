package engine

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/msg"
)

// ship copies the master's readable bytes after the slave's end the way the
// HA protocol does: pieces of at most batch bytes, never crossing a segment
// end, cut anywhere inside a record; the slave appends whole units only.
// It returns how many pieces it shipped.
func ship(t *testing.T, master, slave *Store, batch int64) int {
	t.Helper()
	seg := master.SegmentSize()
	next := slave.MaxPhysOffset()
	var pending []byte
	pieces := 0
	for end := master.ReadableOffset(); next < end; {
		n := min(end-next, batch, seg-next%seg)
		buf := make([]byte, n)
		if err := master.ReadLog(buf, next); err != nil {
			t.Fatal(err)
		}
		next += n
		pieces++
		pending = append(pending, buf...)
		whole, err := msg.WholeUnits(pending)
		if err != nil {
			t.Fatal(err)
		}
		if whole == 0 {
			continue
		}
		at := next - int64(len(pending))
		got, err := slave.AppendReplica(at, pending[:whole])
		if err != nil {
			t.Fatalf("append %d bytes at %d: %v", whole, at, err)
		}
		if err := slave.WaitPut(got); err != nil {
			t.Fatal(err)
		}
		pending = append(pending[:0], pending[whole:]...)
	}
	if len(pending) != 0 {
		t.Fatalf("%d bytes of a unit left over at the master's readable end", len(pending))
	}
	return pieces
}

func logBytes(t *testing.T, s *Store) []byte {
	t.Helper()
	seg := s.SegmentSize()
	var out []byte
	for p := s.MinPhysOffset(); p < s.ReadableOffset(); {
		n := min(s.ReadableOffset()-p, seg-p%seg)
		buf := make([]byte, n)
		if err := s.ReadLog(buf, p); err != nil {
			t.Fatal(err)
		}
		out = append(out, buf...)
		p += n
	}
	return out
}

// TestReplicaCopiesLogAndDispatches: a slave fed the master's bytes in
// pieces holds the same CommitLog byte for byte, across segment rolls and
// a restart, and serves the same queues and keys.
func TestReplicaCopiesLogAndDispatches(t *testing.T) {
	cases := []struct {
		name string
		mode commitlog.FlushMode
		disk bool // real files: AsyncFlush then appends through a mapping
	}{
		{"sync-mem", commitlog.SyncFlush, false},
		{"async-mem", commitlog.AsyncFlush, false},
		{"async-mapped", commitlog.AsyncFlush, true},
		{"sync-disk", commitlog.SyncFlush, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mopts, sopts := testOptions(vfs.NewMem(), c.mode), testOptions(vfs.NewMem(), c.mode)
			if c.disk {
				mopts.FS, mopts.Dir = vfs.Default, t.TempDir()
				sopts.FS, sopts.Dir = vfs.Default, t.TempDir()
			}
			master, slave := openStore(t, mopts), openStore(t, sopts)
			defer master.Close()
			put := func(from, to int) {
				for i := from; i < to; i++ {
					if _, err := master.Put(newMsg("T", int32(i%4), i, "A")); err != nil {
						t.Fatal(err)
					}
				}
			}
			put(0, 600) // about 5 segments of 64 KiB
			if ship(t, master, slave, 5000) == 0 {
				t.Fatal("nothing shipped")
			}
			if err := slave.Close(); err != nil {
				t.Fatal(err)
			}
			// A returning slave resumes from its own end.
			slave = openStore(t, sopts)
			defer slave.Close()
			put(600, 900)
			ship(t, master, slave, 32<<10)
			if len(master.CommitLog().Segments()) < 4 {
				t.Fatalf("only %d segments: the test must cross segment ends", len(master.CommitLog().Segments()))
			}
			if !bytes.Equal(logBytes(t, master), logBytes(t, slave)) {
				t.Fatal("the slave's CommitLog differs from the master's")
			}
			for _, s := range []*Store{master, slave} {
				if err := s.WaitDispatched(5 * time.Second); err != nil {
					t.Fatal(err)
				}
			}
			for q := int32(0); q < 4; q++ {
				m, err1 := master.Get("T", q, 0, 1000, nil, nil)
				s, err2 := slave.Get("T", q, 0, 1000, nil, nil)
				if err1 != nil || err2 != nil || m.Count != 225 || s.Count != m.Count || !bytes.Equal(m.Data, s.Data) {
					t.Fatalf("queue %d: master %d records %v, slave %d records %v", q, m.Count, err1, s.Count, err2)
				}
			}
			recs, err := slave.QueryByKey("T", "k777", 10, 0, time.Now().Add(time.Hour).UnixMilli())
			if err != nil || len(recs) != 1 {
				t.Fatalf("slave's key index: %d records, %v", len(recs), err)
			}
		})
	}
}

// TestReplicaRefusesWhatDoesNotFit: bytes at the wrong offset are refused
// with nothing appended; a damaged record, or a master with another
// segment size (its first BLANK), is refused after the whole units before
// it are appended, with the error and their end.
func TestReplicaRefusesWhatDoesNotFit(t *testing.T) {
	master := openStore(t, testOptions(vfs.NewMem(), commitlog.AsyncFlush))
	defer master.Close()
	for i := range 400 {
		if _, err := master.Put(newMsg("T", 0, i, "")); err != nil {
			t.Fatal(err)
		}
	}
	all := logBytes(t, master)
	first, err := msg.WholeUnits(all[:4096])
	if err != nil || first == 0 {
		t.Fatal(first, err)
	}
	lastStart := 0 // where the last whole record of all[:first] starts
	for p := 0; p < first; {
		size, _, err := msg.PeekHeader(all[p:])
		if err != nil {
			t.Fatal(err)
		}
		lastStart, p = p, p+size
	}
	if lastStart == 0 {
		t.Fatal("want at least two records in the first 4 KiB")
	}

	slave := openStore(t, testOptions(vfs.NewMem(), commitlog.AsyncFlush))
	defer slave.Close()
	if _, err := slave.AppendReplica(100, all[:first]); !errors.Is(err, ErrReplicaOffset) {
		t.Fatalf("wrong offset: %v", err)
	}
	if end := slave.MaxPhysOffset(); end != 0 {
		t.Fatalf("bytes at the wrong offset left the log at %d", end)
	}
	bad := bytes.Clone(all[:first])
	bad[first-1] ^= 0xff // the last record's last byte
	end, err := slave.AppendReplica(0, bad)
	if !errors.Is(err, ErrReplicaLayout) {
		t.Fatalf("damaged record: %v", err)
	}
	if got := slave.MaxPhysOffset(); end != int64(lastStart) || got != end {
		t.Fatalf("a damaged record: AppendReplica ended at %d, log at %d; want both at the record, %d", end, got, lastStart)
	}
	if err := slave.WaitPut(end); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(logBytes(t, slave), all[:lastStart]) {
		t.Fatal("the records before the damaged one differ from the master's")
	}

	// A slave with larger segments meets the master's first BLANK.
	opts := testOptions(vfs.NewMem(), commitlog.AsyncFlush)
	opts.SegmentSize = 128 << 10
	big := openStore(t, opts)
	defer big.Close()
	seg := master.SegmentSize()
	whole, err := msg.WholeUnits(all[:seg])
	if err != nil || whole != int(seg) {
		t.Fatalf("first segment: %d whole bytes of %d, %v", whole, seg, err)
	}
	blank := 0
	for {
		size, kind, err := msg.PeekHeader(all[blank:])
		if err != nil {
			t.Fatal(err)
		}
		if kind == msg.KindBlank {
			break
		}
		blank += size
	}
	end, err = big.AppendReplica(0, all[:seg])
	if !errors.Is(err, ErrReplicaLayout) {
		t.Fatalf("segment size mismatch: %v", err)
	}
	if got := big.MaxPhysOffset(); end != int64(blank) || got != end {
		t.Fatalf("segment size mismatch: AppendReplica ended at %d, log at %d; want both at the BLANK, %d", end, got, blank)
	}
	if _, err := big.AppendReplica(int64(blank), all[blank:seg]); !errors.Is(err, ErrReplicaLayout) {
		t.Fatalf("the BLANK alone: %v", err)
	}
	if got := big.MaxPhysOffset(); got != int64(blank) {
		t.Fatalf("a refused BLANK moved the log to %d", got)
	}
}

// TestReplicaRebase: an empty slave of a master whose first segments are
// gone starts its log at the master's oldest segment, holds the same bytes
// at the same offsets, serves the queues from there, and keeps that start
// across a restart.
func TestReplicaRebase(t *testing.T) {
	for _, disk := range []bool{false, true} {
		t.Run(map[bool]string{false: "mem", true: "mapped"}[disk], func(t *testing.T) {
			mopts, sopts := testOptions(vfs.NewMem(), commitlog.AsyncFlush), testOptions(vfs.NewMem(), commitlog.AsyncFlush)
			if disk {
				mopts.FS, mopts.Dir = vfs.Default, t.TempDir()
				sopts.FS, sopts.Dir = vfs.Default, t.TempDir()
			}
			master, slave := openStore(t, mopts), openStore(t, sopts)
			defer master.Close()
			for i := range 600 {
				if _, err := master.Put(newMsg("T", 0, i, "A")); err != nil {
					t.Fatal(err)
				}
			}
			seg := master.SegmentSize()
			if err := master.WaitDispatched(5 * time.Second); err != nil {
				t.Fatal(err)
			}
			if _, err := master.CommitLog().RemoveSegmentsBefore(2 * seg); err != nil {
				t.Fatal(err)
			}
			from := master.MinPhysOffset()
			if from != 2*seg {
				t.Fatalf("master starts at %d, want %d", from, 2*seg)
			}
			if _, err := slave.AppendReplica(from, []byte{1}); !errors.Is(err, ErrReplicaOffset) {
				t.Fatalf("before the rebase: %v", err)
			}
			if err := slave.Rebase(from); err != nil {
				t.Fatal(err)
			}
			if err := slave.Rebase(from); err == nil {
				t.Fatal("a second rebase was accepted")
			}
			ship(t, master, slave, 7000)
			if !bytes.Equal(logBytes(t, master), logBytes(t, slave)) || slave.MinPhysOffset() != from {
				t.Fatal("the rebased slave's CommitLog differs from the master's")
			}
			if err := slave.WaitDispatched(5 * time.Second); err != nil {
				t.Fatal(err)
			}
			if err := slave.Close(); err != nil {
				t.Fatal(err)
			}
			slave = openStore(t, sopts)
			defer slave.Close()
			for i := 600; i < 700; i++ {
				if _, err := master.Put(newMsg("T", 0, i, "A")); err != nil {
					t.Fatal(err)
				}
			}
			ship(t, master, slave, 32<<10)
			if err := slave.WaitDispatched(5 * time.Second); err != nil {
				t.Fatal(err)
			}
			st, ok := slave.QueueState("T", 0)
			if !ok || st.Max != 700 || st.Min <= 0 {
				t.Fatalf("slave's queue: %+v %v (want entries from the first kept record to 700)", st, ok)
			}
			res, err := slave.Get("T", 0, st.Min, 1000, nil, nil)
			if err != nil || res.Count != int(700-st.Min) {
				t.Fatalf("slave serves %d records from %d, want %d: %v", res.Count, st.Min, 700-st.Min, err)
			}
		})
	}
}

// A readable watch wakes on any growth by default; with a floor, only
// once the readable end reaches it; stopped, never.
func TestReadableWatchFloor(t *testing.T) {
	s := openStore(t, testOptions(vfs.NewMem(), commitlog.AsyncFlush))
	defer s.Close()
	w := s.WatchReadable()
	woken := func() bool {
		select {
		case <-w.C:
			return true
		case <-time.After(50 * time.Millisecond):
			return false
		}
	}
	put := func(i int) {
		if _, err := s.Put(newMsg("T", 0, i, "A")); err != nil {
			t.Fatal(err)
		}
	}
	put(0)
	if !woken() {
		t.Fatal("no wake-up for an append with no floor")
	}
	w.WakeAt(s.ReadableOffset() + 1<<20)
	put(1)
	if woken() {
		t.Fatal("woken for an append below the floor")
	}
	w.WakeAt(s.ReadableOffset() + 1)
	put(2)
	if !woken() {
		t.Fatal("no wake-up for an append reaching the floor")
	}
	w.WakeAt(0)
	w.Stop()
	put(3)
	if woken() {
		t.Fatal("woken after Stop")
	}
}
