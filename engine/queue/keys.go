package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Key prefixes. Part of the format.
const (
	prefixEntry      = 'q'
	prefixState      = 's'
	prefixBloom      = 'b'
	prefixOffset     = 'o'
	prefixTopic      = 't'
	prefixGroup      = 'g'
	prefixCheckpoint = 'c'
	prefixDeleted    = 'd' // topic -> log offset below which its records were deleted
	prefixMarker     = 'm' // see markerKey
)

var be = binary.BigEndian

// ErrBadName is returned for a topic or group name the key layout cannot hold.
var ErrBadName = errors.New("queue: name must be non-empty and free of 0x00")

// CheckName returns ErrBadName when the key layout cannot hold s as a
// topic or group name.
func CheckName(s string) error {
	if s == "" {
		return ErrBadName
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return ErrBadName
		}
	}
	return nil
}

// queuePrefix appends prefix, topic, 0x00, queueID.
func queuePrefix(dst []byte, prefix byte, topic string, queueID int32) []byte {
	dst = append(dst, prefix)
	dst = append(dst, topic...)
	dst = append(dst, 0)
	return be.AppendUint32(dst, uint32(queueID))
}

func entryKey(dst []byte, topic string, queueID int32, offset int64) []byte {
	return be.AppendUint64(queuePrefix(dst, prefixEntry, topic, queueID), uint64(offset))
}

func deletedKey(topic string) []byte {
	return append([]byte{prefixDeleted}, topic...)
}

func stateKey(dst []byte, topic string, queueID int32) []byte {
	return queuePrefix(dst, prefixState, topic, queueID)
}

// stateValue encodes a queue state (Min, Max). Part of the format.
func stateValue(st State) []byte {
	return be.AppendUint64(be.AppendUint64(nil, uint64(st.Min)), uint64(st.Max))
}

func bloomKey(dst []byte, topic string, queueID int32, block int64) []byte {
	return be.AppendUint64(queuePrefix(dst, prefixBloom, topic, queueID), uint64(block))
}

func offsetKey(group, topic string, queueID int32) []byte {
	k := append([]byte{prefixOffset}, group...)
	k = append(k, 0)
	k = append(k, topic...)
	k = append(k, 0)
	return be.AppendUint32(k, uint32(queueID))
}

// parseQueueKey splits a key made by queuePrefix (plus any suffix).
func parseQueueKey(k []byte) (topic string, queueID int32, rest []byte, err error) {
	if len(k) < 1 {
		return "", 0, nil, fmt.Errorf("queue: empty key")
	}
	for i := 1; i < len(k); i++ {
		if k[i] == 0 {
			if len(k) < i+5 {
				break
			}
			return string(k[1:i]), int32(be.Uint32(k[i+1:])), k[i+5:], nil
		}
	}
	return "", 0, nil, fmt.Errorf("queue: malformed key %q", k)
}

// prefixEnd is the smallest key greater than every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// Entry is one consume-queue entry.
type Entry struct {
	Phys      int64
	Size      int32
	TagsCode  int64
	StoreTime int64
}

// entrySize is the encoded size of an Entry. Part of the format.
const entrySize = 28

func (e Entry) encode(dst []byte) []byte {
	dst = be.AppendUint64(dst, uint64(e.Phys))
	dst = be.AppendUint32(dst, uint32(e.Size))
	dst = be.AppendUint64(dst, uint64(e.TagsCode))
	return be.AppendUint64(dst, uint64(e.StoreTime))
}

func decodeEntry(v []byte) (Entry, error) {
	if len(v) != entrySize {
		return Entry{}, fmt.Errorf("queue: entry value of %d bytes, want %d", len(v), entrySize)
	}
	return Entry{
		Phys:      int64(be.Uint64(v)),
		Size:      int32(be.Uint32(v[8:])),
		TagsCode:  int64(be.Uint64(v[12:])),
		StoreTime: int64(be.Uint64(v[20:])),
	}, nil
}
