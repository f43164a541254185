package fuzz

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/wharfmq/wharf/engine/msg"
)

func seedRecord() []byte {
	m := &msg.Message{
		Topic: "TopicTest", QueueID: 1, Body: []byte("Hello"),
		Properties: "UNIQ_KEY\x01C0A8000A00002A9F0000000000001000\x02TAGS\x01TagA\x02",
		BornHost:   netip.MustParseAddrPort("10.0.0.5:40000"),
		StoreHost:  netip.MustParseAddrPort("[2001:db8::1]:10911"),
	}
	m.EnableRecordCRC()
	rec := msg.AppendRecord(nil, m)
	msg.SetOffsets(rec, 7, 4096)
	msg.SealCRC(rec)
	return rec
}

// FuzzDecodeRecord feeds arbitrary bytes to the record decoder: no panic, and
// a record it accepts re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(seedRecord())
	f.Add(msg.AppendBlank(nil, 64))
	f.Add([]byte{0, 0, 0, 91, 0xDA, 0xA3, 0x20, 0xA7})
	f.Fuzz(func(t *testing.T, b []byte) {
		msg.PeekHeader(b)
		r, err := msg.Decode(b)
		msg.VerifyRecordCRC(b)
		if err != nil {
			return
		}
		r.VerifyCRC()
		r.Property("TAGS")
		m := &msg.Message{
			Topic: string(r.Topic), QueueID: r.QueueID, Flag: r.Flag, Body: r.Body,
			Properties: string(r.Properties), SysFlag: r.SysFlag, BornTimestamp: r.BornTimestamp,
			BornHost: r.BornHost, StoreHost: r.StoreHost, ReconsumeTimes: r.ReconsumeTimes,
			PreparedTransactionOffset: r.PreparedTransactionOffset,
		}
		again := msg.AppendRecord(nil, m)
		msg.SetOffsets(again, r.QueueOffset, r.PhysOffset)
		msg.SetStoreTimestamp(again, r.StoreTimestamp)
		if len(again) != len(r.Raw) {
			// An IPv4-mapped IPv6 host is written back in IPv4 form.
			return
		}
		// BODYCRC is recomputed on encode; compare everything else.
		want := bytes.Clone(r.Raw)
		copy(want[8:12], again[8:12])
		if !bytes.Equal(again, want) {
			t.Fatalf("re-encoding differs:\n%x\n%x", again, want)
		}
	})
}

// FuzzBatchBody walks arbitrary SEND_BATCH_MESSAGE bodies.
func FuzzBatchBody(f *testing.F) {
	f.Add(msg.AppendBatchEntry(msg.AppendBatchEntry(nil, 0, []byte("a"), "KEYS\x01k"), 1, nil, ""))
	f.Add([]byte{0, 0, 0, 22, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		msg.DecodeBatch(b, func(i int, e msg.BatchEntry) error {
			total += len(e.Body) + len(e.Properties)
			if total > len(b) {
				t.Fatalf("entries claim %d bytes of a %d-byte body", total, len(b))
			}
			return nil
		})
	})
}

// FuzzProperties parses arbitrary properties strings.
func FuzzProperties(f *testing.F) {
	f.Add("KEYS\x01a b\x02TAGS\x01T\x02")
	f.Add("\x02\x01\x02\x01\x01")
	f.Fuzz(func(t *testing.T, s string) {
		m := msg.ParseProperties(s)
		for k, v := range m {
			if got, ok := msg.Property(s, k); !ok || (got != v && !bytes.Contains([]byte(s), []byte(k+"\x01"+got))) {
				t.Fatalf("Property(%q) = %q %v, map says %q", k, got, ok, v)
			}
		}
		msg.ForEachKey(s, func(string) {})
		_ = msg.TagsCode(s) // must not panic on any string
	})
}
