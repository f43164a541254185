package e2e

import (
	"os"
	"syscall"
)

// fdatasync is what a SYNC_FLUSH append costs the CommitLog here.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
