package durable

import (
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// LockFile is a held lock file. The lock (fs.Lock: an advisory lock on the
// open file) keeps a second process out of a directory; the file's
// presence when nobody holds it says that the last holder did not stop
// cleanly, since a clean stop removes it.
type LockFile struct {
	fs      vfs.FS
	path    string
	l       io.Closer
	existed bool
}

// Lock takes the lock file at path, creating it if missing. It fails when
// another process holds it; the error is fs.Lock's, wrapped.
func Lock(fs vfs.FS, path string) (*LockFile, error) {
	_, statErr := fs.Stat(path)
	l, err := fs.Lock(path)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &LockFile{fs: fs, path: path, l: l, existed: statErr == nil}, nil
}

// Existed says the file was there before Lock: its last holder crashed or
// did not stop cleanly.
func (f *LockFile) Existed() bool { return f.existed }

// Release ends a clean use: it removes the file, then unlocks. The order
// matters: unlocking first would let another process lock a file about to
// vanish, and a third then create a new one and hold it too. If the
// removal fails the file stays, locked until Release returns, and the next
// holder sees an unclean stop, which is only more careful.
func (f *LockFile) Release() error {
	var rerr error
	if err := f.fs.Remove(f.path); err != nil {
		rerr = fmt.Errorf("remove lock %s: %w", f.path, err)
	}
	return errors.Join(rerr, f.Unlock())
}

// Undo unlocks and leaves the disk as Lock found it: the file is removed
// (while still locked, as in Release) only if Lock created it. For uses
// that change nothing a crash could leave half done (an offline tool, a
// start that failed before touching the store), so that the next holder is
// not told of a crash that did not happen.
func (f *LockFile) Undo() error {
	if f.existed {
		return f.Unlock()
	}
	return f.Release()
}

// Unlock drops the lock and keeps the file: the next holder sees an
// unclean stop.
func (f *LockFile) Unlock() error {
	if err := f.l.Close(); err != nil {
		return fmt.Errorf("unlock %s: %w", f.path, err)
	}
	return nil
}
