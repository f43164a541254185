package durable

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// SyncDir fsyncs the directory dir, so that the entries created, renamed
// or removed in it survive a power loss. A new file is not durable until
// its directory is synced, whatever was fsynced inside it.
func SyncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// MkdirAll creates dir and any missing parents, and fsyncs each parent
// whose listing changed, so the new directories survive a power loss. An
// existing dir is left alone.
//
// Parents are made first, each synced into its own parent, so after a
// crash any directory that exists has a durable path from the root.
func MkdirAll(fs vfs.FS, dir string) error {
	if _, err := fs.Stat(dir); err == nil {
		return nil
	}
	parent := fs.PathDir(dir)
	if parent != dir && parent != "" && parent != "." {
		if err := MkdirAll(fs, parent); err != nil {
			return err
		}
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if parent == "" {
		parent = "."
	}
	return SyncDir(fs, parent)
}
