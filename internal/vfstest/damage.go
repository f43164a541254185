package vfstest

import (
	"os"
	"path/filepath"
	"testing"
)

// TruncateManifest cuts the newest Pebble MANIFEST in dir to 10 bytes, as
// a torn write would, and returns its path and a func that puts the good
// bytes back. It works on the real file system.
func TruncateManifest(t testing.TB, dir string) (manifest string, repair func()) {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
	if len(names) == 0 {
		t.Fatal("no MANIFEST")
	}
	manifest = names[len(names)-1]
	good, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(manifest, 10); err != nil {
		t.Fatal(err)
	}
	return manifest, func() {
		if err := os.WriteFile(manifest, good, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
