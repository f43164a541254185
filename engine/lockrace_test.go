package engine

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/internal/testkit/loglines"
)

const secondOpenEnv = "WHARF_TEST_SECOND_OPEN"

// snapshotFiles reads every file under dir (name -> bytes).
func snapshotFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSecondOpenAfterLockRemovedTouchesNothing: with a store open and its
// lock file removed (`rm store/lock`), a second Open must fail on meta/'s
// own lock, say the store is in use, not name the destructive
// --rebuild-meta remedy, and change no byte of the live store. It used to
// recover the live CommitLog first (clean=false: zero the "tail" past the
// end it saw, remove segments past it) before Pebble refused it.
//
// The second Open runs in a child process (this test binary again): the
// locks are per process.
func TestSecondOpenAfterLockRemovedTouchesNothing(t *testing.T) {
	var logs loglines.Lines
	if dir := os.Getenv(secondOpenEnv); dir != "" {
		opts := diskOptions(dir, &logs)
		opts.Prewrite = commitlog.PrewriteOn
		s, err := Open(opts)
		if err == nil {
			s.Close()
			fmt.Println("OPENED")
			return
		}
		fmt.Printf("inUse=%v err=%s\n", errors.Is(err, ErrStoreInUse), err)
		return
	}
	dir := t.TempDir()
	opts := diskOptions(dir, &logs)
	opts.Prewrite = commitlog.PrewriteOn
	first := openStore(t, opts)
	defer first.Close()
	for i := 0; i < 20; i++ {
		if _, err := first.Put(newMsg("T", int32(i%2), i, "")); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Wait until the first store is idle (pre-writing done).
	before := snapshotFiles(t, filepath.Join(dir, "commitlog"))
	for i := 0; ; i++ {
		time.Sleep(100 * time.Millisecond)
		now := snapshotFiles(t, filepath.Join(dir, "commitlog"))
		if maps.Equal(now, before) {
			break
		}
		if i == 50 {
			t.Fatal("the first store does not go idle")
		}
		before = now
	}
	if err := os.Remove(filepath.Join(dir, "lock")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecondOpenAfterLockRemovedTouchesNothing$", "-test.count=1")
	cmd.Env = append(os.Environ(), secondOpenEnv+"="+dir)
	out, _ := cmd.Output()
	msg := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	if !strings.HasPrefix(msg, "inUse=true err=") || !strings.Contains(msg, filepath.Join(dir, "meta", "LOCK")) ||
		strings.Contains(msg, "--rebuild-meta") {
		t.Errorf("second Open: %q (want ErrStoreInUse naming meta/LOCK, without the --rebuild-meta remedy)", msg)
	}
	after := snapshotFiles(t, filepath.Join(dir, "commitlog"))
	for name, b := range before {
		if a, ok := after[name]; !ok {
			t.Errorf("the second Open removed %s", name)
		} else if a != b {
			t.Errorf("the second Open changed %s", name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("the second Open created %s", name)
		}
	}
}
