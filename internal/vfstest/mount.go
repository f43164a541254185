package vfstest

import (
	"fmt"
	"os/exec"
	"testing"
)

// MountTmpfs mounts a tmpfs of size bytes on a new temporary directory and
// returns it, or skips the test where mounting is not allowed. The mount is
// removed at cleanup.
func MountTmpfs(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root and mount rights): %v: %s", err, out)
	}
	// Lazy: the mount goes even if a failing test left a file open.
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}
