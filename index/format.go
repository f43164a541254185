package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Format constants. Part of the format: changing any of them needs a new
// fileVersion. doc.go draws the layout they describe.
const (
	fileMagic    = 0x57484958 // "WHIX"
	fileVersion  = 1
	headerSize   = 76  // bytes used in one header copy
	headerStride = 512 // copy i lives at byte i*headerStride: the two never share a sector
	slotsOffset  = 4096
	slotSize     = 4
	entrySize    = 28
	flagClean    = 1 << 0 // slots agree exactly with count; Open need not check them

	// Limits checked when a header is read, so a damaged header cannot make
	// Open allocate or loop without bound.
	maxSlotCount = 1 << 27 // a 512 MiB slot table
	maxEntryCap  = 1 << 31 // entry numbers are uint32; prev/slot 0 means "none"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt marks damage that recovery cannot explain by a crash: a file
// whose header is unreadable although the checkpoint says it holds durable
// entries, or a hash chain that points forward. Test with errors.Is.
var ErrCorrupt = errors.New("index: corrupt")

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("index: closed")

// ErrReadOnly is returned by every write to an index opened ReadOnly.
var ErrReadOnly = errors.New("index: opened read-only")

// errBadFile says a file's header is missing, damaged or inconsistent with
// the file size; Open decides whether that is a torn creation or corruption.
var errBadFile = errors.New("index: bad file header")

// header is one copy of a file header. In memory it also serves as the live
// state of the file (count, bounds), which is ahead of the durable copy.
type header struct {
	flags     uint16
	seq       uint64 // header write sequence; the valid copy with the higher one wins
	slotCount uint32
	entryCap  uint32 // entry positions, including the never-used entry 0
	count     uint32 // entries [1, count) are valid
	gen       uint32 // bumped whenever entry positions may be reused (truncation, reopen)
	baseTime  int64  // store times are kept as int32 ms deltas from this
	beginPhys int64  // phys of entry 1
	endPhys   int64  // upper bound of every entry's phys
	minTime   int64  // lower bound of every entry's store time
	maxTime   int64  // upper bound of every entry's store time
}

func (h *header) encode(b []byte) {
	_ = b[headerSize-1]
	binary.BigEndian.PutUint32(b[0:], fileMagic)
	binary.BigEndian.PutUint16(b[4:], fileVersion)
	binary.BigEndian.PutUint16(b[6:], h.flags)
	binary.BigEndian.PutUint64(b[8:], h.seq)
	binary.BigEndian.PutUint32(b[16:], h.slotCount)
	binary.BigEndian.PutUint32(b[20:], h.entryCap)
	binary.BigEndian.PutUint32(b[24:], h.count)
	binary.BigEndian.PutUint32(b[28:], h.gen)
	binary.BigEndian.PutUint64(b[32:], uint64(h.baseTime))
	binary.BigEndian.PutUint64(b[40:], uint64(h.beginPhys))
	binary.BigEndian.PutUint64(b[48:], uint64(h.endPhys))
	binary.BigEndian.PutUint64(b[56:], uint64(h.minTime))
	binary.BigEndian.PutUint64(b[64:], uint64(h.maxTime))
	binary.BigEndian.PutUint32(b[72:], crc32.Checksum(b[:72], castagnoli))
}

// decodeHeader parses one header copy and checks everything that can be
// checked without the file size.
func decodeHeader(b []byte) (header, error) {
	if len(b) < headerSize {
		return header{}, fmt.Errorf("short header (%d bytes)", len(b))
	}
	if m := binary.BigEndian.Uint32(b[0:]); m != fileMagic {
		return header{}, fmt.Errorf("bad magic %#x", m)
	}
	if c, want := binary.BigEndian.Uint32(b[72:]), crc32.Checksum(b[:72], castagnoli); c != want {
		return header{}, fmt.Errorf("header crc %#x, want %#x", c, want)
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != fileVersion {
		return header{}, fmt.Errorf("unknown version %d", v)
	}
	h := header{
		flags:     binary.BigEndian.Uint16(b[6:]),
		seq:       binary.BigEndian.Uint64(b[8:]),
		slotCount: binary.BigEndian.Uint32(b[16:]),
		entryCap:  binary.BigEndian.Uint32(b[20:]),
		count:     binary.BigEndian.Uint32(b[24:]),
		gen:       binary.BigEndian.Uint32(b[28:]),
		baseTime:  int64(binary.BigEndian.Uint64(b[32:])),
		beginPhys: int64(binary.BigEndian.Uint64(b[40:])),
		endPhys:   int64(binary.BigEndian.Uint64(b[48:])),
		minTime:   int64(binary.BigEndian.Uint64(b[56:])),
		maxTime:   int64(binary.BigEndian.Uint64(b[64:])),
	}
	switch {
	case h.flags&^flagClean != 0:
		return header{}, fmt.Errorf("unknown flags %#x", h.flags)
	case h.slotCount == 0 || h.slotCount > maxSlotCount:
		return header{}, fmt.Errorf("slot count %d out of range", h.slotCount)
	case h.entryCap < 2 || h.entryCap > maxEntryCap:
		return header{}, fmt.Errorf("entry capacity %d out of range", h.entryCap)
	case h.count == 0 || h.count > h.entryCap:
		return header{}, fmt.Errorf("entry count %d out of range [1, %d]", h.count, h.entryCap)
	case h.beginPhys < 0 || h.endPhys < h.beginPhys:
		return header{}, fmt.Errorf("phys range [%d, %d] invalid", h.beginPhys, h.endPhys)
	}
	return h, nil
}

// entriesOffset is where entry 0 of a file with slotCount slots starts.
func entriesOffset(slotCount uint32) int64 {
	return slotsOffset + int64(slotCount)*slotSize
}

// fileSize is the fixed size of a file with the given shape.
func fileSize(slotCount, entryCap uint32) int64 {
	return entriesOffset(slotCount) + int64(entryCap)*entrySize
}

// entry is one decoded entry.
type entry struct {
	hash  uint64
	phys  int64
	delta int32  // store time - header.baseTime, in ms
	prev  uint32 // the previous entry with the same slot, 0 = none
}

// encodeEntry writes e, numbered idx, into b with a CRC that covers gen and
// idx too: after a crash only an entry written at this position in this
// generation passes (see repairSlots).
func encodeEntry(b []byte, e entry, gen, idx uint32) {
	_ = b[entrySize-1]
	binary.BigEndian.PutUint64(b[0:], e.hash)
	binary.BigEndian.PutUint64(b[8:], uint64(e.phys))
	binary.BigEndian.PutUint32(b[16:], uint32(e.delta))
	binary.BigEndian.PutUint32(b[20:], e.prev)
	binary.BigEndian.PutUint32(b[24:], entryCRC(b, gen, idx))
}

// entryCRC is the CRC-32C of bytes 0..24 of an entry followed by gen and idx
// (big-endian uint32s). The last eight bytes are folded in by hand, a byte at
// a time, so that nothing escapes to the heap on the Add path.
func entryCRC(b []byte, gen, idx uint32) uint32 {
	c := ^crc32.Update(0, castagnoli, b[:24])
	for _, v := range [8]byte{
		byte(gen >> 24), byte(gen >> 16), byte(gen >> 8), byte(gen),
		byte(idx >> 24), byte(idx >> 16), byte(idx >> 8), byte(idx),
	} {
		c = castagnoli[byte(c)^v] ^ (c >> 8)
	}
	return ^c
}

func entryValid(b []byte, gen, idx uint32) bool {
	return binary.BigEndian.Uint32(b[24:]) == entryCRC(b, gen, idx)
}

func decodeEntry(b []byte) entry {
	_ = b[entrySize-1]
	return entry{
		hash:  binary.BigEndian.Uint64(b[0:]),
		phys:  int64(binary.BigEndian.Uint64(b[8:])),
		delta: int32(binary.BigEndian.Uint32(b[16:])),
		prev:  binary.BigEndian.Uint32(b[20:]),
	}
}

// hashKey is the key hash stored in entries: 64-bit FNV-1a followed by the
// MurmurHash3 finalizer, which spreads FNV's weak low bits before the slot
// modulo. It must never change: it is part of the format.
func hashKey(key string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
