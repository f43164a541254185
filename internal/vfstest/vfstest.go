// Package vfstest holds test helpers over file systems: a vfs.FS wrapper
// that injects faults, whole-file reads and writes for fixtures, and a
// small tmpfs mounted for a test.
package vfstest

import (
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// NoCreateFS fails, with ENOSPC, the creation of every file whose path
// contains Part while Fail is set, as a full disk does; everything else
// goes to the wrapped FS.
type NoCreateFS struct {
	vfs.FS
	// Part selects the paths whose creation fails, e.g. "/index/".
	Part string
	// Fail switches the fault on and off.
	Fail atomic.Bool
}

// Create fails with ENOSPC while Fail is set and name contains Part.
func (f *NoCreateFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	if f.Fail.Load() && strings.Contains(name, f.Part) {
		return nil, fmt.Errorf("create %s: %w", name, syscall.ENOSPC)
	}
	return f.FS.Create(name, cat)
}
