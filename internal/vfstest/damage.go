package vfstest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
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

// CorruptSSTBlocks overwrites 8 bytes in the middle of every data block of
// the largest sstable in the Pebble directory dir, as a bad disk sector
// would, and returns the sstable's path and a func that puts the good bytes
// back. Every read of a key in that table then fails its block checksum.
// It works on the real file system.
func CorruptSSTBlocks(t testing.TB, dir string) (sst string, repair func()) {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	var size int64
	for _, n := range names {
		if st, err := os.Stat(n); err == nil && st.Size() > size {
			sst, size = n, st.Size()
		}
	}
	if sst == "" {
		t.Fatalf("no sstable in %s", dir)
	}
	good, err := os.ReadFile(sst)
	if err != nil {
		t.Fatal(err)
	}
	f, err := vfs.Default.Open(sst)
	if err != nil {
		t.Fatal(err)
	}
	readable, err := sstable.NewSimpleReadable(f)
	if err != nil {
		t.Fatal(err)
	}
	r, err := sstable.NewReader(context.Background(), readable, sstable.ReaderOptions{})
	if err != nil {
		readable.Close()
		t.Fatal(err)
	}
	layout, err := r.Layout()
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(layout.Data) == 0 {
		t.Fatalf("%s has no data block", sst)
	}
	bad := bytes.Clone(good)
	for _, h := range layout.Data {
		mid := int(h.Offset + h.Length/2)
		copy(bad[mid:min(mid+8, int(h.Offset+h.Length))], "XXXXXXXX")
	}
	if err := os.WriteFile(sst, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	return sst, func() {
		if err := os.WriteFile(sst, good, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
