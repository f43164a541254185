package engine

import (
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/internal/testkit/loglines"
)

const indexMissingLine = "key index files missing"

// TestDeletedIndexFilesRebuilt: the only index file removed by hand (the
// index checkpoint kept) went unnoticed: Open logged nothing, the
// dispatcher trusted the checkpoint and never re-added the keys, and every
// key lookup found nothing. Open now tells it from a keyed record below
// the checkpoint that no file holds, warns naming the dir, and rebuilds
// the index from the CommitLog.
func TestDeletedIndexFilesRebuilt(t *testing.T) {
	fs := vfs.NewMem()
	logs := &loglines.Lines{}
	opts := testOptions(fs, commitlog.SyncFlush)
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	fillDisk(t, opts, 100) // one index file
	dir := fs.PathJoin(opts.Dir, "index")
	names, err := fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	removed := 0
	for _, n := range names {
		if strings.HasPrefix(n, "0") {
			if err := fs.Remove(fs.PathJoin(dir, n)); err != nil {
				t.Fatal(err)
			}
			removed++
		}
	}
	if removed == 0 {
		t.Fatalf("no index file in %v", names)
	}
	s := openStore(t, opts)
	defer s.Close()
	if l := logs.String(); !strings.Contains(l, indexMissingLine) || !strings.Contains(l, "level=WARN") || !strings.Contains(l, dir) {
		t.Fatalf("no WARN naming %s:\n%s", dir, l)
	}
	for _, i := range []int{0, 50, 99} {
		hits, err := s.QueryByKey("T", "k"+strconv.Itoa(i), 10, 0, 1<<62)
		if err != nil || len(hits) != 1 {
			t.Fatalf("key k%d after the rebuild: %d hits, %v", i, len(hits), err)
		}
	}
}

// TestIndexFilesRemovedByRetentionNotRebuilt: index files retention
// deleted (their keyed records are below the log's first offset) while
// the checkpoint is still above that offset, over records with no keys,
// are no damage: Open neither warns nor rebuilds.
func TestIndexFilesRemovedByRetentionNotRebuilt(t *testing.T) {
	fs := vfs.NewMem()
	logs := &loglines.Lines{}
	opts := testOptions(fs, commitlog.SyncFlush)
	opts.FileReservedTime = time.Hour
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s := openStore(t, opts)
	for i := range 100 {
		if _, err := s.Put(newMsg("T", 0, i, "")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1000 {
		m := newMsg("T", 0, 100+i, "")
		m.Properties = ""
		if _, err := s.Put(m); err != nil {
			t.Fatal(err)
		}
	}
	settleDispatch(t, s)
	if n, err := s.CleanExpired(time.Now().Add(2 * time.Hour)); err != nil || n == 0 {
		t.Fatalf("retention removed %d segments, %v", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, opts)
	defer s.Close()
	if _, ok := s.idx.FirstPhys(); ok || s.idx.Checkpoint() <= s.cl.MinOffset() {
		t.Fatalf("not the state under test: index files left %v, checkpoint %d, log starts at %d", ok, s.idx.Checkpoint(), s.cl.MinOffset())
	}
	if strings.Contains(logs.String(), indexMissingLine) || strings.Contains(logs.String(), "key index damaged") {
		t.Fatalf("index files removed by retention taken for damage:\n%s", logs)
	}
}
