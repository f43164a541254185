//go:build !unix

package commitlog

import (
	"errors"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Without unix mmap every segment takes the buffered write path (mmap.go).

// canMap reports whether f can be mapped: never here.
func canMap(vfs.File) bool { return false }

// mapSegment is never called where canMap is false.
func mapSegment(*segment, int64) error {
	return errors.New("mapping segments is not supported on this system")
}

// unmap has nothing to release.
func (s *segment) unmap() error { return nil }
