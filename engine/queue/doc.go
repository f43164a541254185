// Package queue keeps the consume queues and the broker's metadata in Pebble.
//
// Key layouts (all integers big-endian; topic and group names never contain
// 0x00, which the broker enforces, so it separates them):
//
//	consume-queue entry   'q' topic 0x00 queueID(4) queueOffset(8)
//	                      -> phys(8) size(4) tagsCode(8) storeTime(8)
//	queue state           's' topic 0x00 queueID(4) -> minOffset(8) maxOffset(8)
//	tag bloom of a block  'b' topic 0x00 queueID(4) block(8) -> index.TagBloom bytes
//	                      (holds every tag code of the block's BlockSize entries and
//	                      SubBlockKey(code, i/SubBlockSize) for the entry at i)
//	consumer offset       'o' group 0x00 topic 0x00 queueID(4) -> offset(8)
//	topic config          't' topic -> JSON
//	group config          'g' group -> JSON
//	dispatch checkpoint   'c' 'd' -> phys(8)
//
// maxOffset is the next queue offset (the number of entries ever written);
// minOffset the first one still kept. Entries, states, blooms and the
// checkpoint are derived from the CommitLog and written without fsync: the
// CommitLog is the log, and replay from the checkpoint rebuilds them.
// Consumer offsets and configs are written with fsync.
//
// Part of the format: the prefixes and the value layouts.
package queue
