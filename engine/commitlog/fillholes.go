//go:build unix

package commitlog

import (
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// fillHoles writes zeros into every hole of f (descriptor fd) below size,
// so each of those bytes has a block on disk. Data is never overwritten:
// only ranges that SEEK_HOLE reports, which read as zeros already. Where
// the file system cannot report holes, it does nothing (no reservation,
// as fallocate's EOPNOTSUPP on Linux).
func fillHoles(f vfs.File, fd int, size int64) error {
	for off := int64(0); off < size; {
		hole, err := unix.Seek(fd, off, unix.SEEK_HOLE)
		if err != nil {
			return nil // ENXIO (off past the end) or no SEEK_HOLE here
		}
		if hole >= size {
			return nil
		}
		data, err := unix.Seek(fd, hole, unix.SEEK_DATA)
		if err != nil || data > size {
			data = size // ENXIO: the hole runs to the end of the file
		}
		if err := zeroFill(f, hole, data); err != nil {
			return err
		}
		off = data
	}
	return nil
}
