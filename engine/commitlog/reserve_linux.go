package commitlog

import (
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// reserve allocates the blocks of f's first size bytes without changing its
// size (fallocate KEEP_SIZE). A file system without fallocate only loses
// the reservation.
func reserve(_ vfs.File, fd int, size int64) error {
	if err := unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, 0, size); err != nil && err != unix.EOPNOTSUPP {
		return err
	}
	return nil
}
