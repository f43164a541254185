package remoting

import (
	"encoding/binary"
	"fmt"
	"math"
)

// ROCKETMQ binary header (serialize type 1), PROTOCOL.md §1.3, big-endian:
//
//	+------+------+---------+--------+------+-----------+--------+-----------+---------+
//	| code | lang | version | opaque | flag | remarkLen | remark | extLen    | entries |
//	| i16  | u8   | i16     | i32    | i32  | i32       |        | i32       |         |
//	+------+------+---------+--------+------+-----------+--------+-----------+---------+
//	entry: keyLen i16 | key | valueLen i32 | value
//
// The fixed part is 21 bytes. A remark length of 0 means null.

const binaryFixedLen = 21

// languageNames maps Java's LanguageCode byte to its enum name.
// Part of the wire format.
var languageNames = [...]string{
	0:  "JAVA",
	1:  "CPP",
	2:  "DOTNET",
	3:  "PYTHON",
	4:  "DELPHI",
	5:  "ERLANG",
	6:  "RUBY",
	7:  "OTHER",
	8:  "HTTP",
	9:  "GO",
	10: "PHP",
	11: "OMS",
	12: "RUST",
}

const languageOther = 7

// languageCode returns the binary code of a language name; names Java does
// not know are sent as OTHER.
func languageCode(name string) byte {
	for i, n := range languageNames {
		if n == name {
			return byte(i)
		}
	}
	return languageOther
}

// languageName returns the enum name of a binary language code; unknown
// codes read as OTHER rather than failing the whole frame.
func languageName(code byte) string {
	if int(code) < len(languageNames) {
		return languageNames[code]
	}
	return languageNames[languageOther]
}

// AppendBinaryHeader appends the binary header of c to dst. It fails only
// when a key is longer than an int16 length can say.
func AppendBinaryHeader(dst []byte, c *Command) ([]byte, error) {
	extLen := 0
	for k, v := range c.ExtFields {
		if len(k) > math.MaxInt16 {
			return dst, fmt.Errorf("remoting: encode binary header: ext key of %d bytes", len(k))
		}
		extLen += 2 + len(k) + 4 + len(v)
	}
	if extLen > math.MaxInt32 || len(c.Remark) > math.MaxInt32 {
		return dst, fmt.Errorf("%w: binary header", ErrFrameTooLarge)
	}
	dst = slicesGrow(dst, binaryFixedLen+len(c.Remark)+extLen)
	dst = binary.BigEndian.AppendUint16(dst, uint16(c.Code))
	dst = append(dst, languageCode(c.Language))
	dst = binary.BigEndian.AppendUint16(dst, uint16(c.Version))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Opaque))
	dst = binary.BigEndian.AppendUint32(dst, uint32(c.Flag))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(c.Remark)))
	dst = append(dst, c.Remark...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(extLen))
	for k, v := range c.ExtFields {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(k)))
		dst = append(dst, k...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
		dst = append(dst, v...)
	}
	return dst, nil
}

func slicesGrow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	grown := make([]byte, len(b), len(b)+n)
	copy(grown, b)
	return grown
}

// DecodeBinaryHeader decodes a binary header. Every length is checked
// against the bytes that remain, so nothing is allocated beyond len(b).
// The result has SerializeRocketMQ and no body.
func DecodeBinaryHeader(b []byte) (*Command, error) {
	if len(b) < binaryFixedLen {
		return nil, fmt.Errorf("%w: binary header of %d bytes, need %d", ErrBadHeader, len(b), binaryFixedLen)
	}
	c := &Command{
		Code:          int16(binary.BigEndian.Uint16(b[0:])),
		Language:      languageName(b[2]),
		Version:       int16(binary.BigEndian.Uint16(b[3:])),
		Opaque:        int32(binary.BigEndian.Uint32(b[5:])),
		Flag:          int32(binary.BigEndian.Uint32(b[9:])),
		SerializeType: SerializeRocketMQ,
	}
	r := binReader{b: b, i: 13}
	remark, err := r.bytes32("remark")
	if err != nil {
		return nil, err
	}
	c.Remark = string(remark)
	ext, err := r.bytes32("ext fields")
	if err != nil {
		return nil, err
	}
	if r.i != len(b) {
		return nil, fmt.Errorf("%w: %d trailing bytes after binary header", ErrBadHeader, len(b)-r.i)
	}
	if len(ext) > 0 {
		if c.ExtFields, err = decodeBinaryExt(ext); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func decodeBinaryExt(ext []byte) (map[string]string, error) {
	// Each entry takes at least 6 bytes; that bounds the map hint.
	m := make(map[string]string, min(len(ext)/6, 32))
	r := binReader{b: ext}
	for r.i < len(ext) {
		k, err := r.bytes16("ext key")
		if err != nil {
			return nil, err
		}
		v, err := r.bytes32("ext value")
		if err != nil {
			return nil, err
		}
		m[intern(k)] = intern(v)
		if len(m) > MaxExtFields {
			return nil, fmt.Errorf("%w: more than %d ext fields", ErrBadHeader, MaxExtFields)
		}
	}
	return m, nil
}

// binReader reads length-prefixed fields with bounds checks.
type binReader struct {
	b []byte
	i int
}

func (r *binReader) bytes16(what string) ([]byte, error) {
	if len(r.b)-r.i < 2 {
		return nil, fmt.Errorf("%w: %s length truncated", ErrBadHeader, what)
	}
	n := int(int16(binary.BigEndian.Uint16(r.b[r.i:])))
	r.i += 2
	return r.take(n, what)
}

func (r *binReader) bytes32(what string) ([]byte, error) {
	if len(r.b)-r.i < 4 {
		return nil, fmt.Errorf("%w: %s length truncated", ErrBadHeader, what)
	}
	n := int(int32(binary.BigEndian.Uint32(r.b[r.i:])))
	r.i += 4
	return r.take(n, what)
}

func (r *binReader) take(n int, what string) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.i {
		return nil, fmt.Errorf("%w: %s length %d, %d bytes left", ErrBadHeader, what, n, len(r.b)-r.i)
	}
	s := r.b[r.i : r.i+n]
	r.i += n
	return s, nil
}
