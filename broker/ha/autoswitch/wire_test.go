package autoswitch

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/wharfmq/wharf/broker/ha/epoch"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBytes pins every message to the bytes RocketMQ's classes write
// (AutoSwitchHAClient.sendHandshakeHeader and reportSlaveOffset,
// AutoSwitchHAConnection.buildHandshakeBuffer and
// buildTransferHeaderBuffer), field by field.
func TestBytes(t *testing.T) {
	if got, want := AppendSlaveHandshake(nil, SlaveHandshake{SyncFromLastFile: true, BrokerID: 2}),
		unhex(t, "00000001 0001 0000 0000000000000002"); !bytes.Equal(got, want) {
		t.Fatalf("slave handshake %x, want %x", got, want)
	}
	if got, want := AppendAck(nil, 0x0102030405), unhex(t, "00000002 0000000102030405"); !bytes.Equal(got, want) {
		t.Fatalf("ack %x, want %x", got, want)
	}
	got, err := AppendMasterHandshake(nil, MasterHandshake{MaxOffset: 4096, LastEpoch: 3,
		Entries: []epoch.Entry{{Epoch: 1, Start: 0}, {Epoch: 3, Start: 1024}}})
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "00000001 00000018 0000000000001000 00000003"+
		"00000001 0000000000000000 00000003 0000000000000400")
	if !bytes.Equal(got, want) || len(got) != MasterHandshakeHeaderSize+2*EpochEntrySize {
		t.Fatalf("master handshake %x, want %x", got, want)
	}
	var hdr [TransferHeaderSize]byte
	PutTransferHeader(&hdr, TransferHeader{BodySize: 32, Offset: 2048, Epoch: 3, EpochStart: 1024, ConfirmOffset: 1500})
	if want := unhex(t, "00000002 00000020 0000000000000800 00000003 0000000000000400 00000000000005dc"); !bytes.Equal(hdr[:], want) {
		t.Fatalf("transfer header %x, want %x", hdr, want)
	}
	for s, name := range []string{"READY", "HANDSHAKE", "TRANSFER", "SUSPEND", "SHUTDOWN"} {
		if State(s).String() != name {
			t.Fatalf("state %d is %v", s, State(s))
		}
	}
}

// TestRoundTrip: what a side writes, the other reads back, through the
// stream readers; and each message's mistakes are refused.
func TestRoundTrip(t *testing.T) {
	var stream []byte
	stream = AppendSlaveHandshake(stream, SlaveHandshake{AsyncLearner: true, BrokerID: 7})
	stream = AppendAck(stream, 123)
	var buf [SlaveHandshakeSize]byte
	r := bytes.NewReader(stream)
	m, err := ReadSlaveMessage(r, &buf)
	if err != nil || m.State != Handshake || m.Handshake != (SlaveHandshake{AsyncLearner: true, BrokerID: 7}) {
		t.Fatalf("handshake: %+v %v", m, err)
	}
	if m, err = ReadSlaveMessage(r, &buf); err != nil || m.State != Transfer || m.Ack != 123 {
		t.Fatalf("ack: %+v %v", m, err)
	}
	if _, err = ReadSlaveMessage(r, &buf); err != io.EOF {
		t.Fatalf("at the end: %v", err)
	}
	// Master side.
	entries := []epoch.Entry{{Epoch: 1, Start: 0}, {Epoch: 2, Start: 500}}
	ms, _ := AppendMasterHandshake(nil, MasterHandshake{MaxOffset: 900, LastEpoch: 2, Entries: entries})
	var hdr [TransferHeaderSize]byte
	th := TransferHeader{BodySize: 5, Offset: 600, Epoch: 2, EpochStart: 500, ConfirmOffset: 550}
	PutTransferHeader(&hdr, th)
	ms = append(append(ms, hdr[:]...), "hello"...)
	PutTransferHeader(&hdr, TransferHeader{Offset: -1, Epoch: -1, EpochStart: -1, ConfirmOffset: -1}) // an empty Java master's heartbeat
	ms = append(ms, hdr[:]...)
	mr, err := NewMasterReader(bytes.NewReader(ms), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	mm, err := mr.Next()
	if err != nil || mm.State != Handshake || mm.Handshake.MaxOffset != 900 || mm.Handshake.LastEpoch != 2 || !slices.Equal(mm.Handshake.Entries, entries) {
		t.Fatalf("master handshake: %+v %v", mm, err)
	}
	if mm, err = mr.Next(); err != nil || mm.State != Transfer || mm.Transfer != th || string(mm.Body) != "hello" {
		t.Fatalf("transfer: %+v %v", mm, err)
	}
	if mm, err = mr.Next(); err != nil || mm.Transfer.BodySize != 0 || mm.Transfer.Offset != -1 || len(mm.Body) != 0 {
		t.Fatalf("heartbeat: %+v %v", mm, err)
	}
	if _, err = mr.Next(); err != io.EOF {
		t.Fatalf("at the end: %v", err)
	}

	bad := []struct {
		name string
		in   []byte
		want error
	}{
		{"state 0", unhex(t, "00000000"), ErrState},
		{"state 9", unhex(t, "00000009 00000000 0000000000000000 00000000"), ErrState},
		{"entries not whole", unhex(t, "00000001 0000000d 0000000000000000 00000000"), ErrBadMessage},
		{"too many entries", unhex(t, "00000001 00002ef4 0000000000000000 00000000"), ErrBadMessage},
		{"negative end", unhex(t, "00000001 00000000 ffffffffffffffff 00000000"), ErrBadMessage},
		{"negative entry start", unhex(t, "00000001 0000000c 0000000000000000 00000001 00000001 ffffffffffffffff"), ErrBadMessage},
		{"negative body", unhex(t, "00000002 ffffffff 0000000000000000 00000001 0000000000000000 0000000000000000"), ErrBadMessage},
		{"body over limit", unhex(t, "00000002 00100001 0000000000000000 00000001 0000000000000000 0000000000000000"), ErrBadMessage},
		{"epoch after body", unhex(t, "00000002 00000001 0000000000000010 00000001 0000000000000020 0000000000000000 00"), ErrBadMessage},
		{"truncated header", unhex(t, "00000002 0000"), io.ErrUnexpectedEOF},
		{"truncated body", unhex(t, "00000002 00000004 0000000000000000 00000001 0000000000000000 0000000000000000 0102"), io.ErrUnexpectedEOF},
	}
	for _, c := range bad {
		mr, _ := NewMasterReader(bytes.NewReader(c.in), 1<<20)
		if _, err := mr.Next(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	for name, in := range map[string][]byte{
		"slave state 3":     unhex(t, "00000003 0000"),
		"negative ack":      unhex(t, "00000002 ffffffffffffffff"),
		"truncated ack":     unhex(t, "00000002 00"),
		"truncated handsh.": unhex(t, "00000001 0001"),
	} {
		if _, err := ReadSlaveMessage(bytes.NewReader(in), &buf); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := AppendMasterHandshake(nil, MasterHandshake{Entries: make([]epoch.Entry, MaxEpochEntries+1)}); err == nil {
		t.Error("more than MaxEpochEntries encoded")
	}
}

// FuzzMasterReader: any bytes from a master never panic the reader, never
// make it hold more than its limits, and what it accepts re-encodes to the
// same bytes.
func FuzzMasterReader(f *testing.F) {
	hs, _ := AppendMasterHandshake(nil, MasterHandshake{MaxOffset: 900, LastEpoch: 2, Entries: []epoch.Entry{{Epoch: 1, Start: 0}, {Epoch: 2, Start: 500}}})
	f.Add(hs)
	var hdr [TransferHeaderSize]byte
	PutTransferHeader(&hdr, TransferHeader{BodySize: 3, Offset: 600, Epoch: 2, EpochStart: 500, ConfirmOffset: 550})
	f.Add(append(hdr[:], "abc"...))
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 1 << 16
		mr, _ := NewMasterReader(bytes.NewReader(in), limit)
		var out []byte
		for range 1000 { // bounded: every message consumes input
			m, err := mr.Next()
			if err != nil {
				break
			}
			switch m.State {
			case Handshake:
				if len(m.Handshake.Entries) > MaxEpochEntries {
					t.Fatalf("%d entries", len(m.Handshake.Entries))
				}
				out, _ = AppendMasterHandshake(out, m.Handshake)
			case Transfer:
				if len(m.Body) > limit {
					t.Fatalf("body of %d bytes", len(m.Body))
				}
				PutTransferHeader(&hdr, m.Transfer)
				out = append(append(out, hdr[:]...), m.Body...)
			default:
				t.Fatalf("state %v returned", m.State)
			}
		}
		if !bytes.HasPrefix(in, out) {
			t.Fatalf("re-encoded %x is not a prefix of the input %x", out, in)
		}
	})
}

// FuzzSlaveMessage: the same for a slave's messages.
func FuzzSlaveMessage(f *testing.F) {
	f.Add(AppendAck(AppendSlaveHandshake(nil, SlaveHandshake{BrokerID: 3}), 77))
	f.Fuzz(func(t *testing.T, in []byte) {
		var buf [SlaveHandshakeSize]byte
		r := bytes.NewReader(in)
		for range 1000 {
			m, err := ReadSlaveMessage(r, &buf)
			if err != nil {
				return
			}
			if m.State != Handshake && m.State != Transfer || m.Ack < 0 {
				t.Fatalf("accepted %+v", m)
			}
		}
	})
}
