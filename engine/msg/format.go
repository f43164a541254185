package msg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
)

// Record format constants. Part of the on-disk and wire format: never change.
const (
	// MagicCode marks a 4.x (V1) message record.
	MagicCode uint32 = 0xDAA320A7
	// BlankMagic marks the filler at the end of a segment.
	BlankMagic uint32 = 0xCBD43194

	offTotalSize   = 0
	offMagic       = 4
	offBodyCRC     = 8
	offQueueID     = 12
	offFlag        = 16
	offQueueOffset = 20
	offPhysOffset  = 28
	offSysFlag     = 36
	offBornTime    = 40
	offBornHost    = 48

	// BlankHeaderSize is the smallest BLANK record: TOTALSIZE and MAGIC.
	BlankHeaderSize = 8
	// MinRecordSize is the size of a record with IPv4 hosts and an empty
	// body, topic and properties.
	MinRecordSize = 91
	// MaxTopicLength is the longest topic the 1-byte length field allows.
	MaxTopicLength = 127
	// MaxPropertiesLength is the longest properties string (signed int16).
	MaxPropertiesLength = 32767
)

// SysFlag bits (RocketMQ MessageSysFlag).
const (
	FlagCompressed        int32 = 0x1
	FlagMultiTags         int32 = 0x2
	FlagTransactionMask   int32 = 0xC
	FlagTransactionPrep   int32 = 0x4
	FlagTransactionCommit int32 = 0x8
	FlagTransactionRoll   int32 = 0xC
	FlagBornHostV6        int32 = 0x10
	FlagStoreHostV6       int32 = 0x20
)

// Errors returned by Decode. ErrCorrupt wraps every structural problem.
var (
	// ErrCorrupt means the bytes are not a well-formed record.
	ErrCorrupt = errors.New("msg: corrupt record")
	// ErrShort means the buffer ends before the record does.
	ErrShort = errors.New("msg: record truncated")
	// ErrBadCRC means the body does not match BODYCRC.
	ErrBadCRC = errors.New("msg: body CRC mismatch")
)

var be = binary.BigEndian

// BodyCRC is RocketMQ's body checksum: CRC32-IEEE masked to 31 bits.
func BodyCRC(body []byte) uint32 { return crc32.ChecksumIEEE(body) & 0x7FFFFFFF }

func hostLen(v6 bool) int {
	if v6 {
		return 20
	}
	return 8
}

// Message is what a producer hands to the store. The store fills in queue
// offset, physical offset and store timestamp at append.
type Message struct {
	Topic                     string
	QueueID                   int32
	Flag                      int32
	Body                      []byte
	Properties                string
	SysFlag                   int32
	BornTimestamp             int64
	BornHost                  netip.AddrPort
	StoreHost                 netip.AddrPort
	ReconsumeTimes            int32
	PreparedTransactionOffset int64
}

func (m *Message) sysFlag() int32 {
	f := m.SysFlag &^ (FlagBornHostV6 | FlagStoreHostV6)
	if isV6(m.BornHost.Addr()) {
		f |= FlagBornHostV6
	}
	if isV6(m.StoreHost.Addr()) {
		f |= FlagStoreHostV6
	}
	return f
}

func isV6(a netip.Addr) bool { return a.IsValid() && !a.Unmap().Is4() }

// Validate checks the limits the record format imposes.
func (m *Message) Validate() error {
	if len(m.Topic) == 0 || len(m.Topic) > MaxTopicLength {
		return fmt.Errorf("msg: topic length %d outside 1..%d", len(m.Topic), MaxTopicLength)
	}
	if len(m.Properties) > MaxPropertiesLength {
		return fmt.Errorf("msg: properties length %d over %d", len(m.Properties), MaxPropertiesLength)
	}
	return nil
}

// EncodedSize is the size of m's record.
func (m *Message) EncodedSize() int {
	f := m.sysFlag()
	return 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + hostLen(f&FlagBornHostV6 != 0) + 8 +
		hostLen(f&FlagStoreHostV6 != 0) + 4 + 8 + 4 + len(m.Body) + 1 + len(m.Topic) + 2 + len(m.Properties)
}

// AppendRecord appends m's record to dst, with zero queue offset, physical
// offset and store timestamp. It does not validate m (see Validate).
func AppendRecord(dst []byte, m *Message) []byte {
	size := m.EncodedSize()
	f := m.sysFlag()
	start := len(dst)
	dst = grow(dst, size)
	b := dst[start : start+size]
	be.PutUint32(b[offTotalSize:], uint32(size))
	be.PutUint32(b[offMagic:], MagicCode)
	be.PutUint32(b[offBodyCRC:], BodyCRC(m.Body))
	be.PutUint32(b[offQueueID:], uint32(m.QueueID))
	be.PutUint32(b[offFlag:], uint32(m.Flag))
	be.PutUint64(b[offQueueOffset:], 0)
	be.PutUint64(b[offPhysOffset:], 0)
	be.PutUint32(b[offSysFlag:], uint32(f))
	be.PutUint64(b[offBornTime:], uint64(m.BornTimestamp))
	p := offBornHost + putHost(b[offBornHost:], m.BornHost, f&FlagBornHostV6 != 0)
	be.PutUint64(b[p:], 0) // store timestamp, patched at append
	p += 8
	p += putHost(b[p:], m.StoreHost, f&FlagStoreHostV6 != 0)
	be.PutUint32(b[p:], uint32(m.ReconsumeTimes))
	p += 4
	be.PutUint64(b[p:], uint64(m.PreparedTransactionOffset))
	p += 8
	be.PutUint32(b[p:], uint32(len(m.Body)))
	p += 4
	p += copy(b[p:], m.Body)
	b[p] = byte(len(m.Topic))
	p++
	p += copy(b[p:], m.Topic)
	be.PutUint16(b[p:], uint16(len(m.Properties)))
	p += 2
	copy(b[p:], m.Properties)
	return dst
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

func putHost(b []byte, h netip.AddrPort, v6 bool) int {
	a := h.Addr().Unmap()
	if v6 {
		ip := a.As16()
		copy(b, ip[:])
		be.PutUint32(b[16:], uint32(h.Port()))
		return 20
	}
	var ip [4]byte
	if a.Is4() {
		ip = a.As4()
	}
	copy(b, ip[:])
	be.PutUint32(b[4:], uint32(h.Port()))
	return 8
}

func storeTimeOffset(rec []byte) int {
	return offBornHost + hostLen(int32(be.Uint32(rec[offSysFlag:]))&FlagBornHostV6 != 0)
}

// SetOffsets writes the queue offset and physical offset into an encoded record.
func SetOffsets(rec []byte, queueOffset, physOffset int64) {
	be.PutUint64(rec[offQueueOffset:], uint64(queueOffset))
	be.PutUint64(rec[offPhysOffset:], uint64(physOffset))
}

// SetStoreTimestamp writes the store timestamp into an encoded record.
func SetStoreTimestamp(rec []byte, ms int64) {
	be.PutUint64(rec[storeTimeOffset(rec):], uint64(ms))
}

// AppendBlank appends a BLANK filler of n bytes (n >= BlankHeaderSize) to
// dst; the bytes after the header are zero.
func AppendBlank(dst []byte, n int) []byte {
	start := len(dst)
	dst = grow(dst, n)
	b := dst[start:]
	clear(b)
	be.PutUint32(b[offTotalSize:], uint32(n))
	be.PutUint32(b[offMagic:], BlankMagic)
	return dst
}
