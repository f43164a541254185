// Package vfstest holds test helpers over file systems: vfs.FS wrappers
// that inject faults or report a set disk usage, whole-file reads and
// writes for fixtures, and a small tmpfs mounted for a test.
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

// UsageFS reports the disk usage a test sets, UsedPct percent of a disk of
// 100 Units bytes; everything else goes to the wrapped FS.
type UsageFS struct {
	vfs.FS
	// Unit is one percent of the disk in bytes; zero means 1 GiB.
	Unit uint64
	// UsedPct is the share of the disk in use, in percent.
	UsedPct atomic.Int64
}

// GetDiskUsage reports UsedPct of 100 Units.
func (f *UsageFS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	unit := f.Unit
	if unit == 0 {
		unit = 1 << 30
	}
	used := uint64(f.UsedPct.Load())
	return vfs.DiskUsage{TotalBytes: 100 * unit, UsedBytes: used * unit, AvailBytes: (100 - used) * unit}, nil
}
