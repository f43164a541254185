package commitlog

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// The mapped write path. When the file system hands out real file
// descriptors (the OS file system, not the in-memory one tests crash), the
// active segment is mapped shared and appends copy records straight into
// it, as RocketMQ's MappedFile does: the copy is the write to the page
// cache, so an ASYNC_FLUSH append is acknowledged without a system call
// and survives the death of the process; fdatasync writes the mapped pages
// like any others. Readers keep using pread, which sees the same pages.
//
// A mapped segment always has its full size (ftruncate) and its blocks
// reserved (reserve: fallocate on Linux, zeros written into the holes
// elsewhere), so stores into it can neither run past the end of the file
// nor find the disk full at write-back (either would be SIGBUS).

// canMap reports whether f can be mapped.
func canMap(f vfs.File) bool { return f.Fd() != vfs.InvalidFd }

// mapSegment grows seg's file to size if needed and maps it shared.
func mapSegment(seg *segment, size int64) error {
	fd := int(seg.file.Fd())
	st, err := seg.file.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", seg, err)
	}
	if st.Size() < size {
		if err := unix.Ftruncate(fd, size); err != nil {
			return fmt.Errorf("grow %s to %d bytes: %w", seg, size, err)
		}
	}
	if err := reserve(seg.file, fd, size); err != nil {
		return diskFull(fmt.Errorf("reserve %s: %w", seg, err))
	}
	mem, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map %s: %w", seg, err)
	}
	seg.mem = mem
	return nil
}

// unmap releases seg's mapping. Dirty pages stay in the page cache and a
// later fdatasync of the file still writes them.
func (s *segment) unmap() error {
	if s.mem == nil {
		return nil
	}
	err := unix.Munmap(s.mem)
	s.mem = nil
	if err != nil {
		return fmt.Errorf("commitlog: unmap %s: %w", s, err)
	}
	return nil
}
