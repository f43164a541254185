package durable

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// WriteFile replaces path with data so that a crash at any moment leaves
// either the old content or the new, never a mix: it writes a temporary
// file beside it, fsyncs it, renames it over path and fsyncs the
// directory.
func WriteFile(fs vfs.FS, path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fs.Rename(tmp, path)
	}
	if err != nil {
		_ = fs.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return SyncDir(fs, fs.PathDir(path))
}
