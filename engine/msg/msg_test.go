package msg

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/primitive"
)

func sample(r *rand.Rand) *Message {
	body := make([]byte, r.IntN(2048))
	for i := range body {
		body[i] = byte(r.Uint32())
	}
	m := &Message{
		Topic:          "TopicTest",
		QueueID:        int32(r.IntN(8)),
		Flag:           int32(r.Uint32()),
		Body:           body,
		Properties:     "UNIQ_KEY\x01C0A8000A00002A9F0000000000001000\x02KEYS\x01k1 k2\x02TAGS\x01TagA\x02",
		BornTimestamp:  1700000000000 + int64(r.IntN(1000)),
		BornHost:       netip.MustParseAddrPort("10.0.0.5:40000"),
		StoreHost:      netip.MustParseAddrPort("192.168.0.10:10911"),
		ReconsumeTimes: int32(r.IntN(3)),
	}
	if r.IntN(4) == 0 {
		m.BornHost = netip.MustParseAddrPort("[2001:db8::1]:5555")
	}
	return m
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		m := sample(r)
		rec := AppendRecord(nil, m)
		if len(rec) != m.EncodedSize() {
			t.Fatalf("size %d, EncodedSize %d", len(rec), m.EncodedSize())
		}
		SetOffsets(rec, int64(i), int64(i)*1000)
		SetStoreTimestamp(rec, 1700000000999)
		d, err := Decode(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.VerifyCRC(); err != nil {
			t.Fatal(err)
		}
		if string(d.Topic) != m.Topic || d.QueueID != m.QueueID || d.Flag != m.Flag ||
			!bytes.Equal(d.Body, m.Body) || string(d.Properties) != m.Properties ||
			d.QueueOffset != int64(i) || d.PhysOffset != int64(i)*1000 ||
			d.StoreTimestamp != 1700000000999 || d.BornTimestamp != m.BornTimestamp ||
			d.BornHost != m.BornHost || d.StoreHost != m.StoreHost || d.ReconsumeTimes != m.ReconsumeTimes {
			t.Fatalf("round trip mismatch: %+v vs %+v", d, m)
		}
	}
}

// TestOfficialClientDecodes feeds our records to rocketmq-client-go's own
// decoder: what a consumer will see from a pull.
func TestOfficialClientDecodes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var all []byte
	var want []*Message
	for i := 0; i < 50; i++ {
		m := sample(r)
		start := len(all)
		all = AppendRecord(all, m)
		SetOffsets(all[start:], int64(i), int64(start))
		SetStoreTimestamp(all[start:], 1700000001000)
		want = append(want, m)
	}
	got := primitive.DecodeMessage(all)
	if len(got) != len(want) {
		t.Fatalf("client decoded %d messages, want %d", len(got), len(want))
	}
	for i, g := range got {
		m := want[i]
		if g.Topic != m.Topic || !bytes.Equal(g.Body, m.Body) || g.Queue.QueueId != int(m.QueueID) ||
			g.QueueOffset != int64(i) || g.GetTags() != "TagA" || g.GetKeys() != "k1 k2" ||
			g.StoreTimestamp != 1700000001000 || g.BornHost != fmtHost(m.BornHost) {
			t.Fatalf("message %d: client saw %v", i, g)
		}
		host, phys, err := ParseOffsetMsgID(g.OffsetMsgId)
		if err != nil || phys != g.CommitLogOffset || host != m.StoreHost {
			t.Fatalf("offset id %q: %v %d %v", g.OffsetMsgId, host, phys, err)
		}
		if OffsetMsgID(m.StoreHost, g.CommitLogOffset) != g.OffsetMsgId {
			t.Fatalf("our id %s, client's %s", OffsetMsgID(m.StoreHost, g.CommitLogOffset), g.OffsetMsgId)
		}
	}
}

func TestOffsetMsgIDExample(t *testing.T) {
	// PROTOCOL.md §4.1.
	id := OffsetMsgID(netip.MustParseAddrPort("192.168.0.10:10911"), 4096)
	if id != "C0A8000A00002A9F0000000000001000" {
		t.Fatalf("got %s", id)
	}
	for _, bad := range []string{"", "C0A8", "ZZA8000A00002A9F0000000000001000", "C0A8000A00002A9F00000000000010000"} {
		if _, _, err := ParseOffsetMsgID(bad); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	m := sample(rand.New(rand.NewPCG(5, 6)))
	rec := AppendRecord(nil, m)
	for cut := 0; cut < len(rec); cut++ {
		if _, err := Decode(rec[:cut]); err == nil {
			t.Fatalf("truncated at %d decoded", cut)
		}
	}
	bad := bytes.Clone(rec)
	bad[4] ^= 1
	if _, err := Decode(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad magic: %v", err)
	}
	bad = bytes.Clone(rec)
	bad[len(bad)-len(m.Properties)-1]++ // properties length
	if _, err := Decode(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad properties length: %v", err)
	}
	if len(m.Body) > 0 {
		bad = bytes.Clone(rec)
		d, _ := Decode(bad)
		d.Body[0] ^= 0xFF
		if err := d.VerifyCRC(); !errors.Is(err, ErrBadCRC) {
			t.Fatalf("flipped body: %v", err)
		}
	}
}

func TestPeekHeader(t *testing.T) {
	blank := AppendBlank(nil, 100)
	if n, k, err := PeekHeader(blank); err != nil || k != KindBlank || n != 100 {
		t.Fatalf("blank: %d %v %v", n, k, err)
	}
	if _, k, err := PeekHeader(make([]byte, 16)); err != nil || k != KindEnd {
		t.Fatalf("zeros: %v %v", k, err)
	}
	if _, k, err := PeekHeader(make([]byte, 3)); err != nil || k != KindEnd {
		t.Fatalf("short zeros: %v %v", k, err)
	}
	if _, _, err := PeekHeader([]byte{0, 0, 0, 5, 1, 2, 3, 4}); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestProperties(t *testing.T) {
	for _, props := range []string{
		"KEYS\x01a b\x02TAGS\x01T1\x02",
		"KEYS\x01a b\x02TAGS\x01T1",
		"\x02\x02KEYS\x01a b\x02novalue\x02TAGS\x01T1\x02",
	} {
		if v, ok := Property(props, "TAGS"); !ok || v != "T1" {
			t.Errorf("%q: TAGS = %q %v", props, v, ok)
		}
		if v, ok := Property([]byte(props), "KEYS"); !ok || v != "a b" {
			t.Errorf("%q: KEYS = %q %v", props, v, ok)
		}
		if _, ok := Property(props, "TAG"); ok {
			t.Errorf("%q: prefix matched", props)
		}
	}
	m := ParseProperties("B\x012\x02A\x011\x02")
	if FormatProperties(m) != "A\x011\x02B\x012" {
		t.Fatalf("format: %q", FormatProperties(m))
	}
	if got := AppendProperty("A\x011\x02", "C", "3"); got != "A\x011\x02C\x013" {
		t.Fatalf("append: %q", got)
	}
	if got := AppendProperty("A\x011", "C", "3"); got != "A\x011\x02C\x013" {
		t.Fatalf("append: %q", got)
	}
	var keys []string
	ForEachKey(" k1  k2 k3", func(k string) { keys = append(keys, k) })
	if len(keys) != 3 || keys[2] != "k3" {
		t.Fatalf("keys %q", keys)
	}
}

func TestTagsCodeMatchesJava(t *testing.T) {
	// Values of Java's String.hashCode (PROTOCOL.md trap T9 and known constants).
	cases := map[string]int64{"": 0, "TagA": 2598919, "TagB": 2598920, "标签": 857175, "😀": 1772899}
	for tag, want := range cases {
		if got := TagsCode(tag); got != want {
			t.Errorf("TagsCode(%q) = %d, want %d", tag, got, want)
		}
	}
}

func TestBatchRoundTrip(t *testing.T) {
	var body []byte
	for i := 0; i < 10; i++ {
		body = AppendBatchEntry(body, int32(i), bytes.Repeat([]byte{byte(i)}, i*10), "KEYS\x01k")
	}
	n := 0
	err := DecodeBatch(body, func(i int, e BatchEntry) error {
		if e.Flag != int32(i) || len(e.Body) != i*10 || string(e.Properties) != "KEYS\x01k" {
			t.Fatalf("entry %d: %+v", i, e)
		}
		n++
		return nil
	})
	if err != nil || n != 10 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if err := DecodeBatch(body[:len(body)-1], func(int, BatchEntry) error { return nil }); err == nil {
		t.Fatal("truncated batch accepted")
	}
}

func BenchmarkAppendRecord1K(b *testing.B) {
	m := sample(rand.New(rand.NewPCG(7, 8)))
	m.Body = make([]byte, 1024)
	buf := make([]byte, 0, 4096)
	b.SetBytes(int64(m.EncodedSize()))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendRecord(buf[:0], m)
	}
}

// fmtHost formats a host the way the Go client does: address and port joined
// by a colon, without brackets.
func fmtHost(h netip.AddrPort) string {
	return h.Addr().String() + ":" + strconv.Itoa(int(h.Port()))
}

func TestRecordCRC(t *testing.T) {
	m := sample(rand.New(rand.NewPCG(9, 9)))
	m.EnableRecordCRC()
	rec := AppendRecord(nil, m)
	if !HasCRCSlot(rec) {
		t.Fatal("no CRC slot")
	}
	SetOffsets(rec, 3, 4)
	SealCRC(rec)
	if err := VerifyRecordCRC(rec); err != nil {
		t.Fatal(err)
	}
	if v, ok := Property(rec[len(rec)-40:], PropCRC32); !ok || len(v) != 10 {
		t.Fatalf("property %q %v", v, ok)
	}
	for i := 0; i < len(rec)-11; i++ {
		bad := bytes.Clone(rec)
		bad[i] ^= 0x10
		if err := VerifyRecordCRC(bad); err == nil && WantsCRC(bad) {
			t.Fatalf("flip at byte %d not detected", i)
		}
	}
	if err := VerifyRecordCRC(rec[:len(rec)-5]); err == nil {
		t.Fatal("record without its checksum tail accepted")
	}
	// The official client still decodes it, with one extra property.
	got := primitive.DecodeMessage(rec)
	if len(got) != 1 || got[0].GetProperty(PropCRC32) == "" || got[0].GetTags() != "TagA" {
		t.Fatalf("client decode: %v", got)
	}
}
