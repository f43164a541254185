package queue

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/wharfmq/wharf/internal/vfstest"
)

// TestCorruptSSTBlockIsAnError: a data block of an sstable that fails its
// checksum (a bad sector) makes Open, and a later read that meets it,
// return an error naming the file, marked pebble.ErrCorruption, on one
// line. It used to panic: Pebble's default DataCorruption listener calls
// Logger.Fatalf, which panics.
func TestCorruptSSTBlockIsAnError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "meta")
	d, err := Open(Options{Dir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for q := int32(0); q < 64; q++ {
		fill(t, d, "Topic-with-a-long-name-to-fill-blocks", []int32{q}, 0, 200, int64(q+1)*1000)
	}
	if err := d.FlushMemtable(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	sst, repair := vfstest.CorruptSSTBlocks(t, dir)
	checkErr := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error on a corrupt sstable", what)
		}
		if !errors.Is(err, pebble.ErrCorruption) {
			t.Errorf("%s: %v is not pebble.ErrCorruption", what, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, filepath.Base(sst)) || !strings.Contains(msg, "checksum mismatch") || strings.Contains(msg, "\n") {
			t.Errorf("%s: want one line naming %s and the cause, got %q", what, filepath.Base(sst), msg)
		}
	}
	d, err = Open(Options{Dir: dir, Logger: quiet})
	checkErr("Open", err)
	if d != nil {
		d.Close()
	}
	repair()
	var logs bytes.Buffer
	d, err = Open(Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("open after the repair: %v", err)
	}
	defer d.Close()
	if got := len(scanAll(t, d, "Topic-with-a-long-name-to-fill-blocks", 7, 0, 200)); got != 200 {
		t.Fatalf("%d entries after the repair, want 200", got)
	}

	// At run time (a pull reading a block not yet cached): an error of
	// the read, not a panic of the handler.
	_, repair = vfstest.CorruptSSTBlocks(t, dir)
	defer repair()
	checkErr("Scan", d.Scan("Topic-with-a-long-name-to-fill-blocks", 0, 0, 200, func(int64, Entry) bool { return true }))
	_, _, err = d.EntryAt("Topic-with-a-long-name-to-fill-blocks", 1, 100)
	checkErr("EntryAt", err)
	// The broker's log says it, on one line, even where the caller only
	// answers a client.
	if !strings.Contains(logs.String(), "level=ERROR msg=\"on-disk corruption in "+sst) {
		t.Errorf("corruption at run time not logged:\n%s", logs.String())
	}
}

// TestRecoverFatalOnlyPebbleFatal: Open turns a Fatalf that Pebble calls
// while opening into an error on one line, and lets every other panic go.
func TestRecoverFatalOnlyPebbleFatal(t *testing.T) {
	open := func(v any) (err error) {
		defer recoverFatal("meta", &err)
		panic(v)
	}
	err := open(&pebbleFatal{msg: "MANIFEST sync failed: input/output error\nmore"})
	if err == nil || err.Error() != "queue: open pebble at meta: fatal error: MANIFEST sync failed: input/output error" {
		t.Fatalf("err %v", err)
	}
	defer func() {
		if r := recover(); r != "other" {
			t.Fatalf("recovered %v, want the other panic to go on", r)
		}
	}()
	_ = open("other")
}
