package msg

import (
	"bytes"
	"fmt"
	"hash/crc32"
)

// The body CRC leaves most of a record unchecked: a torn write that only
// loses the tail of the properties passes it. Like RocketMQ 5.x's
// enabledAppendPropCRC, Wharf reserves a last property, "__CRC32#", whose
// value is the CRC32 of every byte of the record before it, written as ten
// decimal digits after the store patches offsets and timestamp. Recovery
// checks it, so a record is either whole or cut. Clients see one more
// property and ignore it.
const (
	// PropCRC32 names the whole-record checksum property.
	PropCRC32 = "__CRC32#"
	// crcSlotLen is the reserved tail: name, \x01, 10 digits, \x02.
	crcSlotLen = len(PropCRC32) + 1 + 10 + 1
)

var crcSlotPrefix = []byte(PropCRC32 + "\x01")

// FlagRecordCRC is the SYSFLAG bit (unused by RocketMQ 4.x and 5.x) that
// says a record carries the checksum property. It sits in the fixed header,
// so a torn tail that takes the property with it is still noticed.
const FlagRecordCRC int32 = 1 << 16

// EnableRecordCRC reserves the checksum property and sets FlagRecordCRC.
func (m *Message) EnableRecordCRC() {
	if m.SysFlag&FlagRecordCRC == 0 {
		m.Properties = ReserveCRC(m.Properties)
		m.SysFlag |= FlagRecordCRC
	}
}

// ReserveCRC returns props with an unfilled checksum property appended.
func ReserveCRC(props string) string {
	if len(props) > 0 && props[len(props)-1] != PropertySep {
		props += string(PropertySep)
	}
	return props + PropCRC32 + "\x01" + "0000000000" + string(PropertySep)
}

// WantsCRC reports whether rec's SYSFLAG says it carries a checksum.
func WantsCRC(rec []byte) bool {
	return len(rec) > offSysFlag+4 && int32(be.Uint32(rec[offSysFlag:]))&FlagRecordCRC != 0
}

// HasCRCSlot reports whether rec ends with a checksum property.
func HasCRCSlot(rec []byte) bool {
	if len(rec) < MinRecordSize+crcSlotLen {
		return false
	}
	tail := rec[len(rec)-crcSlotLen:]
	return bytes.HasPrefix(tail, crcSlotPrefix) && tail[crcSlotLen-1] == PropertySep
}

// SealCRC fills the checksum property of rec, which must have one.
func SealCRC(rec []byte) {
	sum := crc32.ChecksumIEEE(rec[:len(rec)-crcSlotLen])
	d := rec[len(rec)-11 : len(rec)-1]
	for i := len(d) - 1; i >= 0; i-- {
		d[i] = byte('0' + sum%10)
		sum /= 10
	}
}

// VerifyRecordCRC checks the checksum property when rec's SYSFLAG says it
// has one.
func VerifyRecordCRC(rec []byte) error {
	if !WantsCRC(rec) {
		return nil
	}
	if !HasCRCSlot(rec) {
		return fmt.Errorf("%w: checksum property missing", ErrBadCRC)
	}
	var stored uint64
	for _, c := range rec[len(rec)-11 : len(rec)-1] {
		if c < '0' || c > '9' {
			return fmt.Errorf("%w: checksum property holds %q", ErrBadCRC, rec[len(rec)-11:len(rec)-1])
		}
		stored = stored*10 + uint64(c-'0')
	}
	if sum := crc32.ChecksumIEEE(rec[:len(rec)-crcSlotLen]); uint64(sum) != stored {
		return fmt.Errorf("%w: record checksum %d, computed %d", ErrBadCRC, stored, sum)
	}
	return nil
}
