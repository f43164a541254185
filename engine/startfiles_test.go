package engine

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/internal/testkit/loglines"
	"github.com/wharfmq/wharf/internal/vfstest"
)

// diskOptions are small-store options on the real file system in dir, with
// the logs in buf.
func diskOptions(dir string, buf *loglines.Lines) Options {
	opts := testOptions(vfs.Default, commitlog.AsyncFlush)
	opts.Dir = dir
	opts.SegmentSize = 1 << 20
	opts.Logger = slog.New(slog.NewTextHandler(buf, nil))
	return opts
}

// fillDisk writes a store of n keyed messages to opts.Dir and closes it.
func fillDisk(t *testing.T, opts Options, n int) {
	t.Helper()
	s := openStore(t, opts)
	for i := 0; i < n; i++ {
		if _, err := s.Put(newMsg("T", int32(i%2), i, "")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenErrorsAreOneClearError opens stores that cannot be opened, one
// cause each (issue 9 §2). Each must fail with an error (not a panic: the
// named result used to be cleared by "return nil, err" before the deferred
// cleanup dereferenced it) that names the file and the cause on one line,
// and must release the lock: once the cause is removed the store opens.
func TestOpenErrorsAreOneClearError(t *testing.T) {
	type tc struct {
		name string
		// setup damages dir (a closed store of keyed messages, or an empty
		// dir when fresh) and returns the words the error must hold, and
		// the repair that removes the cause.
		fresh bool
		setup func(t *testing.T, dir string, opts *Options) (want []string, repair func())
	}
	cases := []tc{
		{name: "in use", setup: func(t *testing.T, dir string, opts *Options) ([]string, func()) {
			first := openStore(t, *opts)
			return []string{filepath.Join(dir, "lock"), "held by another process"}, func() { first.Close() }
		}},
		{name: "segment size 100", fresh: true, setup: func(t *testing.T, dir string, opts *Options) ([]string, func()) {
			opts.SegmentSize = 100
			return []string{"segment size 100", "4 KiB"}, func() { opts.SegmentSize = 1 << 20 }
		}},
		{name: "no room for the first segment", fresh: true, setup: func(t *testing.T, dir string, opts *Options) ([]string, func()) {
			mnt := vfstest.MountTmpfs(t, 4<<20)
			opts.Dir = filepath.Join(mnt, "data")
			opts.SegmentSize = 8 << 20
			return []string{filepath.Join(mnt, "data", "commitlog", "00000000000000000000"), "no space left"},
				func() { opts.SegmentSize = 1 << 20 }
		}},
		{name: "meta is a file", setup: func(t *testing.T, dir string, opts *Options) ([]string, func()) {
			meta := filepath.Join(dir, "meta")
			aside := filepath.Join(t.TempDir(), "meta")
			if err := os.Rename(meta, aside); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(meta, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{meta, "not a directory", "--rebuild-meta"}, func() {
				os.Remove(meta)
				if err := os.Rename(aside, meta); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "truncated MANIFEST", setup: func(t *testing.T, dir string, opts *Options) ([]string, func()) {
			manifest, repair := vfstest.TruncateManifest(t, filepath.Join(dir, "meta"))
			return []string{filepath.Base(manifest), filepath.Join(dir, "meta"), "--rebuild-meta"}, repair
		}},
		{name: "corrupt sstable block", setup: func(t *testing.T, dir string, opts *Options) ([]string, func()) {
			// Pebble's default corruption listener called Fatalf, which
			// panicked out of Open.
			sst, repair := vfstest.CorruptSSTBlocks(t, filepath.Join(dir, "meta"))
			return []string{sst, "checksum mismatch", "--rebuild-meta"}, repair
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs loglines.Lines
			dir := t.TempDir()
			opts := diskOptions(dir, &logs)
			if !c.fresh {
				fillDisk(t, opts, 50)
			}
			want, repair := c.setup(t, dir, &opts)
			var s *Store
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("Open panicked: %v", r)
					}
				}()
				s, err = Open(opts)
			}()
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not name %q", msg, w)
				}
			}
			repair()
			s, err = Open(opts)
			if err != nil {
				t.Fatalf("after the repair: %v", err)
			}
			if !c.fresh && s.CommitLog().End() == 0 {
				t.Fatal("the store lost its records")
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(logs.String(), "not clean") {
				t.Errorf("a failed start left the lock file behind, taken for a crash:\n%s", logs.String())
			}
		})
	}
}

// TestMetaMissingIsRefused: with meta/ gone (or emptied) beside a CommitLog
// with records, Open refuses and names the remedy instead of starting with
// no topics and no offsets (issue 9 §3); a new store and a store that
// never had topic configs (marked at its first Open) open.
func TestMetaMissingIsRefused(t *testing.T) {
	var logs loglines.Lines
	dir := t.TempDir()
	opts := diskOptions(dir, &logs)
	s := openStore(t, opts)
	if _, err := s.Put(newMsg("T", 0, 1, "")); err != nil {
		t.Fatal(err)
	}
	if err := s.Meta().PutTopic("T", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, opts) // marked, configs or not
	s.Close()

	for _, how := range []string{"removed", "emptied"} {
		if err := os.RemoveAll(filepath.Join(dir, "meta")); err != nil {
			t.Fatal(err)
		}
		if how == "emptied" {
			if err := os.Mkdir(filepath.Join(dir, "meta"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Open(opts)
		if !errors.Is(err, ErrMetaMissing) || !strings.Contains(err.Error(), "wharf replay --rebuild-meta --data "+dir) {
			t.Fatalf("meta %s: %v", how, err)
		}
		// Refused again at the next start: the refusal itself must not
		// leave a meta/ that looks valid.
		if _, err := Open(opts); !errors.Is(err, ErrMetaMissing) {
			t.Fatalf("meta %s, second start: %v", how, err)
		}
	}

	rep, err := RebuildMeta(opts, func(topic string, queues int32) ([]byte, error) {
		return fmt.Appendf(nil, "%s/%d", topic, queues), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Topics) != 1 || rep.Topics[0] != "T" || rep.ConsumerOffsets != 0 || rep.Records != 1 {
		t.Fatalf("report %+v", rep)
	}
	s = openStore(t, opts)
	defer s.Close()
	topics, err := s.Meta().Topics()
	if err != nil || string(topics["T"]) != "T/1" {
		t.Fatalf("topics %q %v", topics, err)
	}
}

// TestMetaUnreadableRebuilt: RebuildMeta moves a meta/ Pebble cannot open
// (a truncated MANIFEST, an sstable block failing its checksum) aside and
// recreates the topic configs.
func TestMetaUnreadableRebuilt(t *testing.T) {
	for _, damage := range []string{"truncated MANIFEST", "corrupt sstable"} {
		t.Run(damage, func(t *testing.T) {
			var logs loglines.Lines
			dir := t.TempDir()
			opts := diskOptions(dir, &logs)
			fillDisk(t, opts, 20)
			if damage == "corrupt sstable" {
				vfstest.CorruptSSTBlocks(t, filepath.Join(dir, "meta"))
			} else {
				names, _ := filepath.Glob(filepath.Join(dir, "meta", "MANIFEST-*"))
				for _, n := range names {
					if err := os.Truncate(n, 10); err != nil {
						t.Fatal(err)
					}
				}
			}
			if _, err := Open(opts); err == nil || !strings.Contains(err.Error(), "--rebuild-meta") {
				t.Fatalf("open with a %s: %v", damage, err)
			}
			rep, err := RebuildMeta(opts, func(topic string, queues int32) ([]byte, error) {
				return fmt.Appendf(nil, "%d", queues), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if rep.MovedAside == "" || len(rep.Topics) != 1 || rep.Records != 20 {
				t.Fatalf("report %+v", rep)
			}
			if _, err := os.Stat(rep.MovedAside); err != nil {
				t.Fatal(err)
			}
			s := openStore(t, opts)
			defer s.Close()
			if topics, _ := s.Meta().Topics(); string(topics["T"]) != "2" {
				t.Fatalf("topics %q", topics)
			}
			if st, _ := s.Meta().State("T", 1); st.Max != 10 {
				t.Fatalf("queue T/1 %+v", st)
			}
		})
	}
}

// TestDamagedIndexRebuilt: an index file truncated to 100 bytes, or
// overwritten with garbage, is derived data: Open rebuilds the index from
// the CommitLog and says so, and lookups find every key again (§3).
func TestDamagedIndexRebuilt(t *testing.T) {
	for _, damage := range []string{"truncated", "garbage"} {
		t.Run(damage, func(t *testing.T) {
			var logs loglines.Lines
			dir := t.TempDir()
			opts := diskOptions(dir, &logs)
			fillDisk(t, opts, 600) // 256 entries per file: three files
			files, _ := filepath.Glob(filepath.Join(dir, "index", "0*"))
			if len(files) < 2 {
				t.Fatalf("index files %v", files)
			}
			if damage == "truncated" {
				if err := os.Truncate(files[0], 100); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(files[0], bytes.Repeat([]byte{0xA5}, 8192), 0o644); err != nil {
				t.Fatal(err)
			}
			s := openStore(t, opts)
			defer s.Close()
			if !strings.Contains(logs.String(), "key index damaged: deleting it and rebuilding it from the CommitLog") {
				t.Fatalf("no rebuild logged:\n%s", logs.String())
			}
			for _, i := range []int{0, 299, 599} {
				hits, err := s.QueryByKey("T", fmt.Sprintf("k%d", i), 10, 0, 1<<62)
				if err != nil || len(hits) != 1 {
					t.Fatalf("key k%d after the rebuild: %d hits, %v", i, len(hits), err)
				}
			}
		})
	}
}

// TestNewStoreLogsNewStore: a new data folder's first start says "new
// store", not that the last stop was not clean (§9); the next says clean.
func TestNewStoreLogsNewStore(t *testing.T) {
	var logs loglines.Lines
	opts := diskOptions(t.TempDir(), &logs)
	s := openStore(t, opts)
	s.Close()
	first := logs.String()
	if !strings.Contains(first, `lastStop="new store"`) || strings.Contains(first, "clean=false") ||
		strings.Contains(first, "cleanLastStop") || strings.Contains(first, "not clean") {
		t.Fatalf("first start:\n%s", first)
	}
	s = openStore(t, opts)
	s.Close()
	if second := strings.TrimPrefix(logs.String(), first); !strings.Contains(second, "cleanLastStop=true") {
		t.Fatalf("second start:\n%s", second)
	}
}

// TestEmptyStoreReservesLittle: with RocketMQ's index sizes and the 64 MiB
// Pebble memtable, a store with one keyed message takes its pre-allocated
// segment and little else (it took 420 MB of index file and 70 MB of
// Pebble WAL), and the open log says how much it reserved (§9).
func TestEmptyStoreReservesLittle(t *testing.T) {
	var logs loglines.Lines
	dir := t.TempDir()
	opts := diskOptions(dir, &logs)
	opts.IndexSlots, opts.IndexEntriesPerFile = 0, 0 // 5 M slots, 20 M entries: 420 MB files
	s := openStore(t, opts)
	if _, err := s.Put(newMsg("T", 0, 1, "")); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	idx, meta := diskUsageOf(t, filepath.Join(dir, "index")), diskUsageOf(t, filepath.Join(dir, "meta"))
	cl := diskUsageOf(t, filepath.Join(dir, "commitlog"))
	t.Logf("one keyed message: commitlog %d, index %d, meta %d bytes on disk", cl, idx, meta)
	if idx > 16<<20 || meta > 16<<20 {
		t.Fatalf("index %d and meta %d bytes on disk for one message", idx, meta)
	}
	if cl < opts.SegmentSize {
		t.Logf("the segment is not pre-allocated on this file system (%d bytes)", cl)
	}
	if !strings.Contains(logs.String(), "diskReserved=") {
		t.Fatalf("no diskReserved in the open log:\n%s", logs.String())
	}
}

func diskUsageOf(t *testing.T, dir string) int64 {
	t.Helper()
	out, err := exec.Command("du", "-s", "-B1", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	fmt.Sscan(string(out), &n)
	return n
}

// TestDamagedQueuesRebuilt: a queue state or the dispatch checkpoint that
// cannot be decoded, or a garbage index or CommitLog checkpoint, is derived
// data: Open
// deletes what is derived, replays the CommitLog, says so in the log, and
// every message is there again with the consumer offsets kept (§3).
func TestDamagedQueuesRebuilt(t *testing.T) {
	for _, damage := range []string{"queue state", "dispatch checkpoint", "index checkpoint", "commitlog checkpoint"} {
		t.Run(damage, func(t *testing.T) {
			var logs loglines.Lines
			dir := t.TempDir()
			opts := diskOptions(dir, &logs)
			s := openStore(t, opts)
			if err := s.CommitOffset("G", "T", 1, 3); err != nil {
				t.Fatal(err)
			}
			s.Close()
			fillDisk(t, opts, 40)
			want := "consume queues damaged"
			switch damage {
			case "commitlog checkpoint":
				want = "commitlog checkpoint missing or unreadable"
				if err := os.WriteFile(filepath.Join(dir, "commitlog", "checkpoint"), bytes.Repeat([]byte{0xA5}, 100), 0o644); err != nil {
					t.Fatal(err)
				}
			case "index checkpoint":
				want = "index checkpoint unreadable"
				if err := os.WriteFile(filepath.Join(dir, "index", "CHECKPOINT"), []byte("garbage"), 0o644); err != nil {
					t.Fatal(err)
				}
			default:
				key := append([]byte("sT\x00"), 0, 0, 0, 1) // state of T/1
				if damage == "dispatch checkpoint" {
					key = []byte("cd")
				}
				db, err := pebble.Open(filepath.Join(dir, "meta"), &pebble.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if err := db.Set(key, []byte{1, 2, 3}, pebble.Sync); err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			s = openStore(t, opts)
			defer s.Close()
			if !strings.Contains(logs.String(), want) {
				t.Fatalf("no %q logged:\n%s", want, logs.String())
			}
			if err := s.WaitDispatched(5 * time.Second); err != nil {
				t.Fatal(err)
			}
			for q := int32(0); q < 2; q++ {
				res, err := s.Get("T", q, 0, 64, nil, nil)
				if err != nil || res.Status != Found || res.NextOffset != 20 || res.MaxOffset != 20 {
					t.Fatalf("T/%d after the rebuild: %v next %d max %d %v", q, res.Status, res.NextOffset, res.MaxOffset, err)
				}
			}
			if hits, err := s.QueryByKey("T", "k39", 10, 0, 1<<62); err != nil || len(hits) != 1 {
				t.Fatalf("key k39: %d hits, %v", len(hits), err)
			}
			if off, ok, err := s.Meta().ConsumerOffset("G", "T", 1); err != nil || !ok || off != 3 {
				t.Fatalf("consumer offset %d %v %v", off, ok, err)
			}
		})
	}
}
