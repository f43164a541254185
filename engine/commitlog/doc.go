// Package commitlog is Wharf's CommitLog: every message of every topic,
// appended to fixed-size segment files in RocketMQ's record format
// (package msg).
//
// # Segments
//
// A segment is a file named by the 20-digit decimal offset of its first byte
// (filenames.go); all segments have the same size (Options.SegmentSize, 1 GiB
// by default). A record never spans two segments: when a record plus an
// 8-byte BLANK header does not fit in what is left, the tail is filled with a
// BLANK record and the record goes to the start of the next segment. Bytes
// past the end of the log are always zero.
//
// # Group commit
//
// Appenders copy their encoded records into a shared pending buffer under mu,
// patch in the physical offset (and, through the caller's callback, queue
// offsets and store time) and wait. The first waiter to take flushMu is the
// flusher for everyone pending: it swaps the pending buffer for a spare one,
// writes it with one WriteAt per segment touched, and then:
//
//   - SyncFlush: fdatasyncs once for everyone pending, then wakes them. So N
//     concurrent appenders share one write and one fsync; the others sleep
//     until that flush ends.
//   - AsyncFlush: wakes them after the write (the data is in the page cache
//     and survives a process crash); a timer fsyncs every FlushInterval,
//     outside flushMu, so power loss costs at most one interval.
//
// Before taking the pending bytes a SyncFlush leader yields while other
// appends keep arriving (gather), if the previous flush covered more than
// one append. Every release of flushMu goes through unlockFlush, which bumps
// the flush generation after unlocking, so no waiter sleeps past a flush.
//
// # The mapped mode
//
// Under AsyncFlush (Options.Mmap) the active segment is mapped shared and
// an append copies its records straight into it under mu: that copy is the
// write, so the acknowledgement costs no system call (mmap.go). Mapped
// segments have their full size and reserved blocks, so stores never fault.
// Bytes from a master (AppendReplica, frames of 32 KiB and more) are the
// exception: one pwrite into the same page cache costs less than a write
// fault per page, and the prefaulter rests meanwhile.
//
// A sealed segment is fsynced before the flusher moves on. After any write or
// fsync error the log is read-only until reopened: an fsync cannot be
// retried safely (the kernel may have dropped the dirty pages).
//
// Readers see data up to Readable: the synced offset under SyncFlush (so a
// consumer never sees a message that a power loss could take back), the
// written offset under AsyncFlush.
//
// # Pre-writing
//
// fdatasync into pages that already exist on disk is much cheaper than into
// newly appended ones (no block allocation, no size change to journal). Once
// the writer is half way through a segment, a background goroutine
// zero-fills and syncs the next one, so a roll finds it ready; the active
// segment of a new log (or one found part-filled at open) is zero-filled in
// 256 KiB synced chunks at most 64 MiB ahead of the writer, which leapfrogs
// the filler if it catches it (claimFill). Segments reserve their space when
// created, so a full disk fails only the append that needs a new segment
// (ErrDiskFull) and leaves the log writable.
//
// # Checkpoint and recovery
//
// The file "checkpoint" holds two checksummed slots, written alternately
// (the newer valid one wins, as bbolt does with its meta pages): a slot file
// of internal/durable, layout in checkpoint.go. A slot
// records an offset at a record boundary below which everything is durable,
// and whether the log was closed cleanly. The flusher refreshes it at most
// once a second, after the fsync that covers it.
//
// Open after a clean close trusts the checkpoint and scans nothing. Otherwise
// it scans from the checkpoint, holding each record to VerifyRecord (magic,
// size, physical offset, body CRC, whole-record CRC); Check and the Iterator
// walk segments with the same scanner (scanner.go) and the same verifier, so
// recovery keeps exactly the records Check accepts. The first bad or missing
// record is the end of the log: everything after it is zeroed (and later segments removed), and the
// Report says where, how much and why. Nothing before the cut is dropped.
// Under SyncFlush nothing acknowledged lies past the cut, because an
// acknowledgement waits for an fsync of every byte before it.
//
// # Truncation
//
// A replica in failover mode cuts a divergent tail with TruncateTo (at a
// record boundary; everything below is synced first). The cut is made
// crash-safe by a durable mark, the file "truncating" (truncate.go): a
// recovery that finds it ends the log at the mark whatever it scans past
// it, finishes the cut, and only then removes the mark, so a crash at any
// point never brings a cut record back (apache/rocketmq#10666).
//
// Lock order: flushMu, then mu, then fill, then segMu, then waitMu.
package commitlog
