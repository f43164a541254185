// Package engine is Wharf's message store: the Store the broker uses.
//
// On disk, under the data directory:
//
//	commitlog/   segment files and their checkpoint (package commitlog)
//	meta/        Pebble: consume queues, tag blooms, consumer offsets,
//	             topic and group configs, dispatch checkpoint (package queue)
//	index/       key hash index files (package index)
//	lock         held while the store is open
//
// How the parts fit: Put encodes a record once (package msg), and the
// CommitLog appends it, assigning in its append lock the physical offset,
// the dense queue offset of (topic, queue) and the store time, so queue order
// is log order. The dispatcher (package dispatch) follows the CommitLog and
// writes queue entries, blooms and index entries; Get reads entries from
// Pebble and returns the stored records' bytes, concatenated, exactly as a
// pull response carries them.
//
// Open recovers the CommitLog (cutting a torn tail), drops derived entries
// that point past its end (they can lead it after a crash when Pebble was
// synced by an offset commit), replays the log from the dispatch checkpoint,
// and only then accepts writes, so the queue offsets it assigns continue
// exactly where the log ends.
//
// Promises: under SYNC_FLUSH a Put returns after its record is fsynced and
// survives a crash; under ASYNC_FLUSH after it is in the page cache (copied
// into the shared mapping of the active segment, see commitlog/mmap.go), so
// the death of the process loses nothing and power loss costs at most
// FlushInterval. A full disk fails a Put with ErrDiskFull and nothing else:
// segments reserve their space when created, and above DiskFullRatio the
// store refuses writes until there is room again. Get never returns a record that is not fully
// written and dispatched (under SYNC_FLUSH: not yet durable).
//
// Choices where RocketMQ leaves room: every stored record carries a
// whole-record checksum property (msg.PropCRC32) so recovery can tell a torn
// record from a whole one; a queue's store times never go backwards (the
// store time is the later of the clock and the previous one), so offset
// lookup by time is a binary search.
//
// Lock order: commitlog append lock, then the store's queue-offset table
// (touched only inside it), then queue.DB's state lock. Writers of derived
// data (a dispatch batch from its first write to its commit, retention,
// topic deletion, truncation) take queue.DB's writer lock, so each sees
// and writes back queue states the others cannot change under it.
//
// Failover mode (failover.go): TruncateTo cuts a replica's divergent tail
// and everything derived from it, durably cut first; SetConfirmOffset (and
// Options.HoldUnconfirmed at Open) keeps the dispatcher, and so every
// consumer and key query, below the confirm offset; ResumeQueueOffsets
// lets a replica that becomes master continue the queue offsets of its
// log.
//
// Users outside the engine (the broker) go through Store's methods only,
// named for what they do; the parts themselves (CommitLog, Meta, Index in
// internals.go) are for tools and tests.
//
// Build with -tags invariants (make test does) to compile in the
// self-checks of package invariants.
package engine
