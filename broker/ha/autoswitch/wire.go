// Package autoswitch is the replication protocol of failover mode (issue
// 12): RocketMQ 5's AutoSwitch HA, which adds a handshake with the
// master's epoch list, an epoch and a confirm offset in every transfer
// header, and truncation of a returning replica's divergent tail (see
// broker/ha/epoch). This file is the wire codec; the bytes are RocketMQ's
// (AutoSwitchHAClient, AutoSwitchHAConnection), so a Java 5.x replica can
// talk to a Wharf one.
//
// All integers are big-endian. Every message starts with an int32 state,
// the ordinal of RocketMQ's HAConnectionState (READY=0, HANDSHAKE=1,
// TRANSFER=2, SUSPEND=3, SHUTDOWN=4); a reader dispatches on it.
//
// # Slave to master
//
// HANDSHAKE, once after connecting (SlaveHandshakeSize = 16 bytes):
//
//	offset size field
//	0      4    state = 1
//	4      2    isSyncFromLastFile (int16; 1 = true): an empty slave starts
//	            from the master's last segment
//	6      2    isAsyncLearner (int16; 1 = true): never joins the SyncStateSet
//	8      8    slaveBrokerId (the controller-assigned replica id)
//
// TRANSFER acknowledgement (AckSize = 12 bytes), after the handshake
// reply (with the consistent point), after each applied batch that moved
// its end, and every haSendHeartbeatInterval:
//
//	offset size field
//	0      4    state = 2
//	4      8    the slave's CommitLog end
//
// # Master to slave
//
// HANDSHAKE reply (MasterHandshakeHeaderSize = 20 bytes + 12 per entry):
//
//	offset size   field
//	0      4      state = 1
//	4      4      bodySize = 12 x N
//	8      8      the master's CommitLog end
//	16     4      the master's last epoch
//	20     12 x N N entries {epoch int32, startOffset int64}, oldest first
//
// RocketMQ's master has room for 1000 entries (MaxEpochEntries); a reader
// refuses more.
//
// TRANSFER (TransferHeaderSize = 36 bytes + body):
//
//	offset size     field
//	0      4        state = 2
//	4      4        bodySize (0: a heartbeat)
//	8      8        offset of the first body byte
//	16     4        epoch of the body's bytes
//	20     8        that epoch's start offset
//	28     8        the master's confirm offset
//	36     bodySize raw CommitLog bytes, never across an epoch's end, a
//	                segment's end or haTransferBatchSize
package autoswitch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/wharfmq/wharf/broker/ha/epoch"
)

// State is RocketMQ's HAConnectionState; its ordinal leads every message.
type State int32

// The states, in RocketMQ's order. Part of the format.
const (
	Ready State = iota
	Handshake
	Transfer
	Suspend
	Shutdown
)

func (s State) String() string {
	switch s {
	case Ready:
		return "READY"
	case Handshake:
		return "HANDSHAKE"
	case Transfer:
		return "TRANSFER"
	case Suspend:
		return "SUSPEND"
	case Shutdown:
		return "SHUTDOWN"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Sizes. Part of the format.
const (
	SlaveHandshakeSize        = 4 + 2 + 2 + 8
	AckSize                   = 4 + 8
	MasterHandshakeHeaderSize = 4 + 4 + 8 + 4
	TransferHeaderSize        = MasterHandshakeHeaderSize + 8 + 8
	EpochEntrySize            = 4 + 8
	// MaxEpochEntries is the most epoch entries a handshake carries
	// (RocketMQ's master buffer holds 1000).
	MaxEpochEntries = 1000
)

// MaxTransferBody is the largest TRANSFER body a master sends: a RocketMQ 5
// replica reads a whole frame into a 4 MiB buffer.
const MaxTransferBody = 4<<20 - TransferHeaderSize

// Errors of the codec; each means the stream is out of step: close the
// connection.
var (
	// ErrState: a message's state is not one the reader accepts here.
	ErrState = errors.New("autoswitch: unexpected state")
	// ErrNoEpochs: a replica's log holds records but it has no epochs
	// to find where it agrees with the master's.
	ErrNoEpochs = errors.New("autoswitch: a log without epochs")
	// ErrBadMessage: a field is out of range (a negative offset or
	// size, a body that is not whole epoch entries, too many entries, a
	// body above the reader's limit).
	ErrBadMessage = errors.New("autoswitch: bad message")
)

// SlaveHandshake is the slave's first message.
type SlaveHandshake struct {
	SyncFromLastFile bool
	AsyncLearner     bool
	BrokerID         int64
}

// AppendSlaveHandshake appends h's 16 bytes to b.
func AppendSlaveHandshake(b []byte, h SlaveHandshake) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(Handshake))
	b = binary.BigEndian.AppendUint16(b, flag(h.SyncFromLastFile))
	b = binary.BigEndian.AppendUint16(b, flag(h.AsyncLearner))
	return binary.BigEndian.AppendUint64(b, uint64(h.BrokerID))
}

func flag(v bool) uint16 {
	if v {
		return 1
	}
	return 0
}

// ParseSlaveHandshake decodes a slave handshake (the state included). A
// flag is true when it is 1, as RocketMQ's master reads it.
func ParseSlaveHandshake(b []byte) (SlaveHandshake, error) {
	if len(b) < SlaveHandshakeSize {
		return SlaveHandshake{}, fmt.Errorf("%w: slave handshake of %d bytes", ErrBadMessage, len(b))
	}
	if s := State(binary.BigEndian.Uint32(b)); s != Handshake {
		return SlaveHandshake{}, fmt.Errorf("%w: %v in a slave handshake", ErrState, s)
	}
	return SlaveHandshake{
		SyncFromLastFile: binary.BigEndian.Uint16(b[4:]) == 1,
		AsyncLearner:     binary.BigEndian.Uint16(b[6:]) == 1,
		BrokerID:         int64(binary.BigEndian.Uint64(b[8:])),
	}, nil
}

// AppendAck appends a slave's 12-byte acknowledgement of its end.
func AppendAck(b []byte, end int64) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(Transfer))
	return binary.BigEndian.AppendUint64(b, uint64(end))
}

// ParseAck decodes an acknowledgement (the state included).
func ParseAck(b []byte) (int64, error) {
	if len(b) < AckSize {
		return 0, fmt.Errorf("%w: ack of %d bytes", ErrBadMessage, len(b))
	}
	if s := State(binary.BigEndian.Uint32(b)); s != Transfer {
		return 0, fmt.Errorf("%w: %v in an ack", ErrState, s)
	}
	end := int64(binary.BigEndian.Uint64(b[4:]))
	if end < 0 {
		return 0, fmt.Errorf("%w: ack of offset %d", ErrBadMessage, end)
	}
	return end, nil
}

// SlaveMessage is one message from a slave: a handshake or an ack.
type SlaveMessage struct {
	State     State // Handshake or Transfer
	Handshake SlaveHandshake
	Ack       int64
}

// ReadSlaveMessage reads one slave message from r into buf (the caller's,
// so reading allocates nothing).
func ReadSlaveMessage(r io.Reader, buf *[SlaveHandshakeSize]byte) (SlaveMessage, error) {
	if _, err := io.ReadFull(r, buf[:4]); err != nil {
		return SlaveMessage{}, err
	}
	switch s := State(binary.BigEndian.Uint32(buf[:4])); s {
	case Handshake:
		if err := readRest(r, buf[4:SlaveHandshakeSize]); err != nil {
			return SlaveMessage{}, err
		}
		h, err := ParseSlaveHandshake(buf[:])
		return SlaveMessage{State: s, Handshake: h}, err
	case Transfer:
		if err := readRest(r, buf[4:AckSize]); err != nil {
			return SlaveMessage{}, err
		}
		end, err := ParseAck(buf[:AckSize])
		return SlaveMessage{State: s, Ack: end}, err
	default:
		return SlaveMessage{}, fmt.Errorf("%w: %v from a slave", ErrState, s)
	}
}

// readRest reads the rest of a message whose first bytes came: an EOF
// now is a truncated message.
func readRest(r io.Reader, p []byte) error {
	if _, err := io.ReadFull(r, p); err != nil {
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// MasterHandshake is the master's handshake reply.
type MasterHandshake struct {
	MaxOffset int64
	LastEpoch int32
	// Entries are the master's epochs, oldest first (End is not on the
	// wire: each ends at the next's start, the last at MaxOffset).
	Entries []epoch.Entry
}

// AppendMasterHandshake appends the reply's header and entries to b. It
// refuses more than MaxEpochEntries (a Java slave could not take them).
func AppendMasterHandshake(b []byte, h MasterHandshake) ([]byte, error) {
	if len(h.Entries) > MaxEpochEntries {
		return b, fmt.Errorf("%w: %d epoch entries, at most %d", ErrBadMessage, len(h.Entries), MaxEpochEntries)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(Handshake))
	b = binary.BigEndian.AppendUint32(b, uint32(len(h.Entries)*EpochEntrySize))
	b = binary.BigEndian.AppendUint64(b, uint64(h.MaxOffset))
	b = binary.BigEndian.AppendUint32(b, uint32(h.LastEpoch))
	for _, e := range h.Entries {
		b = binary.BigEndian.AppendUint32(b, uint32(e.Epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.Start))
	}
	return b, nil
}

// TransferHeader is a transfer frame's header.
type TransferHeader struct {
	BodySize      int32
	Offset        int64
	Epoch         int32
	EpochStart    int64
	ConfirmOffset int64
}

// PutTransferHeader encodes h into b.
func PutTransferHeader(b *[TransferHeaderSize]byte, h TransferHeader) {
	binary.BigEndian.PutUint32(b[0:], uint32(Transfer))
	binary.BigEndian.PutUint32(b[4:], uint32(h.BodySize))
	binary.BigEndian.PutUint64(b[8:], uint64(h.Offset))
	binary.BigEndian.PutUint32(b[16:], uint32(h.Epoch))
	binary.BigEndian.PutUint64(b[20:], uint64(h.EpochStart))
	binary.BigEndian.PutUint64(b[28:], uint64(h.ConfirmOffset))
}

// ParseTransferHeader decodes a transfer header (the state included) and
// checks its ranges: a size not negative; for a frame with a body, its
// offset and its epoch's start not negative and the start not past the
// offset; a heartbeat's offset at least -1 (an empty Java master's). The
// confirm offset is not checked (a Java master may send -1 before it has
// one): a slave takes min(it, its own end) and ignores a negative one.
func ParseTransferHeader(b []byte) (TransferHeader, error) {
	if len(b) < TransferHeaderSize {
		return TransferHeader{}, fmt.Errorf("%w: transfer header of %d bytes", ErrBadMessage, len(b))
	}
	if s := State(binary.BigEndian.Uint32(b)); s != Transfer {
		return TransferHeader{}, fmt.Errorf("%w: %v in a transfer header", ErrState, s)
	}
	h := TransferHeader{
		BodySize:      int32(binary.BigEndian.Uint32(b[4:])),
		Offset:        int64(binary.BigEndian.Uint64(b[8:])),
		Epoch:         int32(binary.BigEndian.Uint32(b[16:])),
		EpochStart:    int64(binary.BigEndian.Uint64(b[20:])),
		ConfirmOffset: int64(binary.BigEndian.Uint64(b[28:])),
	}
	switch {
	case h.BodySize < 0:
		return h, fmt.Errorf("%w: transfer header %+v", ErrBadMessage, h)
	case h.BodySize == 0:
		// A heartbeat: RocketMQ's empty master sends offset -1 (and an
		// epoch start of -1 or whatever its first entry says).
		if h.Offset < -1 {
			return h, fmt.Errorf("%w: heartbeat %+v", ErrBadMessage, h)
		}
	case h.Offset < 0 || h.EpochStart < 0:
		return h, fmt.Errorf("%w: transfer header %+v", ErrBadMessage, h)
	case h.EpochStart > h.Offset:
		return h, fmt.Errorf("%w: epoch %d starts at %d, after the body at %d", ErrBadMessage, h.Epoch, h.EpochStart, h.Offset)
	}
	return h, nil
}

// MasterMessage is one message from a master: a handshake reply or a
// transfer frame. Body (a frame's bytes) is valid until the next read.
type MasterMessage struct {
	State     State // Handshake or Transfer
	Handshake MasterHandshake
	Transfer  TransferHeader
	Body      []byte
}

// MasterReader reads a master's messages on the slave side into one
// buffer it reuses, refusing frame bodies above a limit.
type MasterReader struct {
	r       io.Reader
	maxBody int32
	hdr     [TransferHeaderSize]byte
	buf     []byte
}

// NewMasterReader returns a reader of master messages from r whose frame
// bodies hold at most maxBody bytes.
func NewMasterReader(r io.Reader, maxBody int) (*MasterReader, error) {
	if maxBody <= 0 || maxBody > 64<<20 {
		return nil, fmt.Errorf("autoswitch: frame body limit %d: must be in 1..64 MiB", maxBody)
	}
	return &MasterReader{r: r, maxBody: int32(maxBody)}, nil
}

// Next reads the next message. io.EOF only before a message's first byte.
func (m *MasterReader) Next() (MasterMessage, error) {
	if _, err := io.ReadFull(m.r, m.hdr[:4]); err != nil {
		return MasterMessage{}, err
	}
	switch s := State(binary.BigEndian.Uint32(m.hdr[:4])); s {
	case Handshake:
		if err := readRest(m.r, m.hdr[4:MasterHandshakeHeaderSize]); err != nil {
			return MasterMessage{}, err
		}
		size := int32(binary.BigEndian.Uint32(m.hdr[4:]))
		maxOff := int64(binary.BigEndian.Uint64(m.hdr[8:]))
		last := int32(binary.BigEndian.Uint32(m.hdr[16:]))
		if size < 0 || size%EpochEntrySize != 0 || size > MaxEpochEntries*EpochEntrySize || maxOff < 0 {
			return MasterMessage{}, fmt.Errorf("%w: handshake with a body of %d bytes, end %d", ErrBadMessage, size, maxOff)
		}
		body := m.body(int(size))
		if err := readRest(m.r, body); err != nil {
			return MasterMessage{}, err
		}
		entries, err := ParseEpochEntries(body)
		if err != nil {
			return MasterMessage{}, err
		}
		return MasterMessage{State: s, Handshake: MasterHandshake{MaxOffset: maxOff, LastEpoch: last, Entries: entries}}, nil
	case Transfer:
		if err := readRest(m.r, m.hdr[4:]); err != nil {
			return MasterMessage{}, err
		}
		h, err := ParseTransferHeader(m.hdr[:])
		if err != nil {
			return MasterMessage{}, err
		}
		if h.BodySize > m.maxBody {
			return MasterMessage{}, fmt.Errorf("%w: frame of %d bytes, limit %d", ErrBadMessage, h.BodySize, m.maxBody)
		}
		body := m.body(int(h.BodySize))
		if err := readRest(m.r, body); err != nil {
			return MasterMessage{}, err
		}
		return MasterMessage{State: s, Transfer: h, Body: body}, nil
	default:
		return MasterMessage{}, fmt.Errorf("%w: %v from a master", ErrState, s)
	}
}

// body returns the reused buffer sized n (n is within the limits).
func (m *MasterReader) body(n int) []byte {
	if cap(m.buf) < n {
		m.buf = make([]byte, max(n, 2*cap(m.buf)))
	}
	return m.buf[:n]
}

// ParseEpochEntries decodes a handshake body of whole 12-byte entries.
func ParseEpochEntries(body []byte) ([]epoch.Entry, error) {
	if len(body)%EpochEntrySize != 0 || len(body) > MaxEpochEntries*EpochEntrySize {
		return nil, fmt.Errorf("%w: epoch entries body of %d bytes", ErrBadMessage, len(body))
	}
	out := make([]epoch.Entry, 0, len(body)/EpochEntrySize)
	for p := 0; p < len(body); p += EpochEntrySize {
		e := epoch.Entry{
			Epoch: int32(binary.BigEndian.Uint32(body[p:])),
			Start: int64(binary.BigEndian.Uint64(body[p+4:])),
		}
		if e.Start < 0 {
			return nil, fmt.Errorf("%w: epoch %d starts at %d", ErrBadMessage, e.Epoch, e.Start)
		}
		out = append(out, e)
	}
	return out, nil
}
