package ha

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The golden bytes are written out by hand from the byte tables in doc.go
// (Java's big-endian ByteBuffer.putLong/putInt), not produced by the code
// under test.
func TestReportGolden(t *testing.T) {
	for _, tc := range []struct {
		off  int64
		wire string
	}{
		{0, "0000000000000000"},
		{1 << 30, "0000000040000000"},            // start of the second 1 GiB segment
		{0x0102030405060708, "0102030405060708"}, // byte order
		{(1 << 40) + 0x2a, "000001000000002a"},   // beyond 32 bits
		{0x7fffffffffffffff, "7fffffffffffffff"}, // largest offset
	} {
		var b [ReportSize]byte
		PutReport(&b, tc.off)
		if got := hex.EncodeToString(b[:]); got != tc.wire {
			t.Errorf("PutReport(%d) = %s, want %s", tc.off, got, tc.wire)
		}
		copy(b[:], unhex(t, tc.wire))
		if got := ParseReport(&b); got != tc.off {
			t.Errorf("ParseReport(%s) = %d, want %d", tc.wire, got, tc.off)
		}
		got, err := ReadReport(bytes.NewReader(unhex(t, tc.wire)), &b)
		if err != nil || got != tc.off {
			t.Errorf("ReadReport(%s) = %d, %v; want %d", tc.wire, got, err, tc.off)
		}
	}
}

func TestReadReportShort(t *testing.T) {
	var b [ReportSize]byte
	if _, err := ReadReport(bytes.NewReader(nil), &b); err != io.EOF {
		t.Errorf("empty stream: %v, want io.EOF", err)
	}
	if _, err := ReadReport(bytes.NewReader(make([]byte, 5)), &b); err != io.ErrUnexpectedEOF {
		t.Errorf("5 bytes: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestHeaderGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    Header
		wire string
	}{
		{"batch", Header{Offset: 1<<30 + 5, Size: 32 << 10}, "0000000040000005" + "00008000"},
		{"heartbeat", Header{Offset: 4096}, "0000000000001000" + "00000000"},
		{"byte order", Header{Offset: 0x0102030405060708, Size: 0x0a0b0c0d}, "0102030405060708" + "0a0b0c0d"},
		{"negative size", Header{Offset: 0, Size: -1}, "0000000000000000" + "ffffffff"},
	} {
		var b [HeaderSize]byte
		PutHeader(&b, tc.h)
		if got := hex.EncodeToString(b[:]); got != tc.wire {
			t.Errorf("%s: PutHeader(%+v) = %s, want %s", tc.name, tc.h, got, tc.wire)
		}
		copy(b[:], unhex(t, tc.wire))
		if got := ParseHeader(&b); got != tc.h {
			t.Errorf("%s: ParseHeader(%s) = %+v, want %+v", tc.name, tc.wire, got, tc.h)
		}
	}
}

func TestCheckReport(t *testing.T) {
	for _, tc := range []struct {
		name           string
		prev, got, end int64
		want           error
	}{
		{"first report, empty slave", -1, 0, 1000, nil},
		{"first report at the end", -1, 1000, 1000, nil},
		{"first report beyond the end (rocketmq#3015)", -1, 1001, 1000, ErrBeyondEnd},
		{"later report beyond the end", 500, 1001, 1000, ErrBeyondEnd},
		{"heartbeat repeats the last value", 500, 500, 1000, nil},
		{"progress", 500, 900, 1000, nil},
		{"backwards", 500, 499, 1000, ErrBackwards},
		{"negative", -1, -8, 1000, ErrBadOffset},
		{"empty master, empty slave", -1, 0, 0, nil},
		{"empty master, slave with data", -1, 1, 0, ErrBeyondEnd},
	} {
		err := CheckReport(tc.prev, tc.got, tc.end)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: CheckReport(%d, %d, %d) = %v, want %v", tc.name, tc.prev, tc.got, tc.end, err, tc.want)
		}
	}
}

func TestCheckFirstReport(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		got, startEnd, shipped int64
		want                   error
	}{
		{"empty slave", 0, 1000, 0, nil},
		{"slave at the master's end at start", 1000, 1000, 0, nil},
		{"slave that was shipped bytes since", 1500, 1000, 2000, nil},
		{"slave with bytes the master lost", 1001, 1000, 0, ErrDiverged},
		{"slave beyond what was shipped since", 2001, 1000, 2000, ErrDiverged},
	} {
		err := CheckFirstReport(tc.got, tc.startEnd, tc.shipped)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: CheckFirstReport(%d, %d, %d) = %v, want %v", tc.name, tc.got, tc.startEnd, tc.shipped, err, tc.want)
		}
	}
}

// frame encodes one transfer frame by hand (header fields then body).
func frame(t testing.TB, hdrHex string, body []byte) []byte {
	return append(unhex(t, hdrHex), body...)
}

func TestFrameReaderStream(t *testing.T) {
	const seg = 1024
	body1 := bytes.Repeat([]byte{0xa1}, 100)
	body2 := bytes.Repeat([]byte{0xb2}, 924) // up to the segment end exactly
	body3 := bytes.Repeat([]byte{0xc3}, 10)
	var stream []byte
	stream = append(stream, frame(t, "0000000000000800"+"00000000", nil)...)   // heartbeat at 2048 (empty slave)
	stream = append(stream, frame(t, "0000000000000800"+"00000064", body1)...) // 100 bytes at 2048
	stream = append(stream, frame(t, "0000000000000864"+"0000039c", body2)...) // 924 bytes at 2148
	stream = append(stream, frame(t, "0000000000000c00"+"00000000", nil)...)   // heartbeat at 3072
	stream = append(stream, frame(t, "0000000000000c00"+"0000000a", body3)...) // 10 bytes at 3072
	fr, err := NewFrameReader(bytes.NewReader(stream), seg, 4096)
	if err != nil {
		t.Fatal(err)
	}
	var want int64 // empty slave
	for i, exp := range []struct {
		off  int64
		body []byte
	}{{2048, nil}, {2048, body1}, {2148, body2}, {3072, nil}, {3072, body3}} {
		f, err := fr.Next(want)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Offset != exp.off || !bytes.Equal(f.Body, exp.body) {
			t.Fatalf("frame %d: offset %d, %d bytes; want offset %d, %d bytes", i, f.Offset, len(f.Body), exp.off, len(exp.body))
		}
		want = f.End()
	}
	if want != 3082 {
		t.Errorf("slave end %d, want 3082", want)
	}
	if _, err := fr.Next(want); err != io.EOF {
		t.Errorf("after the last frame: %v, want io.EOF", err)
	}
}

func TestFrameReaderRejects(t *testing.T) {
	const seg, limit = 1024, 256
	for _, tc := range []struct {
		name   string
		stream []byte
		want   int64
		err    error
	}{
		{"negative offset", frame(t, "ffffffffffffff00"+"00000000", nil), 0, ErrBadOffset},
		{"negative size", frame(t, "0000000000000000"+"ffffffff", nil), 0, ErrBadSize},
		{"size above the limit", frame(t, "0000000000000000"+"00000101", make([]byte, 257)), 0, ErrBadSize},
		{"huge size, no body", frame(t, "0000000000000000"+"7fffffff", nil), 0, ErrBadSize},
		{"offset behind the slave", frame(t, "0000000000000010"+"00000001", []byte{1}), 20, ErrOffsetMismatch},
		{"offset ahead of the slave", frame(t, "0000000000000018"+"00000001", []byte{1}), 20, ErrOffsetMismatch},
		{"heartbeat at the wrong offset", frame(t, "0000000000000018"+"00000000", nil), 20, ErrOffsetMismatch},
		{"empty slave, not a segment start", frame(t, "0000000000000401"+"00000001", []byte{1}), 0, ErrOffsetMismatch},
		{"crosses the segment end", frame(t, "00000000000003f0"+"00000011", make([]byte, 17)), 1008, ErrCrossesSegment},
		{"short header", unhex(t, "00000000000000"), 0, io.ErrUnexpectedEOF},
		{"short body", frame(t, "0000000000000000"+"00000010", make([]byte, 15)), 0, io.ErrUnexpectedEOF},
		{"missing body", frame(t, "0000000000000000"+"00000010", nil), 0, io.ErrUnexpectedEOF},
	} {
		fr, err := NewFrameReader(bytes.NewReader(tc.stream), seg, limit)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fr.Next(tc.want)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: Next(%d) = %v, want %v", tc.name, tc.want, err, tc.err)
		}
	}
	// Accepted at the edges of the same checks.
	for _, tc := range []struct {
		name   string
		stream []byte
		want   int64
	}{
		{"size at the limit", frame(t, "0000000000000000"+"00000100", make([]byte, 256)), 0},
		{"up to the segment end", frame(t, "00000000000003f0"+"00000010", make([]byte, 16)), 1008},
		{"empty slave, later segment start", frame(t, "0000000000000400"+"00000001", []byte{1}), 0},
		{"heartbeat at the segment end", frame(t, "0000000000000400"+"00000000", nil), 1024},
	} {
		fr, err := NewFrameReader(bytes.NewReader(tc.stream), seg, limit)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fr.Next(tc.want); err != nil {
			t.Errorf("%s: Next(%d) = %v, want no error", tc.name, tc.want, err)
		}
	}
}

func TestNewFrameReaderLimits(t *testing.T) {
	for _, tc := range []struct {
		seg   int64
		limit int
		ok    bool
	}{
		{1 << 30, MaxBodySize, true},
		{1 << 30, MaxBodySize + 1, false},
		{1 << 30, 0, false},
		{0, 1024, false},
		{-1, 1024, false},
	} {
		_, err := NewFrameReader(bytes.NewReader(nil), tc.seg, tc.limit)
		if (err == nil) != tc.ok {
			t.Errorf("NewFrameReader(seg %d, limit %d) = %v, want ok=%v", tc.seg, tc.limit, err, tc.ok)
		}
	}
}

// The codecs and a steady stream of frames allocate nothing.
func TestWireAllocations(t *testing.T) {
	var rb [ReportSize]byte
	var hb [HeaderSize]byte
	var sink int64
	if n := testing.AllocsPerRun(100, func() {
		PutReport(&rb, 12345)
		sink += ParseReport(&rb)
		PutHeader(&hb, Header{Offset: 12345, Size: 100})
		sink += ParseHeader(&hb).Offset
	}); n != 0 {
		t.Errorf("codecs: %v allocations per run, want 0", n)
	}
	one := frame(t, "0000000000000400"+"00000100", make([]byte, 256))
	src := bytes.NewReader(one)
	fr, err := NewFrameReader(src, 1<<20, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fr.Next(1024); err != nil { // grows the buffer once
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		src.Reset(one)
		f, err := fr.Next(1024)
		if err != nil {
			t.Fatal(err)
		}
		sink += f.End()
	}); n != 0 {
		t.Errorf("frame reader: %v allocations per frame, want 0", n)
	}
	_ = sink
}

// The frame reader never panics, never returns more than the limit, never
// grows its buffer past the limit, and returns only frames that pass its
// checks, whatever the master sends.
func FuzzFrameReader(f *testing.F) {
	f.Add(frame(f, "0000000000000000"+"00000004", []byte{1, 2, 3, 4}), int64(0))
	f.Add(frame(f, "0000000000000400"+"00000000", nil), int64(1024))
	f.Add(frame(f, "00000000000003fe"+"00000004", []byte{1, 2, 3, 4}), int64(1022))
	f.Add(frame(f, "0000000000000000"+"7fffffff", nil), int64(0))
	f.Add(frame(f, "8000000000000000"+"80000000", nil), int64(-1))
	const seg, limit = 1024, 512
	f.Fuzz(func(t *testing.T, stream []byte, want int64) {
		fr, err := NewFrameReader(bytes.NewReader(stream), seg, limit)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(stream)/HeaderSize+1; i++ {
			got, err := fr.Next(want)
			if err != nil {
				return
			}
			if len(got.Body) > limit {
				t.Fatalf("body of %d bytes, limit %d", len(got.Body), limit)
			}
			if want != 0 && got.Offset != want || want == 0 && got.Offset%seg != 0 {
				t.Fatalf("frame at %d accepted for slave end %d", got.Offset, want)
			}
			if got.Offset/seg != (got.End()-1)/seg && len(got.Body) > 0 {
				t.Fatalf("frame [%d, %d) crosses a segment end", got.Offset, got.End())
			}
			want = got.End()
		}
		if cap(fr.buf) > limit {
			t.Fatalf("buffer grew to %d bytes, limit %d", cap(fr.buf), limit)
		}
	})
}

// The sizes and defaults are RocketMQ 4.9.8's, written out as its source
// has them (HAConnection, HAService.HAClient, MessageStoreConfig).
func TestRocketMQConstants(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want int64
	}{
		{"ReportSize", ReportSize, 8},
		{"HeaderSize (8 + 4)", HeaderSize, 12},
		{"MaxBodySize (HAClient READ_MAX_BUFFER_SIZE 1024*1024*4, minus the header)", MaxBodySize, 4194304 - 12},
		{"haSendHeartbeatInterval (ms)", DefaultHeartbeatInterval.Milliseconds(), 1000 * 5},
		{"haHousekeepingInterval (ms)", DefaultHousekeepingInterval.Milliseconds(), 1000 * 20},
		{"haTransferBatchSize", DefaultTransferBatchSize, 1024 * 32},
		{"haSlaveFallbehindMax", DefaultSlaveFallbehindMax, 1024 * 1024 * 256},
		{"slaveTimeout (ms)", DefaultSlaveTimeout.Milliseconds(), 3000},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}
