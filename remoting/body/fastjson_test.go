package body

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// appendTable writes {"offsetTable":{key:value,...},"consumeTps":tps} the
// way the broker does, keys as fastjson's MessageQueue objects.
func appendTable(mqs []MessageQueue, vals []int64, tps float64) []byte {
	b := []byte(`{"consumeTps":`)
	b = AppendJavaDouble(b, tps)
	b = append(b, `,"offsetTable":{`...)
	for i, mq := range mqs {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendMessageQueue(b, mq)
		b = append(b, ':')
		b = strconv.AppendInt(b, vals[i], 10)
	}
	return append(b, "}}"...)
}

// TestFastjsonRoundTrip writes MessageQueue-keyed tables with awkward
// names and reads them back: every queue and value, in order, and the
// other members untouched.
func TestFastjsonRoundTrip(t *testing.T) {
	names := []string{
		"broker-a", "", `q"uote`, `back\slash`, "brace}{[]:,", "tab\tnew\nline\r", "ctl\x00\x01\x1f\x7f",
		"é中文😀", "<html>&amp;", "\u2028\u2029", `{"brokerName":"x"}`, " lead and trail ",
	}
	for _, name := range names {
		mqs := []MessageQueue{{BrokerName: name, QueueID: 0, Topic: "T"}, {BrokerName: "b", QueueID: 2147483647, Topic: name}, {BrokerName: name, QueueID: -1, Topic: name}}
		vals := []int64{0, -1, 1 << 62}
		b := appendTable(mqs, vals, 2.5)
		if !json.Valid(AppendMessageQueue(nil, mqs[0])) {
			t.Fatalf("%q: key %s is not JSON", name, AppendMessageQueue(nil, mqs[0]))
		}
		var gotMQ []MessageQueue
		var gotV []int64
		other, err := DecodeMQTable(b, "offsetTable", func(mq MessageQueue, v []byte) error {
			n, err := strconv.ParseInt(string(v), 10, 64)
			gotMQ, gotV = append(gotMQ, mq), append(gotV, n)
			return err
		})
		if err != nil {
			t.Fatalf("%q: %v\n%s", name, err, b)
		}
		if fmt.Sprint(gotMQ) != fmt.Sprint(mqs) || fmt.Sprint(gotV) != fmt.Sprint(vals) {
			t.Fatalf("%q: read %v %v, wrote %v %v", name, gotMQ, gotV, mqs, vals)
		}
		if len(other) != 1 || string(other["consumeTps"]) != "2.5" {
			t.Fatalf("%q: other members %q", name, other)
		}
		// Each key is a JSON object encoding/json reads the same way.
		var mq MessageQueue
		if err := json.Unmarshal(AppendMessageQueue(nil, mqs[0]), &mq); err != nil || mq != mqs[0] {
			t.Fatalf("%q: key reads back as %+v (%v)", name, mq, err)
		}
	}
}

// TestAppendStringMatchesJSON: every string is written as valid JSON that
// decodes to it (invalid UTF-8 to U+FFFD, as encoding/json).
func TestAppendStringMatchesJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `"\`, "\x00\b\f\n\r\t\x1f", "é😀", "bad\xffutf8\xc3", "<>&", "\u2028"} {
		b := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q wrote %s: %v", s, b, err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if got != want {
			t.Errorf("%q wrote %s, reads %q", s, b, got)
		}
	}
	if got := string(AppendString(nil, "a\"\\\n\x01<&")); got != `"a\"\\\n\u0001<&"` {
		t.Errorf("escapes: %s", got)
	}
}

// TestFastjsonKeys reads the key shapes Java and other writers use: queue
// objects, strings holding a queue, numbers (fastjson's Map<Long,...>) and
// plain strings, with spaces around them.
func TestFastjsonKeys(t *testing.T) {
	for _, c := range []struct{ in, keys string }{
		{`{}`, ``},
		{` { } `, ``},
		{`{0:"a",1:"b"}`, `0="a" 1="b"`},
		{`{-1:2.5e3}`, `-1=2.5e3`},
		{`{"k":"v","k2":{"x":[1,{"y":"}"}]}}`, `"k"="v" "k2"={"x":[1,{"y":"}"}]}`},
		{`{{"brokerName":"b}","queueId":1,"topic":"T"}:{"a":1}}`, `{"brokerName":"b}","queueId":1,"topic":"T"}={"a":1}`},
		{"{ \"a\\\"b\" :\n true ,\t\"c\":null}", `"a\"b"=true "c"=null`},
		{`{"é😀":"\u00e9"}`, `"é😀"="\u00e9"`},
	} {
		var got []string
		err := eachMember([]byte(c.in), func(k, v []byte) error {
			got = append(got, string(k)+"="+string(v))
			return nil
		})
		if err != nil || strings.Join(got, " ") != c.keys {
			t.Errorf("%s: %q, %v; want %q", c.in, got, err, c.keys)
		}
	}
	for _, key := range []string{`{"brokerName":"b","queueId":3,"topic":"T"}`, `"{\"brokerName\":\"b\",\"queueId\":3,\"topic\":\"T\"}"`} {
		mq, err := decodeMessageQueueKey([]byte(key))
		if err != nil || mq != (MessageQueue{BrokerName: "b", QueueID: 3, Topic: "T"}) {
			t.Errorf("%s: %+v %v", key, mq, err)
		}
	}
}

// TestFastjsonMalformed: truncations and garbage are ErrMalformed (or a
// JSON error for a value), never a panic or a silent success.
func TestFastjsonMalformed(t *testing.T) {
	good := appendTable([]MessageQueue{{BrokerName: "b}", QueueID: 1, Topic: "T"}}, []int64{7}, 0)
	noop := func(MessageQueue, []byte) error { return nil }
	for i := range good {
		if _, err := DecodeMQTable(good[:i], "offsetTable", noop); err == nil {
			t.Fatalf("prefix of %d bytes %q decoded", i, good[:i])
		}
	}
	for _, bad := range []string{``, `[]`, `{"offsetTable":[1]}`, `{"offsetTable":{1:2}}`, `{"a" 1}`, `{"a":1 "b":2}`,
		`{{}:1}`, `"`, `{"offsetTable":{{"queueId":"x"}:{}}}`, `{"offsetTable":{"\x":1}}`, `{:1}`, `{"a":}`} {
		_, err := DecodeMQTable([]byte(bad), "offsetTable", noop)
		if err == nil {
			t.Errorf("%q decoded", bad)
		} else if !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v is not ErrMalformed", bad, err)
		}
	}
}

// FuzzDecodeMQTable: any input decodes or fails without panicking, and
// whatever AppendMessageQueue writes reads back.
func FuzzDecodeMQTable(f *testing.F) {
	f.Add([]byte(`{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:1}}`), "b", int32(0))
	f.Add([]byte(`{0:{"a":"}"}}`), "\"", int32(-1))
	f.Fuzz(func(t *testing.T, in []byte, name string, q int32) {
		DecodeMQTable(in, "offsetTable", func(MessageQueue, []byte) error { return nil })
		mq := MessageQueue{BrokerName: name, QueueID: q, Topic: name}
		b := appendTable([]MessageQueue{mq}, []int64{1}, 0)
		var got MessageQueue
		if _, err := DecodeMQTable(b, "offsetTable", func(m MessageQueue, _ []byte) error { got = m; return nil }); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		want := mq
		want.BrokerName = strings.ToValidUTF8(name, "\uFFFD")
		want.Topic = want.BrokerName
		if strings.ToValidUTF8(name, "") == name && got != want {
			t.Fatalf("wrote %+v, read %+v", mq, got)
		}
	})
}

func TestAppendJavaDouble(t *testing.T) {
	for v, want := range map[float64]string{0: "0.0", 2.5: "2.5", -3: "-3.0", 1e21: "1000000000000000000000.0"} {
		if got := string(AppendJavaDouble(nil, v)); got != want {
			t.Errorf("%v: %s, want %s", v, got, want)
		}
	}
}

// TestStatsValues: the hand-written value writers agree with the struct
// tags readers decode with, and with the bytes the broker has always sent.
func TestStatsValues(t *testing.T) {
	for _, v := range []struct {
		got  []byte
		v    any
		want string
	}{
		{AppendTopicOffset(nil, TopicOffset{LastUpdateTimestamp: 1700000000000, MaxOffset: 9, MinOffset: -1}), TopicOffset{1700000000000, 9, -1},
			`{"lastUpdateTimestamp":1700000000000,"maxOffset":9,"minOffset":-1}`},
		{AppendOffsetWrapper(nil, OffsetWrapper{BrokerOffset: 9, ConsumerOffset: 4, LastTimestamp: 7}), OffsetWrapper{9, 4, 7},
			`{"brokerOffset":9,"consumerOffset":4,"lastTimestamp":7}`},
	} {
		std, _ := json.Marshal(v.v)
		if string(v.got) != v.want || string(std) != v.want {
			t.Errorf("wrote %s, encoding/json %s, want %s", v.got, std, v.want)
		}
	}
}
