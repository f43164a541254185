package msg

import (
	"fmt"
	"net/netip"
)

// Kind tells what a decoded header is.
type Kind uint8

const (
	// KindRecord is a message record.
	KindRecord Kind = iota + 1
	// KindBlank is an end-of-segment filler.
	KindBlank
	// KindEnd is zero TOTALSIZE: nothing was ever written here.
	KindEnd
)

// PeekHeader reads TOTALSIZE and MAGIC at the start of b and classifies them.
// It checks only what the two fields say; Decode checks the rest.
func PeekHeader(b []byte) (size int, kind Kind, err error) {
	if len(b) < BlankHeaderSize {
		if allZero(b) {
			return 0, KindEnd, nil
		}
		return 0, 0, fmt.Errorf("%w: %d bytes, header needs 8", ErrShort, len(b))
	}
	size = int(int32(be.Uint32(b[offTotalSize:])))
	magic := be.Uint32(b[offMagic:])
	switch {
	case size == 0 && magic == 0:
		return 0, KindEnd, nil
	case magic == BlankMagic:
		if size < BlankHeaderSize {
			return 0, 0, fmt.Errorf("%w: blank size %d", ErrCorrupt, size)
		}
		return size, KindBlank, nil
	case magic == MagicCode:
		if size < MinRecordSize {
			return 0, 0, fmt.Errorf("%w: size %d below minimum %d", ErrCorrupt, size, MinRecordSize)
		}
		return size, KindRecord, nil
	default:
		return 0, 0, fmt.Errorf("%w: bad magic %#08x", ErrCorrupt, magic)
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// Record is a decoded view of one stored record. Its byte-slice fields alias
// the buffer it was decoded from.
type Record struct {
	Raw                       []byte // the whole record
	QueueID                   int32
	Flag                      int32
	QueueOffset               int64
	PhysOffset                int64
	SysFlag                   int32
	BornTimestamp             int64
	BornHost                  netip.AddrPort
	StoreTimestamp            int64
	StoreHost                 netip.AddrPort
	ReconsumeTimes            int32
	PreparedTransactionOffset int64
	BodyCRC                   uint32
	Body                      []byte
	Topic                     []byte
	Properties                []byte
}

// Decode parses the record at the start of b. It verifies magic and that every
// length field agrees with TOTALSIZE; it does not check the body CRC (see
// VerifyCRC).
func Decode(b []byte) (Record, error) {
	var r Record
	size, kind, err := PeekHeader(b)
	if err != nil {
		return r, err
	}
	if kind != KindRecord {
		return r, fmt.Errorf("%w: not a message record", ErrCorrupt)
	}
	if size > len(b) {
		return r, fmt.Errorf("%w: size %d, have %d bytes", ErrShort, size, len(b))
	}
	rec := b[:size:size]
	r.Raw = rec
	r.BodyCRC = be.Uint32(rec[offBodyCRC:])
	r.QueueID = int32(be.Uint32(rec[offQueueID:]))
	r.Flag = int32(be.Uint32(rec[offFlag:]))
	r.QueueOffset = int64(be.Uint64(rec[offQueueOffset:]))
	r.PhysOffset = int64(be.Uint64(rec[offPhysOffset:]))
	r.SysFlag = int32(be.Uint32(rec[offSysFlag:]))
	r.BornTimestamp = int64(be.Uint64(rec[offBornTime:]))
	bornV6 := r.SysFlag&FlagBornHostV6 != 0
	storeV6 := r.SysFlag&FlagStoreHostV6 != 0
	fixed := MinRecordSize + (hostLen(bornV6) - 8) + (hostLen(storeV6) - 8)
	if size < fixed {
		return r, fmt.Errorf("%w: size %d below fixed part %d", ErrCorrupt, size, fixed)
	}
	p := offBornHost
	var ok1, ok2 bool
	r.BornHost, p, ok1 = getHost(rec, p, bornV6)
	r.StoreTimestamp = int64(be.Uint64(rec[p:]))
	p += 8
	r.StoreHost, p, ok2 = getHost(rec, p, storeV6)
	if !ok1 || !ok2 {
		return r, fmt.Errorf("%w: host port out of range", ErrCorrupt)
	}
	r.ReconsumeTimes = int32(be.Uint32(rec[p:]))
	p += 4
	r.PreparedTransactionOffset = int64(be.Uint64(rec[p:]))
	p += 8
	bodyLen := int(int32(be.Uint32(rec[p:])))
	p += 4
	// What remains after the body: topic length byte, properties length.
	if bodyLen < 0 || bodyLen > size-p-3 {
		return r, fmt.Errorf("%w: body length %d does not fit size %d", ErrCorrupt, bodyLen, size)
	}
	r.Body = rec[p : p+bodyLen]
	p += bodyLen
	topicLen := int(rec[p])
	p++
	if topicLen > size-p-2 {
		return r, fmt.Errorf("%w: topic length %d does not fit", ErrCorrupt, topicLen)
	}
	r.Topic = rec[p : p+topicLen]
	p += topicLen
	propLen := int(int16(be.Uint16(rec[p:])))
	p += 2
	if propLen < 0 || p+propLen != size {
		return r, fmt.Errorf("%w: properties length %d does not end the record (size %d)", ErrCorrupt, propLen, size)
	}
	r.Properties = rec[p:size]
	return r, nil
}

// getHost reads an address and an int32 port; ok is false for a port that
// does not fit 16 bits.
func getHost(b []byte, p int, v6 bool) (netip.AddrPort, int, bool) {
	n := 4
	if v6 {
		n = 16
	}
	port := be.Uint32(b[p+n:])
	var a netip.Addr
	if v6 {
		a = netip.AddrFrom16([16]byte(b[p : p+16]))
	} else {
		a = netip.AddrFrom4([4]byte(b[p : p+4]))
	}
	return netip.AddrPortFrom(a, uint16(port)), p + n + 4, port <= 0xFFFF
}

// VerifyCRC checks the body against BODYCRC.
func (r *Record) VerifyCRC() error {
	if got := BodyCRC(r.Body); got != r.BodyCRC {
		return fmt.Errorf("%w: stored %#x, computed %#x", ErrBadCRC, r.BodyCRC, got)
	}
	return nil
}

// Property returns the value of property key.
func (r *Record) Property(key string) (string, bool) {
	return Property(string(r.Properties), key)
}

// WholeUnits returns the length of the longest prefix of b made of whole
// units (records and BLANK fillers), for a reader that receives a
// CommitLog's bytes in pieces (a slave): the rest waits for more bytes.
// It fails on a header that is neither, or that is all zero (no unit
// starts with nothing).
func WholeUnits(b []byte) (int, error) {
	p := 0
	for len(b)-p >= BlankHeaderSize {
		size, kind, err := PeekHeader(b[p:])
		if err != nil {
			return p, fmt.Errorf("at %d: %w", p, err)
		}
		if kind == KindEnd {
			return p, fmt.Errorf("%w: zero header at %d", ErrCorrupt, p)
		}
		if size > len(b)-p {
			break
		}
		p += size
	}
	return p, nil
}
