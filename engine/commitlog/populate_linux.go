package commitlog

import "golang.org/x/sys/unix"

// populate asks the kernel to read the pages of b in (clean, read-only),
// allocating zeroed ones for reserved blocks never written.
func populate(b []byte) error { return unix.Madvise(b, unix.MADV_POPULATE_READ) }
