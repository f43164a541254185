package durable

import (
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestLockFile(t *testing.T) {
	for name, setup := range map[string]func(t *testing.T) (vfs.FS, string){
		"mem":  func(t *testing.T) (vfs.FS, string) { return vfs.NewMem(), "lock" },
		"disk": func(t *testing.T) (vfs.FS, string) { return vfs.Default, filepath.Join(t.TempDir(), "lock") },
	} {
		t.Run(name, func(t *testing.T) {
			fs, path := setup(t)
			l, err := Lock(fs, path)
			if err != nil {
				t.Fatal(err)
			}
			if l.Existed() {
				t.Fatal("a new lock file reported as left over")
			}
			if name == "mem" {
				// MemFS locks exclude within the process, as a
				// second process would be excluded on disk.
				if _, err := Lock(fs, path); err == nil {
					t.Fatal("a held lock was taken twice")
				}
			}
			// Undo of a lock that made the file removes it.
			if err := l.Undo(); err != nil {
				t.Fatal(err)
			}
			if exists(fs, path) {
				t.Fatal("Undo left the lock file it created")
			}
			// An unclean stop keeps the file, and the next holder sees it.
			if l, err = Lock(fs, path); err != nil {
				t.Fatal(err)
			}
			if err := l.Unlock(); err != nil {
				t.Fatal(err)
			}
			if l, err = Lock(fs, path); err != nil {
				t.Fatal(err)
			}
			if !l.Existed() {
				t.Fatal("a lock file left by an unclean stop not reported")
			}
			// Undo of a lock that found the file keeps it.
			if err := l.Undo(); err != nil {
				t.Fatal(err)
			}
			if !exists(fs, path) {
				t.Fatal("Undo removed a lock file it did not create")
			}
			// A clean stop removes it.
			if l, err = Lock(fs, path); err != nil {
				t.Fatal(err)
			}
			if err := l.Release(); err != nil {
				t.Fatal(err)
			}
			if exists(fs, path) {
				t.Fatal("Release left the lock file")
			}
			if l, err = Lock(fs, path); err != nil || l.Existed() {
				t.Fatalf("after Release: err %v, existed %v", err, err == nil && l.Existed())
			}
			_ = l.Release()
		})
	}
}
