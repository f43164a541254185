//go:build unix && !linux

package commitlog

import "github.com/cockroachdb/pebble/v2/vfs"

// reserve allocates the blocks of f's first size bytes. Without fallocate
// (macOS, the BSDs) it writes zeros into the holes, which reads the same
// and leaves no page of the mapping without a block; slower than
// fallocate, paid once per mapped segment.
//
// These systems are for development, not for the durability proofs (the
// crash, kill -9 and power-loss tests run on Linux). On macOS fsync(2)
// alone does not flush the drive's write cache; Go's File.Sync, which
// vfs.File.Sync and SyncData call there, uses F_FULLFSYNC instead, falling
// back to fsync where the file system refuses it.
func reserve(f vfs.File, fd int, size int64) error {
	return fillHoles(f, fd, size)
}
