//go:build !linux

package e2e

import "os"

// fdatasync falls back to a full sync where the system has none (macOS:
// F_FULLFSYNC, as the CommitLog's SyncData there).
func fdatasync(f *os.File) error { return f.Sync() }
