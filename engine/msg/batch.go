package msg

import "fmt"

// BatchEntry is one message of a SEND_BATCH_MESSAGE body. Its slices alias
// the body.
type BatchEntry struct {
	Flag       int32
	Body       []byte
	Properties []byte
}

// maxBatchEntries bounds the work one request can ask for.
const maxBatchEntries = 1 << 16

// DecodeBatch walks a batch body (entries of TOTALSIZE, MAGIC, BODYCRC, FLAG,
// BODYLENGTH+BODY, PROPERTIESLENGTH+PROPERTIES) and calls fn for each. Any
// length that disagrees with the entry size is an error naming the entry.
func DecodeBatch(body []byte, fn func(i int, e BatchEntry) error) error {
	const fixed = 4 + 4 + 4 + 4 + 4 + 2
	for i := 0; len(body) > 0; i++ {
		if i >= maxBatchEntries {
			return fmt.Errorf("%w: batch has more than %d messages", ErrCorrupt, maxBatchEntries)
		}
		if len(body) < fixed {
			return fmt.Errorf("%w: batch entry %d: %d bytes left, need %d", ErrCorrupt, i, len(body), fixed)
		}
		size := int(int32(be.Uint32(body)))
		if size < fixed || size > len(body) {
			return fmt.Errorf("%w: batch entry %d: size %d, %d bytes left", ErrCorrupt, i, size, len(body))
		}
		e := body[:size]
		bodyLen := int(int32(be.Uint32(e[16:])))
		if bodyLen < 0 || 20+bodyLen+2 > size {
			return fmt.Errorf("%w: batch entry %d: body length %d does not fit size %d", ErrCorrupt, i, bodyLen, size)
		}
		p := 20 + bodyLen
		propLen := int(int16(be.Uint16(e[p:])))
		if propLen < 0 || p+2+propLen != size {
			return fmt.Errorf("%w: batch entry %d: properties length %d does not end the entry", ErrCorrupt, i, propLen)
		}
		if err := fn(i, BatchEntry{
			Flag:       int32(be.Uint32(e[12:])),
			Body:       e[20 : 20+bodyLen],
			Properties: e[p+2 : size],
		}); err != nil {
			return err
		}
		body = body[size:]
	}
	return nil
}

// AppendBatchEntry encodes one batch entry (as the clients do) onto dst.
func AppendBatchEntry(dst []byte, flag int32, body []byte, props string) []byte {
	size := 20 + len(body) + 2 + len(props)
	start := len(dst)
	dst = grow(dst, size)
	e := dst[start:]
	be.PutUint32(e, uint32(size))
	be.PutUint32(e[4:], 0)
	be.PutUint32(e[8:], 0)
	be.PutUint32(e[12:], uint32(flag))
	be.PutUint32(e[16:], uint32(len(body)))
	copy(e[20:], body)
	be.PutUint16(e[20+len(body):], uint16(len(props)))
	copy(e[22+len(body):], props)
	return dst
}
