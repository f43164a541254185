package ha

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Part of the format: the sizes of the protocol's two messages.
const (
	// ReportSize is the size of a slave's offset report.
	ReportSize = 8
	// HeaderSize is the size of a master's transfer header (phyOffset,
	// bodySize).
	HeaderSize = 8 + 4
	// MaxBodySize is the largest frame body a RocketMQ 4.9 slave can take:
	// its 4 MiB read buffer must hold header and body together.
	MaxBodySize = 4<<20 - HeaderSize
)

// Errors of the protocol checks; each one means "close the connection".
var (
	// ErrBadOffset: an offset on the wire is negative.
	ErrBadOffset = errors.New("ha: negative offset")
	// ErrBeyondEnd: a slave reports an offset beyond the master's end.
	ErrBeyondEnd = errors.New("ha: slave reports an offset beyond the master's end")
	// ErrBackwards: a slave reports an offset below its previous report.
	ErrBackwards = errors.New("ha: slave report went backwards")
	// ErrBadSize: a frame's body size is negative or above the reader's limit.
	ErrBadSize = errors.New("ha: bad frame body size")
	// ErrOffsetMismatch: a frame does not start where the slave's CommitLog ends.
	ErrOffsetMismatch = errors.New("ha: frame offset is not the slave's end")
	// ErrDiverged: a slave's first report claims bytes this master has
	// never had or shipped (see CheckFirstReport).
	ErrDiverged = errors.New("ha: slave holds CommitLog bytes this master never had: its log diverged")
	// ErrCrossesSegment: a frame's body runs past the end of its segment.
	ErrCrossesSegment = errors.New("ha: frame crosses a segment end")
)

// PutReport encodes a slave's offset report.
func PutReport(b *[ReportSize]byte, offset int64) {
	binary.BigEndian.PutUint64(b[:], uint64(offset))
}

// ParseReport decodes a slave's offset report.
func ParseReport(b *[ReportSize]byte) int64 {
	return int64(binary.BigEndian.Uint64(b[:]))
}

// ReadReport reads one offset report into b (the caller's, so reading
// allocates nothing) and decodes it. It does not validate it: see
// CheckReport.
func ReadReport(r io.Reader, b *[ReportSize]byte) (int64, error) {
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	return ParseReport(b), nil
}

// CheckReport is the master's check of a slave's report got, given the
// previous report on the same connection (prev, or -1 before the first)
// and the master's CommitLog end. Unlike RocketMQ, it checks the first
// report too (apache/rocketmq#3015). A non-nil error means: close the
// connection and do not count got as acknowledged.
func CheckReport(prev, got, end int64) error {
	switch {
	case got < 0:
		return fmt.Errorf("%w: report %d", ErrBadOffset, got)
	case got > end:
		return fmt.Errorf("%w: report %d, master end %d", ErrBeyondEnd, got, end)
	case got < prev:
		return fmt.Errorf("%w: report %d after %d", ErrBackwards, got, prev)
	}
	return nil
}

// CheckFirstReport checks a connection's first report, got, against what
// the slave can hold of this master's log: the bytes the master had when
// it started (startEnd) and those it has shipped since (shipped, to any
// connection). A slave claiming more holds bytes from another history: a
// master that lost its tail (power loss under ASYNC_FLUSH, a restore from
// an older copy, a role swap before the slave caught up) and wrote other
// records at those offsets since. Shipping on from its end would append
// this master's records after foreign ones, so it is refused for as long
// as it claims them (CheckReport alone lets it in once the master's end
// passes its own). RocketMQ 4.9 takes the first report unchecked.
func CheckFirstReport(got, startEnd, shipped int64) error {
	if got > max(startEnd, shipped) {
		return fmt.Errorf("%w: it reports offset %d; this master started at %d and has shipped up to %d. "+
			"Move the slave's store aside so it copies the master's log again", ErrDiverged, got, startEnd, shipped)
	}
	return nil
}

// Header is a transfer frame's header: the body's CommitLog offset and
// its size (0 for a heartbeat).
type Header struct {
	Offset int64
	Size   int32
}

// PutHeader encodes a transfer header.
func PutHeader(b *[HeaderSize]byte, h Header) {
	binary.BigEndian.PutUint64(b[0:8], uint64(h.Offset))
	binary.BigEndian.PutUint32(b[8:12], uint32(h.Size))
}

// ParseHeader decodes a transfer header. It does not validate it: see
// FrameReader.
func ParseHeader(b *[HeaderSize]byte) Header {
	return Header{
		Offset: int64(binary.BigEndian.Uint64(b[0:8])),
		Size:   int32(binary.BigEndian.Uint32(b[8:12])),
	}
}

// Frame is one transfer frame as the slave read it. Body is empty for a
// heartbeat and is valid only until the next FrameReader.Next.
type Frame struct {
	Offset int64
	Body   []byte
}

// End is the offset after the frame's body.
func (f Frame) End() int64 { return f.Offset + int64(len(f.Body)) }

// FrameReader reads a master's transfer frames on the slave side, into
// one buffer it reuses, and checks each header before reading its body.
type FrameReader struct {
	r       io.Reader
	segSize int64
	maxBody int32
	hdr     [HeaderSize]byte
	buf     []byte
}

// NewFrameReader returns a reader of frames from r for a CommitLog of
// segSize-byte segments, refusing bodies above maxBody bytes (at most
// MaxBodySize; the buffer never grows beyond it).
func NewFrameReader(r io.Reader, segSize int64, maxBody int) (*FrameReader, error) {
	if segSize <= 0 {
		return nil, fmt.Errorf("ha: segment size %d: must be positive", segSize)
	}
	if maxBody <= 0 || maxBody > MaxBodySize {
		return nil, fmt.Errorf("ha: frame body limit %d: must be in 1..%d", maxBody, MaxBodySize)
	}
	return &FrameReader{r: r, segSize: segSize, maxBody: int32(maxBody)}, nil
}

// Next reads the next frame. want is the slave's CommitLog end, where the
// frame must start; 0 (an empty slave) accepts any segment start, since a
// master begins an empty slave at one. An error from the checks wraps
// ErrBadOffset, ErrBadSize, ErrOffsetMismatch or ErrCrossesSegment; an I/O
// error is returned as is (io.EOF only before a header's first byte).
// After any error the stream is out of step: close the connection.
func (f *FrameReader) Next(want int64) (Frame, error) {
	if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
		return Frame{}, err
	}
	h := ParseHeader(&f.hdr)
	switch {
	case h.Offset < 0:
		return Frame{}, fmt.Errorf("%w: frame at %d", ErrBadOffset, h.Offset)
	case h.Size < 0 || h.Size > f.maxBody:
		return Frame{}, fmt.Errorf("%w: %d bytes at %d, limit %d", ErrBadSize, h.Size, h.Offset, f.maxBody)
	case want == 0 && h.Offset%f.segSize != 0:
		return Frame{}, fmt.Errorf("%w: empty slave, frame at %d is not a segment start (segment size %d)",
			ErrOffsetMismatch, h.Offset, f.segSize)
	case want != 0 && h.Offset != want:
		return Frame{}, fmt.Errorf("%w: frame at %d, slave end %d", ErrOffsetMismatch, h.Offset, want)
	case int64(h.Size) > f.segSize-h.Offset%f.segSize:
		return Frame{}, fmt.Errorf("%w: %d bytes at %d, segment size %d", ErrCrossesSegment, h.Size, h.Offset, f.segSize)
	}
	n := int(h.Size)
	if cap(f.buf) < n {
		// Grow geometrically, never past the limit, so a stream of
		// growing frames costs a few allocations, not one each.
		f.buf = make([]byte, min(max(n, 2*cap(f.buf)), int(f.maxBody)))
	}
	body := f.buf[:n]
	if _, err := io.ReadFull(f.r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, fmt.Errorf("ha: body of frame at %d: %w", h.Offset, err)
	}
	return Frame{Offset: h.Offset, Body: body}, nil
}
