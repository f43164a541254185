package index

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
)

func TestEntryCRCMatchesPlainCRC(t *testing.T) {
	var b [entrySize]byte
	encodeEntry(b[:], entry{hash: 0xdeadbeef12345678, phys: 1 << 40, delta: -5, prev: 77}, 3, 99)
	var cat [32]byte
	copy(cat[:], b[:24])
	binary.BigEndian.PutUint32(cat[24:], 3)
	binary.BigEndian.PutUint32(cat[28:], 99)
	if got, want := binary.BigEndian.Uint32(b[24:]), crc32.Checksum(cat[:], castagnoli); got != want {
		t.Fatalf("entry crc %#x, want %#x", got, want)
	}
	if !entryValid(b[:], 3, 99) || entryValid(b[:], 4, 99) || entryValid(b[:], 3, 98) {
		t.Fatal("entryValid does not bind generation and position")
	}
	if e := decodeEntry(b[:]); e != (entry{hash: 0xdeadbeef12345678, phys: 1 << 40, delta: -5, prev: 77}) {
		t.Fatalf("round trip: %+v", e)
	}
}

func TestHashKeyStable(t *testing.T) {
	// The hash is part of the format: these values must never change.
	for key, want := range map[string]uint64{
		"":                0xefd01f60ba992926,
		"TopicTest#KEY-1": 0x1654a16e90b57914,
		"T#k":             0xe970b52552227929,
	} {
		if hashKey(key) != want {
			t.Fatalf("hashKey(%q) changed", key)
		}
	}
	if hashKey("a") == hashKey("b") || hashKey("T#k1") == hashKey("T#k2") {
		t.Fatal("trivial collision")
	}
}
