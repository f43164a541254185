package remoting

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// routeFrameJSON is the header of PROTOCOL.md §1.1's example frame.
const routeFrameJSON = `{"code":105,"language":"GO","version":317,"opaque":2,"flag":0,"remark":"","extFields":{"topic":"T"}}`

func rawFrame(serType byte, header, body []byte) []byte {
	b := make([]byte, 8, 8+len(header)+len(body))
	binary.BigEndian.PutUint32(b, uint32(4+len(header)+len(body)))
	binary.BigEndian.PutUint32(b[4:], uint32(serType)<<24|uint32(len(header)))
	b = append(b, header...)
	return append(b, body...)
}

func TestProtocolExampleFrame(t *testing.T) {
	frame := rawFrame(0, []byte(routeFrameJSON), nil)
	if len(frame) != 108 {
		t.Fatalf("frame is %d bytes, want 108", len(frame))
	}
	if got := hex.EncodeToString(frame[:8]); got != "0000006800000064" {
		t.Fatalf("prefix %s, want 0000006800000064", got)
	}
	c, err := NewFrameReader(bytes.NewReader(frame)).ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	want := &Command{Code: CodeGetRouteInfoByTopic, Language: "GO", Version: 317, Opaque: 2,
		ExtFields: map[string]string{"topic": "T"}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("decoded %+v, want %+v", c, want)
	}
	topic, err := c.ExtString("topic")
	if err != nil || topic != "T" {
		t.Fatalf("topic %q, %v", topic, err)
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, st := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
		t.Run(st.String(), func(t *testing.T) {
			in := []*Command{
				{Code: CodeSendMessage, Language: "GO", Version: 317, Opaque: 7, ExtFields: sendExt(), Body: []byte("Hello"), SerializeType: st},
				{Code: RespSystemError, Language: "JAVA", Version: 409, Opaque: -3, Flag: FlagResponse, Remark: "boom \"quoted\" \n\x01 é", SerializeType: st},
				{Code: -1, Language: "RUST", Version: -32768, Opaque: 1<<31 - 1, Flag: FlagOneway, ExtFields: map[string]string{"": "", "k": "ключ"}, SerializeType: st},
			}
			var stream []byte
			for _, c := range in {
				var err error
				if stream, err = AppendFrame(stream, c); err != nil {
					t.Fatal(err)
				}
			}
			fr := NewFrameReader(bytes.NewReader(stream))
			for i, want := range in {
				got, err := fr.ReadCommand()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("frame %d:\n got %+v\nwant %+v", i, got, want)
				}
			}
			if _, err := fr.ReadFrame(); err != io.EOF {
				t.Fatalf("after last frame: %v, want io.EOF", err)
			}
		})
	}
}

func TestFrameErrors(t *testing.T) {
	hdr := []byte(routeFrameJSON)
	big := make([]byte, 8)
	binary.BigEndian.PutUint32(big, MaxFrameSize) // + 4 for the length field: over the limit
	neg := make([]byte, 8)
	binary.BigEndian.PutUint32(neg, 0xFFFFFFFF)
	hdrPastEnd := rawFrame(0, hdr, nil)
	binary.BigEndian.PutUint32(hdrPastEnd[4:], uint32(len(hdr)+1))

	tests := []struct {
		name  string
		in    []byte
		want  error
		whole bool // decode error rather than frame error
	}{
		{"too large", big, ErrFrameTooLarge, false},
		{"negative length", neg, ErrBadFrame, false},
		{"length below 4", []byte{0, 0, 0, 3, 0, 0, 0}, ErrBadFrame, false},
		{"header past frame", hdrPastEnd, ErrBadFrame, false},
		{"truncated length", []byte{0, 0}, io.ErrUnexpectedEOF, false},
		{"truncated mark", []byte{0, 0, 0, 10, 0}, io.ErrUnexpectedEOF, false},
		{"truncated payload", rawFrame(0, hdr, nil)[:50], io.ErrUnexpectedEOF, false},
		{"garbage json", rawFrame(0, []byte("{nope"), nil), ErrBadHeader, true},
		{"unknown serialize type", rawFrame(2, hdr, nil), ErrBadHeader, true},
		{"binary too short", rawFrame(1, []byte{1, 2, 3}, nil), ErrBadHeader, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewFrameReader(bytes.NewReader(tc.in)).ReadCommand()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestFrameMaxSizeAccepted(t *testing.T) {
	// The largest legal frame: exactly MaxFrameSize bytes including the length.
	c := &Command{Code: 1, Language: "JAVA"}
	prefix, err := appendFramePrefix(nil, c)
	if err != nil {
		t.Fatal(err)
	}
	c.Body = make([]byte, MaxFrameSize-len(prefix))
	frame, err := EncodeFrame(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(frame) != MaxFrameSize {
		t.Fatalf("frame %d bytes", len(frame))
	}
	got, err := NewFrameReader(bytes.NewReader(frame)).ReadCommand()
	if err != nil || len(got.Body) != len(c.Body) {
		t.Fatalf("read max frame: %v", err)
	}
	c.Body = append(c.Body, 0)
	if _, err := EncodeFrame(c); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("encode oversize: %v", err)
	}
}

// oneByteReader returns at most one byte per Read, like a slow network.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

func TestFrameLargeBodyChunked(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 30_000) // > readChunk, forces growth
	frame, err := EncodeFrame(&Command{Code: CodeSendMessage, Body: body, SerializeType: SerializeRocketMQ})
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewFrameReader(oneByteReader{bytes.NewReader(frame)}).ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Body, body) {
		t.Fatal("body differs")
	}
	// Cut in the middle of the body: truncated, not a hang or a panic.
	_, err = NewFrameReader(bytes.NewReader(frame[:len(frame)/2])).ReadCommand()
	if !errors.Is(err, ErrBadFrame) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated big frame: %v", err)
	}
}

func TestSerializeTypeString(t *testing.T) {
	if SerializeJSON.String() != "JSON" || SerializeRocketMQ.String() != "ROCKETMQ" ||
		!strings.Contains(SerializeType(9).String(), "9") {
		t.Fatal("SerializeType.String")
	}
}
