package broker

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"io"
	"testing"

	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/remoting/body"
)

// TestCompressedRegisterBodyLayout reads the body item by item as Java's
// RegisterBrokerBody.decode does (RocketMQ 5 also reads the topic-queue-
// mapping count after the filter-server list, and fails without it).
func TestCompressedRegisterBodyLayout(t *testing.T) {
	body := body.EncodeCompressedRegisterBody([]body.TopicConfig{
		meta.NewTopicConfig("A", 4, body.PermRead|body.PermWrite),
		{TopicName: "B", ReadQueueNums: 2, WriteQueueNums: 3, Perm: 7}, // no filter type: SINGLE_TAG
	}, body.DataVersion{Counter: 3, Timestamp: 9})
	zr, err := zlib.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	next := func(n int) []byte {
		t.Helper()
		if len(raw) < n {
			t.Fatalf("body ends early: want %d more bytes, have %d", n, len(raw))
		}
		b := raw[:n]
		raw = raw[n:]
		return b
	}
	u32 := func() int { return int(binary.BigEndian.Uint32(next(4))) }
	chunk := func() string { return string(next(u32())) }
	if got := chunk(); got != `{"counter":3,"timestamp":9}` {
		t.Fatalf("data version %s", got)
	}
	if n := u32(); n != 2 {
		t.Fatalf("topic count %d", n)
	}
	for _, want := range []string{"A 4 4 6 SINGLE_TAG", "B 2 3 7 SINGLE_TAG"} {
		if got := chunk(); got != want {
			t.Fatalf("topic config %q, want %q", got, want)
		}
	}
	if got := chunk(); got != "[]" {
		t.Fatalf("filter server list %q", got)
	}
	if n := u32(); n != 0 || len(raw) != 0 {
		t.Fatalf("mapping count %d, %d bytes after it", n, len(raw))
	}
}
