package vfstest

import (
	"errors"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestNoCreateFS(t *testing.T) {
	fs := &NoCreateFS{FS: vfs.NewMem(), Part: "/index/"}
	if err := fs.MkdirAll("/d/index", 0o755); err != nil {
		t.Fatal(err)
	}
	fs.Fail.Store(true)
	if _, err := fs.Create("/d/index/a", vfs.WriteCategoryUnspecified); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("create under /index/ while failing: %v, want ENOSPC", err)
	}
	f, err := fs.Create("/d/other", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatalf("create elsewhere: %v", err)
	}
	f.Close()
	fs.Fail.Store(false)
	f, err = fs.Create("/d/index/a", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatalf("create after the fault is gone: %v", err)
	}
	f.Close()
}
