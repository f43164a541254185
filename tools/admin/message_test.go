package admin

import (
	"bytes"
	"compress/zlib"
	"net/netip"
	"testing"

	"github.com/wharfmq/wharf/engine/msg"
)

func record(t *testing.T, body []byte, sysFlag int32, props string) []byte {
	t.Helper()
	m := &msg.Message{Topic: "T", QueueID: 1, Body: body, SysFlag: sysFlag, Properties: props,
		BornHost: netip.MustParseAddrPort("10.0.0.1:5000"), StoreHost: netip.MustParseAddrPort("10.0.0.2:10911")}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return msg.AppendRecord(nil, m)
}

func TestDecodeMessagesAndBodyPrefix(t *testing.T) {
	plain := record(t, []byte("hello world"), 0, msg.AppendProperty("", "KEYS", "a b"))
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(bytes.Repeat([]byte("x"), 10000))
	zw.Close()
	comp := record(t, z.Bytes(), msg.FlagCompressed, "")
	ms, err := decodeMessages("b:1", append(append([]byte{}, plain...), comp...))
	if err != nil || len(ms) != 2 {
		t.Fatalf("decode: %v, %d messages", err, len(ms))
	}
	if got := ms[0].Keys(); len(got) != 2 || got[1] != "b" || ms[0].Topic != "T" || ms[0].Broker != "b:1" {
		t.Fatalf("first message: %+v", ms[0])
	}
	if b, err := ms[0].BodyPrefix(5); err != nil || string(b) != "hello" {
		t.Fatalf("plain prefix %q %v", b, err)
	}
	if b, err := ms[1].BodyPrefix(100); err != nil || !ms[1].Compressed || string(b) != string(bytes.Repeat([]byte("x"), 100)) {
		t.Fatalf("compressed prefix %q %v", b, err)
	}
	// Bad bodies: an error, never a panic.
	for _, bad := range [][]byte{plain[:10], plain[:len(plain)-1], append([]byte{0, 0, 0, 200}, plain[4:]...), {1, 2, 3}} {
		if _, err := decodeMessages("b:1", bad); err == nil {
			t.Errorf("decode of %d bad bytes: no error", len(bad))
		}
	}
	bogus := Message{Body: []byte("not zlib"), Compressed: true}
	if _, err := bogus.BodyPrefix(10); err == nil {
		t.Error("bad compressed body: no error")
	}
}
