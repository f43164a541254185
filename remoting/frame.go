package remoting

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame format constants. These are part of the wire format.
const (
	// MaxFrameSize bounds a whole frame, the 4-byte length field included
	// (Java's com.rocketmq.remoting.frameMaxLength default).
	MaxFrameSize = 16 << 20
	// maxHeaderLength is what fits in the 24 low bits of the header mark.
	maxHeaderLength = 1<<24 - 1
	// framePrefixLen is the length field plus the header mark.
	framePrefixLen = 8
	// MaxExtFields bounds a header's extFields. RocketMQ's headers carry
	// at most a few dozen; a 16 MiB header of tiny fields would be a
	// million map entries (hundreds of MiB) for one request.
	MaxExtFields = 1024
	// readChunk is how far a frame buffer grows per read, so a peer that
	// declares 16 MiB and sends 10 bytes costs us ~readChunk, not 16 MiB.
	readChunk = 64 << 10
)

// Errors returned by the frame reader and encoder. Wrapped errors keep these
// as their cause, so callers test with errors.Is.
var (
	// ErrFrameTooLarge: the declared or encoded frame exceeds MaxFrameSize.
	ErrFrameTooLarge = errors.New("remoting: frame too large")
	// ErrBadFrame: the frame is structurally invalid (length too small,
	// header length beyond the frame, truncated).
	ErrBadFrame = errors.New("remoting: malformed frame")
	// ErrBadHeader: the header bytes could not be decoded.
	ErrBadHeader = errors.New("remoting: malformed header")
)

// SerializeType is the header encoding named by the top byte of the header mark.
type SerializeType byte

// Serialize types. Part of the wire format.
const (
	SerializeJSON     SerializeType = 0
	SerializeRocketMQ SerializeType = 1
)

// String returns the name Java uses in serializeTypeCurrentRPC.
func (t SerializeType) String() string {
	switch t {
	case SerializeJSON:
		return "JSON"
	case SerializeRocketMQ:
		return "ROCKETMQ"
	}
	return fmt.Sprintf("SerializeType(%d)", byte(t))
}

// Frame is one undecoded frame. Header and Body share one buffer owned by the
// caller after ReadFrame returns.
type Frame struct {
	SerializeType SerializeType
	Header        []byte
	Body          []byte
}

// FrameReader reads frames from a stream. It is not safe for concurrent use.
type FrameReader struct {
	r       io.Reader
	scratch [framePrefixLen]byte // kept here so reads do not allocate it
}

// NewFrameReader returns a reader of frames from r. Wrap a network
// connection in a bufio.Reader first; FrameReader itself does not buffer.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: r}
}

// ReadFrame reads the next frame. At a clean end of stream (no byte of a new
// frame read) it returns io.EOF. A stream that ends inside a frame returns an
// error wrapping both ErrBadFrame and io.ErrUnexpectedEOF. A declared length
// over the limit returns ErrFrameTooLarge before anything more is read.
func (fr *FrameReader) ReadFrame() (Frame, error) {
	if _, err := io.ReadFull(fr.r, fr.scratch[:4]); err != nil {
		if err == io.EOF {
			return Frame{}, io.EOF
		}
		return Frame{}, truncated("length", err)
	}
	length := int64(int32(binary.BigEndian.Uint32(fr.scratch[:4])))
	if length > MaxFrameSize-4 {
		return Frame{}, fmt.Errorf("%w: declared length %d, limit %d", ErrFrameTooLarge, length, MaxFrameSize-4)
	}
	if length < 4 {
		return Frame{}, fmt.Errorf("%w: declared length %d < 4", ErrBadFrame, length)
	}
	if _, err := io.ReadFull(fr.r, fr.scratch[4:8]); err != nil {
		return Frame{}, truncated("header mark", err)
	}
	mark := binary.BigEndian.Uint32(fr.scratch[4:8])
	st := SerializeType(mark >> 24)
	headerLen := int64(mark & maxHeaderLength)
	rest := length - 4
	if headerLen > rest {
		return Frame{}, fmt.Errorf("%w: header length %d exceeds frame payload %d", ErrBadFrame, headerLen, rest)
	}
	buf, err := readBounded(fr.r, int(rest))
	if err != nil {
		return Frame{}, truncated("payload", err)
	}
	return Frame{SerializeType: st, Header: buf[:headerLen:headerLen], Body: buf[headerLen:]}, nil
}

// ReadCommand reads the next frame and decodes it into a Command. The
// command's Body aliases the frame buffer, which nobody else holds.
func (fr *FrameReader) ReadCommand() (*Command, error) {
	f, err := fr.ReadFrame()
	if err != nil {
		return nil, err
	}
	return DecodeFrame(f)
}

// DecodeFrame decodes the header of f and attaches f.Body (not copied).
func DecodeFrame(f Frame) (*Command, error) {
	var c *Command
	var err error
	switch f.SerializeType {
	case SerializeJSON:
		c, err = DecodeJSONHeader(f.Header)
	case SerializeRocketMQ:
		c, err = DecodeBinaryHeader(f.Header)
	default:
		return nil, fmt.Errorf("%w: unknown serialize type %d", ErrBadHeader, byte(f.SerializeType))
	}
	if err != nil {
		return nil, err
	}
	if len(f.Body) > 0 {
		c.Body = f.Body
	}
	return c, nil
}

// readBounded reads exactly n bytes, growing the buffer as data arrives
// instead of trusting n up front.
func readBounded(r io.Reader, n int) ([]byte, error) {
	if n <= readChunk {
		buf := make([]byte, n)
		_, err := io.ReadFull(r, buf)
		return buf, err
	}
	buf := make([]byte, 0, readChunk)
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		want := min(n, cap(buf))
		m, err := io.ReadFull(r, buf[len(buf):want])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

func truncated(what string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated in %s: %w", ErrBadFrame, what, err)
	}
	// A network error (closed, deadline) is not a protocol error.
	return fmt.Errorf("remoting: read frame %s: %w", what, err)
}

// AppendFrame appends the complete frame of c (prefix, header, body) to dst.
func AppendFrame(dst []byte, c *Command) ([]byte, error) {
	dst, err := appendFramePrefix(dst, c)
	if err != nil {
		return dst, err
	}
	return append(dst, c.Body...), nil
}

// EncodeFrame returns the complete frame of c.
func EncodeFrame(c *Command) ([]byte, error) {
	return AppendFrame(nil, c)
}

// appendFramePrefix appends length, header mark and header, leaving the body
// to the caller so large bodies can be written without a copy.
func appendFramePrefix(dst []byte, c *Command) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0)
	var err error
	switch c.SerializeType {
	case SerializeJSON:
		dst = AppendJSONHeader(dst, c)
	case SerializeRocketMQ:
		dst, err = AppendBinaryHeader(dst, c)
	default:
		err = fmt.Errorf("remoting: encode: unknown serialize type %d", byte(c.SerializeType))
	}
	if err != nil {
		return dst[:start], err
	}
	headerLen := len(dst) - start - framePrefixLen
	if headerLen > maxHeaderLength {
		return dst[:start], fmt.Errorf("%w: header of %d bytes", ErrFrameTooLarge, headerLen)
	}
	total := int64(framePrefixLen) + int64(headerLen) + int64(len(c.Body))
	if total > MaxFrameSize {
		return dst[:start], fmt.Errorf("%w: frame of %d bytes", ErrFrameTooLarge, total)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(total-4))
	binary.BigEndian.PutUint32(dst[start+4:], uint32(c.SerializeType)<<24|uint32(headerLen))
	return dst, nil
}
