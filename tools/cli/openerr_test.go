package cli

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/vfstest"
)

// smallConf writes a broker.conf with the sizes populateDir uses.
func smallConf(t *testing.T, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "broker.conf")
	body := fmt.Sprintf("mappedFileSizeCommitLog=%d\nmaxHashSlotNum=1024\nmaxIndexNum=4096\n%s", testSegSize, extra)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// exitOf waits (at most 30 s) for p to exit and returns its status.
func exitOf(t *testing.T, p *wharfProc) int {
	t.Helper()
	exited := make(chan error, 1)
	go func() { <-p.done; exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("wharf still running after 30 s:\n%s", p.log())
		return -1
	}
}

// TestStartErrorsThroughTheBinary runs `wharf broker`, `wharf standalone`,
// `wharf inspect` and `wharf replay` as real processes on data folders that
// cannot be opened (issue 9 §2). Each must exit with status 1 and write one
// error line naming the file and the cause (every other stderr line is an
// INFO log of the servers), no panic or goroutine dump, and leave the lock
// free: once the cause is removed the folder opens.
func TestStartErrorsThroughTheBinary(t *testing.T) {
	type tc struct {
		name string
		// setup damages dir (populated, or empty when fresh) and returns
		// the extra broker.conf lines, the words the error must hold and
		// the repair.
		fresh bool
		setup func(t *testing.T, dir string) (conf string, want []string, repair func())
	}
	cases := []tc{
		{name: "in use", setup: func(t *testing.T, dir string) (string, []string, func()) {
			release, _, err := engine.LockStore(vfs.Default, dir)
			if err != nil {
				t.Fatal(err)
			}
			return "", []string{filepath.Join(dir, "lock"), "in use"}, func() { release() }
		}},
		{name: "segment size 100", fresh: true, setup: func(t *testing.T, dir string) (string, []string, func()) {
			return "mappedFileSizeCommitLog=100\n", []string{"broker.conf", "mappedFileSizeCommitLog", "4 KiB"}, nil
		}},
		{name: "slave with brokerId 0", fresh: true, setup: func(t *testing.T, dir string) (string, []string, func()) {
			return "brokerRole=SLAVE\nbrokerId=0\n", []string{"broker.conf", "brokerRole=SLAVE with brokerId=0"}, nil
		}},
		{name: "bad brokerIP1", fresh: true, setup: func(t *testing.T, dir string) (string, []string, func()) {
			return "brokerIP1=not-an-ip\n", []string{"brokerIP1", "not-an-ip"}, nil
		}},
		{name: "meta is a file", setup: func(t *testing.T, dir string) (string, []string, func()) {
			meta := filepath.Join(dir, "meta")
			aside := filepath.Join(t.TempDir(), "meta")
			if err := os.Rename(meta, aside); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(meta, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			return "", []string{meta, "not a directory", "--rebuild-meta"}, func() {
				os.Remove(meta)
				if err := os.Rename(aside, meta); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "meta missing", setup: func(t *testing.T, dir string) (string, []string, func()) {
			meta := filepath.Join(dir, "meta")
			aside := filepath.Join(t.TempDir(), "meta")
			if err := os.Rename(meta, aside); err != nil {
				t.Fatal(err)
			}
			return "", []string{"meta/", "wharf replay --rebuild-meta --data " + dir}, func() {
				if err := os.RemoveAll(meta); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(aside, meta); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "truncated MANIFEST", setup: func(t *testing.T, dir string) (string, []string, func()) {
			manifest, repair := vfstest.TruncateManifest(t, filepath.Join(dir, "meta"))
			return "", []string{filepath.Base(manifest), filepath.Join(dir, "meta"), "--rebuild-meta"}, repair
		}},
		{name: "corrupt sstable block", setup: func(t *testing.T, dir string) (string, []string, func()) {
			// Pebble's default corruption listener called Fatalf, which
			// panicked: exit 2 and a 131-line stack.
			sst, repair := vfstest.CorruptSSTBlocks(t, filepath.Join(dir, "meta"))
			return "", []string{sst, "checksum mismatch", "--rebuild-meta"}, repair
		}},
	}
	commands := []struct {
		name string
		args func(dir, conf string) []string
		// tool: the offline tools log warnings only, so stderr is
		// exactly the error line.
		tool bool
		// sstOnly: run for the corrupt sstable only (these tools do not
		// name the remedy for the other cases yet).
		sstOnly bool
	}{
		{"broker", func(dir, conf string) []string {
			return []string{"broker", "--data", dir, "-c", conf, "--listen", "127.0.0.1:0", "-n", "127.0.0.1:1"}
		}, false, false},
		{"standalone", func(dir, conf string) []string {
			return []string{"standalone", "--data", dir, "-c", conf, "--listen", "127.0.0.1:0", "--namesrv-listen", "127.0.0.1:0", "--dashboard", "off", "--metrics", "off"}
		}, false, false},
		{"inspect", func(dir, conf string) []string { return []string{"inspect", "topics", "--data", dir, "-c", conf} }, true, false},
		{"replay", func(dir, conf string) []string { return []string{"replay", "--data", dir, "-c", conf} }, true, false},
		{"check", func(dir, conf string) []string { return []string{"inspect", "check", "--data", dir, "-c", conf} }, true, true},
		{"compact", func(dir, conf string) []string { return []string{"compact", "--data", dir, "-c", conf} }, true, true},
	}
	for _, c := range cases {
		for _, cmd := range commands {
			if c.fresh && cmd.tool {
				continue // the tools refuse a folder without a commitlog/ first
			}
			if cmd.sstOnly && c.name != "corrupt sstable block" {
				continue
			}
			t.Run(c.name+"/"+cmd.name, func(t *testing.T) {
				dir := t.TempDir()
				if !c.fresh {
					dir, _ = populateDir(t)
				}
				extra, want, repair := c.setup(t, dir)
				conf := smallConf(t, extra)
				p := startWharf(t, cmd.args(dir, conf)...)
				if code := exitOf(t, p); code != 1 {
					t.Fatalf("exit status %d:\n%s", code, p.log())
				}
				checkOneErrorLine(t, p.log(), cmd.tool, want)
				if repair != nil {
					repair()
				}
				if !c.fresh {
					// The lock is free and the cause gone: the folder opens.
					mustRun(t, "inspect", "topics", "--data", dir, "-c", conf)
				}
			})
		}
	}
}

// checkOneErrorLine checks stderr holds one error line with every word of
// want, no stack trace, and (for a tool) nothing else.
func checkOneErrorLine(t *testing.T, stderr string, tool bool, want []string) {
	t.Helper()
	if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
		t.Fatalf("stack trace on stderr:\n%s", stderr)
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	var errLines []string
	for _, l := range lines {
		if !tool && strings.Contains(l, "level=INFO") {
			continue
		}
		errLines = append(errLines, l)
	}
	if len(errLines) != 1 || !strings.HasPrefix(errLines[0], "Error: ") {
		t.Fatalf("want one error line, got %d:\n%s", len(errLines), stderr)
	}
	for _, w := range want {
		if !strings.Contains(errLines[0], w) {
			t.Errorf("error line %q does not name %q", errLines[0], w)
		}
	}
}

// TestNoRoomForTheFirstSegmentThroughTheBinary: `wharf broker` with the
// default 1 GiB segment on a 16 MiB file system exits 1 with one line
// naming the segment file and the cause, and starts once there is room.
func TestNoRoomForTheFirstSegmentThroughTheBinary(t *testing.T) {
	mnt := vfstest.MountTmpfs(t, 16<<20)
	dir := filepath.Join(mnt, "data")
	p := startWharf(t, "broker", "--data", dir, "--listen", "127.0.0.1:0", "-n", "127.0.0.1:1")
	if code := exitOf(t, p); code != 1 {
		t.Fatalf("exit status %d:\n%s", code, p.log())
	}
	checkOneErrorLine(t, p.log(), false, []string{filepath.Join(dir, "commitlog", "00000000000000000000"), "no space left"})
	p = startWharf(t, "broker", "--data", dir, "-c", smallConf(t, ""), "--listen", "127.0.0.1:0", "-n", "127.0.0.1:1")
	p.addrOf(t, "broker serving", 20*time.Second)
	if strings.Contains(p.log(), "not clean") || !strings.Contains(p.log(), "new store") {
		t.Fatalf("second start after a failed first one:\n%s", p.log())
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.log())
	}
}

// TestTruncatedIndexRebuiltThroughTheBinary: an index file truncated to 100
// bytes is derived data; the broker starts, says it rebuilt the index, and
// the keys are found again (issue 9 §3).
func TestTruncatedIndexRebuiltThroughTheBinary(t *testing.T) {
	dir, _ := populateDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "index", "0*"))
	if len(files) == 0 {
		t.Fatal("no index file")
	}
	if err := os.Truncate(files[0], 100); err != nil {
		t.Fatal(err)
	}
	conf := smallConf(t, "")
	p := startWharf(t, "broker", "--data", dir, "-c", conf, "--listen", "127.0.0.1:0", "-n", "127.0.0.1:1")
	p.addrOf(t, "broker serving", 20*time.Second)
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.log())
	}
	if !strings.Contains(p.log(), "key index damaged: deleting it and rebuilding it from the CommitLog") {
		t.Fatalf("no rebuild logged:\n%s", p.log())
	}
	if out := mustRun(t, "inspect", "key", "T", "k1", "--data", dir, "-c", conf); !strings.Contains(out, "body 1 ") {
		t.Fatalf("key k1 after the rebuild:\n%s", out)
	}
}

// TestOfflineToolsUseBrokerConf: replay and inspect with -c broker.conf use
// its segment and index sizes (issue 9 §8). The store has one short
// segment, so the files cannot tell the segment size: the defaults would
// take it for a 1 GiB one, and rebuild the index into 580 MB files.
func TestOfflineToolsUseBrokerConf(t *testing.T) {
	const segSize = 1 << 20
	dir := t.TempDir()
	s, err := engine.Open(engine.Options{
		Dir: dir, SegmentSize: segSize, FlushMode: commitlog.AsyncFlush, RetentionInterval: -1,
		IndexSlots: 1024, IndexEntriesPerFile: 4096, Logger: toolLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		m := &msg.Message{Topic: "T", Body: fmt.Appendf(nil, "body %d ", i), Properties: fmt.Sprintf("KEYS\x01k%d", i),
			BornTimestamp: time.Now().UnixMilli(), BornHost: netip.MustParseAddrPort("127.0.0.1:5555")}
		if _, err := s.Put(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "broker.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "mappedFileSizeCommitLog=%d\nmaxHashSlotNum=1024\nmaxIndexNum=4096\n", segSize), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "replay", "--data", dir, "-c", conf)
	if out := mustRun(t, "inspect", "check", "--data", dir, "-c", conf); !strings.Contains(out, fmt.Sprintf("segments of %d bytes", segSize)) {
		t.Fatalf("check did not use the broker.conf segment size:\n%s", out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "index", "0*"))
	if len(files) == 0 {
		t.Fatal("no index file after replay")
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.Size() > 1<<20 {
			t.Fatalf("index file %s: %v bytes, %v (the broker.conf sizes make it ~100 KiB)", f, st.Size(), err)
		}
	}
	if out := mustRun(t, "inspect", "key", "T", "k5", "--data", dir, "-c", conf); !strings.Contains(out, "body 5 ") {
		t.Fatalf("key k5:\n%s", out)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "commitlog", "0*"))
	for _, s := range segs {
		if st, err := os.Stat(s); err != nil || st.Size() != segSize {
			t.Fatalf("segment %s: %v bytes, %v", s, st.Size(), err)
		}
	}
}

// TestRebuildMetaOnCorruptSSTable: the remedy the start-up error names
// works on a meta/ with an sstable block failing its checksum: `replay
// --rebuild-meta` moves meta/ aside and rebuilds it, and the queues read
// back as before. It used to die in the same Fatalf panic as the start.
func TestRebuildMetaOnCorruptSSTable(t *testing.T) {
	dir, _ := populateDir(t)
	small := []string{"--data", dir, "--index-slots", "1024", "--index-entries", "4096"}
	queueBefore := mustRun(t, "inspect", "queue", "T", "0", "--count", "1000", "--json", "--data", dir)
	vfstest.CorruptSSTBlocks(t, filepath.Join(dir, "meta"))
	out := mustRun(t, append([]string{"replay", "--rebuild-meta"}, small...)...)
	if !strings.Contains(out, "meta/ could not be opened: moved aside") || !strings.Contains(out, "recreated 2 topic configs: Other T") {
		t.Fatalf("replay --rebuild-meta:\n%s", out)
	}
	if q := mustRun(t, "inspect", "queue", "T", "0", "--count", "1000", "--json", "--data", dir); q != queueBefore {
		t.Fatalf("queue rebuilt from the CommitLog differs:\n%s\nbefore:\n%s", q, queueBefore)
	}
	mustRun(t, "inspect", "check", "--data", dir)
}
