package engine

import (
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/internal/testkit/loglines"
)

// deniedLockFS fails Lock on the files named as opening them fails in a
// store that is not writable (the tests run as root, which permissions do
// not stop).
type deniedLockFS struct {
	vfs.FS
	suffix string
}

func (f deniedLockFS) Lock(name string) (io.Closer, error) {
	if strings.HasSuffix(name, f.suffix) {
		return nil, &iofs.PathError{Op: "open", Path: name, Err: syscall.EACCES}
	}
	return f.FS.Lock(name)
}

// TestUnopenableLockIsNotInUse: a lock file that cannot be opened (EACCES)
// is "cannot open lock file X: permission denied", not "in use (held by
// another process)"; a meta/ that cannot be opened for the same reason is
// healthy, and the error does not name the --rebuild-meta remedy, which
// loses consumer offsets and group configs.
func TestUnopenableLockIsNotInUse(t *testing.T) {
	for _, c := range []struct{ name, suffix string }{
		{"store lock", string(os.PathSeparator) + "lock"},
		{"meta LOCK", filepath.Join("meta", "LOCK")},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs loglines.Lines
			dir := t.TempDir()
			opts := diskOptions(dir, &logs)
			fillDisk(t, opts, 10)
			opts.FS = deniedLockFS{vfs.Default, c.suffix}
			s, err := Open(opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if errors.Is(err, ErrStoreInUse) || strings.Contains(msg, "held by another process") || strings.Contains(msg, "in use") {
				t.Errorf("a lock file that cannot be opened reported as in use: %q", msg)
			}
			if !errors.Is(err, iofs.ErrPermission) || !strings.Contains(msg, "permission denied") ||
				!strings.Contains(msg, filepath.Join(dir, c.suffix)) {
				t.Errorf("error %q does not name the file and the cause", msg)
			}
			if strings.Contains(msg, "--rebuild-meta") {
				t.Errorf("error %q names the destructive remedy for a healthy meta/", msg)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			if c.name == "store lock" && !strings.Contains(msg, "cannot open lock file") {
				t.Errorf("error %q does not say the lock file cannot be opened", msg)
			}
			opts.FS = vfs.Default
			s = openStore(t, opts)
			s.Close()
		})
	}
}

// RebuildMeta sets aside only a damaged meta/: one that cannot be opened
// now (its LOCK refused, as when another process has it open) is healthy,
// and moving it aside would lose every consumer offset and group config.
func TestRebuildMetaKeepsAHealthyMetaItCannotOpen(t *testing.T) {
	var logs loglines.Lines
	dir := t.TempDir()
	opts := diskOptions(dir, &logs)
	fillDisk(t, opts, 10)
	opts.FS = deniedLockFS{vfs.Default, filepath.Join("meta", "LOCK")}
	rep, err := RebuildMeta(opts, func(string, int32) ([]byte, error) { return []byte("{}"), nil })
	if err == nil {
		t.Fatalf("RebuildMeta succeeded: %+v", rep)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "meta.damaged-*")); len(names) > 0 {
		t.Fatalf("a healthy meta/ was moved aside to %v (%v)", names, err)
	}
	opts.FS = vfs.Default
	s := openStore(t, opts)
	s.Close()
}
