// Package index holds Wharf's key hash index and its tag Bloom filters.
//
// The hash index maps a key (the engine passes topic + "#" + key for every
// KEYS element and for UNIQ_KEY) to the CommitLog offsets ("phys") and store
// times of the messages carrying it. Like RocketMQ's IndexFile it is a set of
// fixed-size files, each a hash table of slots whose entries chain back
// through older entries of the same slot. Hits are candidates (the key hash
// matches): the caller reads the message to confirm the key.
//
// # Files
//
// DIR/00000000000000001234 is the index file whose first entry has phys
// 1234 (20 decimal digits, durable.Name, so names sort in phys order; when
// several files start at one phys, each name is one more than the previous
// one). A file is created at its full size (preallocated) and never grows:
// 4096 + 4 × slots + 28 × (entries + 1) bytes, 580 MB with the defaults
// (5,000,000 slots, 20,000,000 entries). All integers are big-endian.
//
//	offset                      size            content
//	0                           76              header copy 0
//	512                         76              header copy 1
//	4096                        4 × slots       slot table: uint32 entry number, 0 = empty
//	4096 + 4 × slots            28 × entries    entry table; entry 0 is never used
//
// Header (the valid copy with the higher sequence number wins; writes
// alternate between the copies, so a torn write spoils only the older one):
//
//	offset size field
//	0      4    magic 0x57484958 ("WHIX")
//	4      2    version (1)
//	6      2    flags: bit 0 = clean (the slot table agrees with count)
//	8      8    sequence number
//	16     4    slot count
//	20     4    entry capacity, including entry 0
//	24     4    count: entries [1, count) are valid
//	28     4    generation (see Crash safety)
//	32     8    base time: entry store times are ms deltas from it
//	40     8    phys of entry 1
//	48     8    upper bound of every entry's phys
//	56     8    lower bound of every entry's store time (ms)
//	64     8    upper bound of every entry's store time (ms)
//	72     4    CRC-32C of bytes 0..72
//
// Entry n lives at 4096 + 4 × slots + 28 × n:
//
//	offset size field
//	0      8    key hash: 64-bit FNV-1a of the key, then the MurmurHash3 finalizer
//	8      8    phys (CommitLog offset)
//	16     4    store time − base time, ms (int32; a time that does not fit starts a new file)
//	20     4    previous entry number with the same slot, 0 = end of chain
//	24     4    CRC-32C of bytes 0..24, then generation and n (uint32 each)
//
// The slot of a key is hash mod slot count. Storing all 64 hash bits keeps
// false candidates rare (about one in 2^64 per entry walked past), unlike
// RocketMQ's 31-bit hash, which is also its slot number.
//
// DIR/CHECKPOINT holds two alternately written, checksummed copies of the
// checkpoint, a slot file of internal/durable (layout in checkpoint.go): the
// index is complete for every phys below it. RemoveAll deletes it first.
//
// # Writing
//
// One file is active. It keeps its slot table in memory (20 MB at the default
// 5,000,000 slots) and buffers new entries, writing them in 64 KiB runs;
// Sync writes the buffered entries and the dirty slot pages. Older files are
// sealed: read with pread, slots included, and never written unless a
// truncation reaches them. Entries are appended in phys order, so a
// truncation finds its cut by binary search.
//
// # Reading
//
// Query walks the key's chain in each file from the newest file down,
// skipping files whose store-time bounds miss the window. Chains are newest
// first, so results come out newest first and a query stops after max hits.
// A chain is walked to its end when the time window filters most hits out
// (store times are not trusted to be monotonic), one pread per entry in a
// sealed file: a very hot key queried for an old, narrow window is the slow
// case.
//
// # Crash safety
//
// Sync(upTo) makes the active file durable in a fixed order: entries and
// slots are written and fsynced, then a header carrying the new count is
// written and fsynced, then the checkpoint. So every entry below a synced
// header's count is on disk, and every entry below the checkpoint is below
// some synced count. Open trusts exactly that and drops the rest: entries at
// or past the checkpoint are truncated away, and a file whose header is
// unreadable is removed if its name is at or past the checkpoint (a torn
// creation) and reported as ErrCorrupt otherwise.
//
// Slots are overwritten in place, so after a crash the slot table may hold
// any mix of old and new pages. Writers keep one invariant on disk: a slot
// holds either its correct head for the synced count or a number at or above
// that count. Open checks every slot of a file not marked clean and repairs
// those that point too high: it follows the chain through the newer entries,
// accepting an entry only if its CRC matches this generation and position
// (so stale or never-written entries fail) and its hash belongs to the slot,
// and when the chain breaks, it scans the durable entries from the newest
// down. A truncation syncs the
// lowered count and a new generation before it rewrites any slot, and the
// generation is also bumped whenever a file is reopened for Adds, so no
// stale entry ever passes for a new one at a reused position. Files are
// marked clean when sealed and on Close, so a clean restart reads no slot
// table but the active file's.
//
// A truncation repairs the hash chains: it walks the dropped entries from
// the newest, and a slot whose head is a dropped entry takes that entry's
// previous entry, so older entries of the chain stay reachable.
//
// After a failed write or fsync the index refuses further writes until it is
// reopened; queries keep working.
//
// # Tag filters
//
// TagBloom is a Bloom filter over tag hash codes for one block of
// DefaultBloomBlock consume-queue entries. The engine stores the serialized
// filters in Pebble; this package only provides the type.
package index
