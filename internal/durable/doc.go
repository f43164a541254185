// Package durable holds the disk-format plumbing shared by the CommitLog,
// the key index and the store: 20-digit file names, directory fsyncs, a
// durable mkdir, the lock file, and a file of two checksummed slots for
// checkpoints. Each is written once here so that a crash-safety argument is
// made once.
//
// Everything goes through Pebble's vfs.FS, so tests can inject faults
// (errorfs) and simulate power loss (vfs.NewCrashableMem).
//
// # Slot file
//
// A slot file holds two copies of a small record, each
//
//	offset   size  field
//	0        P     prefix: fixed bytes (magic, version) set by the Layout
//	P        8     sequence number, big-endian
//	P+8      N     payload
//	P+8+N    4     CRC-32C (Castagnoli) of bytes 0..P+8+N, big-endian
//
// Slot i lives at byte i×Stride, with Stride at least a sector (512), so
// the two never share one. Writes alternate: sequence number s goes to slot
// s mod 2, and the valid slot with the higher number wins, as bbolt does
// with its meta pages. Users pick P, N and Stride (Layout); the CommitLog's
// checkpoint and the index's CHECKPOINT are both this format with different
// layouts, so stores written before this package read unchanged.
package durable
