package fuzz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/wharfmq/wharf/remoting"
)

// Seeds from PROTOCOL.md: the 108-byte GET_ROUTEINFO_BY_TOPIC frame of §1.1,
// a Go client heartbeat, and a Java broker response.
const (
	routeHeader     = `{"code":105,"language":"GO","version":317,"opaque":2,"flag":0,"remark":"","extFields":{"topic":"T"}}`
	heartbeatHeader = `{"code":34,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"","extFields":{}}`
	javaRespHeader  = `{"code":0,"flag":1,"language":"JAVA","opaque":0,"serializeTypeCurrentRPC":"JSON","version":403}`
)

func frameOf(serType byte, header string, body string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(4+len(header)+len(body)))
	b = binary.BigEndian.AppendUint32(b, uint32(serType)<<24|uint32(len(header)))
	return append(append(b, header...), body...)
}

// sendCommand is a SEND_MESSAGE request as the Go client builds it.
func sendCommand(st remoting.SerializeType) *remoting.Command {
	return &remoting.Command{
		Code: remoting.CodeSendMessage, Language: "GO", Version: 317, Opaque: 3,
		ExtFields: map[string]string{
			"producerGroup": "PG", "topic": "TopicTest", "defaultTopic": "TBW102",
			"defaultTopicQueueNums": "4", "queueId": "1", "sysFlag": "0",
			"bornTimestamp": "1700000000000", "flag": "0",
			"properties":     "UNIQ_KEY\x01C0A8000100002A9F0000000000000000\x02",
			"reconsumeTimes": "0", "unitMode": "false", "maxReconsumeTimes": "0",
			"batch": "false", "bname": "broker-a",
		},
		Body:          []byte("Hello"),
		SerializeType: st,
	}
}

// splitReader returns its two pieces in separate Reads, the way a frame
// can arrive in two TCP segments.
type splitReader struct {
	pieces [2][]byte
}

func (s *splitReader) Read(p []byte) (int, error) {
	for i := range s.pieces {
		if len(s.pieces[i]) > 0 {
			n := copy(p, s.pieces[i])
			s.pieces[i] = s.pieces[i][n:]
			return n, nil
		}
	}
	return 0, io.EOF
}

// readAll decodes frames until an error and returns what was decoded.
func readAll(t *testing.T, r io.Reader, total int) ([]*remoting.Command, error) {
	fr := remoting.NewFrameReader(r)
	var out []*remoting.Command
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return out, err
		}
		// Bounded allocation: nothing beyond the bytes actually supplied.
		if n := len(f.Header) + len(f.Body); n > total {
			t.Fatalf("frame of %d bytes from %d input bytes", n, total)
		}
		c, err := remoting.DecodeFrame(f)
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
}

func FuzzFrame(f *testing.F) {
	f.Add(frameOf(0, routeHeader, ""), 8)
	f.Add(frameOf(0, heartbeatHeader, `{"clientID":"10.0.0.5@4242"}`), 50)
	f.Add(append(frameOf(0, javaRespHeader, ""), frameOf(0, routeHeader, "")...), 108)
	for _, st := range []remoting.SerializeType{remoting.SerializeJSON, remoting.SerializeRocketMQ} {
		b, err := remoting.EncodeFrame(sendCommand(st))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, 3)
		f.Add(b[:len(b)-2], 100) // truncated
	}
	f.Add([]byte{0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, 4) // 16 MiB declared
	f.Add([]byte{0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x09, 0, 0, 0, 0}, 0)
	f.Add([]byte{0x00, 0x00, 0x00, 0x06, 0x07, 0x00, 0x00, 0x02, '{', '}'}, 5)

	f.Fuzz(func(t *testing.T, data []byte, split int) {
		whole, errWhole := readAll(t, bytes.NewReader(data), len(data))
		if split < 0 {
			split = -split
		}
		if len(data) > 0 {
			split %= len(data) + 1
		} else {
			split = 0
		}
		sr := &splitReader{pieces: [2][]byte{data[:split], data[split:]}}
		parts, errSplit := readAll(t, sr, len(data))
		// Piecewise delivery must not change the outcome.
		if len(whole) != len(parts) || (errWhole == nil) != (errSplit == nil) {
			t.Fatalf("whole: %d cmds, %v; split at %d: %d cmds, %v", len(whole), errWhole, split, len(parts), errSplit)
		}
		if !errors.Is(errWhole, io.EOF) && !errors.Is(errWhole, remoting.ErrBadFrame) &&
			!errors.Is(errWhole, remoting.ErrFrameTooLarge) && !errors.Is(errWhole, remoting.ErrBadHeader) {
			t.Fatalf("untyped error: %v", errWhole)
		}
		for i := range whole {
			if !sameCommand(whole[i], parts[i]) {
				t.Fatalf("command %d differs when split", i)
			}
		}
	})
}
