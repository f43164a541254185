package remoting

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// sendExt is a SEND_MESSAGE header as the Go client fills it (PROTOCOL.md §2.4).
func sendExt() map[string]string {
	return map[string]string{
		"producerGroup":         "PG",
		"topic":                 "TopicTest",
		"defaultTopic":          "TBW102",
		"defaultTopicQueueNums": "4",
		"queueId":               "1",
		"sysFlag":               "0",
		"bornTimestamp":         "1700000000000",
		"flag":                  "0",
		"properties":            "UNIQ_KEY\x01C0A8000100002A9F0000000000000000\x02WAIT\x01true\x02",
		"reconsumeTimes":        "0",
		"unitMode":              "false",
		"maxReconsumeTimes":     "0",
		"batch":                 "false",
		"bname":                 "broker-a",
	}
}

func TestDecodeJSONHeaderShapes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Command
	}{
		{
			name: "go client fixed order",
			in:   `{"code":34,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"","extFields":{}}`,
			want: Command{Code: 34, Language: "GO", Version: 317, Opaque: 1, ExtFields: map[string]string{}},
		},
		{
			name: "java alphabetical with unknown key, no remark, no ext",
			in:   `{"code":0,"flag":1,"language":"JAVA","opaque":0,"serializeTypeCurrentRPC":"JSON","version":403}`,
			want: Command{Code: 0, Flag: 1, Language: "JAVA", Version: 403},
		},
		{
			name: "nulls",
			in:   `{"code":17,"language":"JAVA","remark":null,"extFields":null,"opaque":null,"version":409,"flag":1}`,
			want: Command{Code: 17, Language: "JAVA", Version: 409, Flag: 1},
		},
		{
			name: "whitespace, escapes, nested unknowns, lenient ext scalars",
			in: " {\n \"x\": {\"a\":[1,2.5e3,{\"b\":null}],\"c\":true} , \"code\" : -32768, \"remark\":\"a\\\"b\\\\c\\u0001\\ud83d\\ude00\\n\"," +
				" \"extFields\":{\"q\":\"1\",\"n\":12,\"b\":true,\"z\":null,\"u\":\"\\u00e9\"}, \"language\":\"OTHER\" }\t",
			want: Command{Code: -32768, Language: "OTHER", Remark: "a\"b\\c\x01😀\n",
				ExtFields: map[string]string{"q": "1", "n": "12", "b": "true", "u": "é"}},
		},
		{
			name: "empty object",
			in:   `{}`,
			want: Command{},
		},
		{
			name: "invalid utf8 and lone surrogate become U+FFFD",
			in:   "{\"remark\":\"a\xffb\\ud800c\"}",
			want: Command{Remark: "a\uFFFDb\uFFFDc"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeJSONHeader([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

func TestDecodeJSONHeaderErrors(t *testing.T) {
	for _, in := range []string{
		``, `{`, `[]`, `null`, `{"code":32768}`, `{"code":-32769}`, `{"version":40000}`,
		`{"opaque":2147483648}`, `{"code":1.5}`, `{"code":"10"}`, `{"code":1e2}`,
		`{"extFields":{"a":{}}}`, `{"extFields":{"a":[1]}}`, `{"extFields":[]}`,
		`{"remark":5}`, `{"language":1}`, `{"code":1}x`, `{"code":1,}`, `{"a":"\q"}`,
		`{"a":"\u12"}`, `{"a":"unterminated}`, `{"code":1 "flag":2}`,
		`{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`,
	} {
		if c, err := DecodeJSONHeader([]byte(in)); err == nil {
			t.Errorf("%q: decoded %+v, want error", in, c)
		} else if !errors.Is(err, ErrBadHeader) {
			t.Errorf("%q: %v does not wrap ErrBadHeader", in, err)
		}
	}
}

func TestEncodeJSONHeader(t *testing.T) {
	c := &Command{Code: 0, Language: "JAVA", Version: 409, Opaque: 5, Flag: 1,
		ExtFields: map[string]string{"queueOffset": "12", "msgId": "7F00", "queueId": "1"}}
	want := `{"code":0,"language":"JAVA","version":409,"opaque":5,"flag":1,"extFields":{"msgId":"7F00","queueId":"1","queueOffset":"12"}}`
	if got := string(AppendJSONHeader(nil, c)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	c = &Command{Language: "GO", Remark: "tab\there \"q\" \\ \x02 \xff"}
	want = `{"code":0,"language":"GO","version":0,"opaque":0,"flag":0,"remark":"tab\there \"q\" \\ \u0002 \ufffd"}`
	if got := string(AppendJSONHeader(nil, c)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestJSONHeaderRoundTripManyKeys(t *testing.T) {
	// More keys than the encoder's on-stack array holds.
	ext := map[string]string{}
	for i := range 40 {
		ext[strings.Repeat("k", i+1)] = strings.Repeat("v", i)
	}
	in := &Command{Code: CodePullMessage, Language: "GO", ExtFields: ext}
	out, err := DecodeJSONHeader(AppendJSONHeader(nil, in))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out.ExtFields, ext) {
		t.Fatal("ext fields differ")
	}
}

func TestBinaryHeader(t *testing.T) {
	in := &Command{Code: CodeSendMessage, Language: "GO", Version: 317, Opaque: 9, Flag: 2,
		Remark: "r", ExtFields: sendExt(), SerializeType: SerializeRocketMQ}
	b, err := AppendBinaryHeader(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	if b[2] != 9 {
		t.Fatalf("language byte %d, want 9 (GO)", b[2])
	}
	out, err := DecodeBinaryHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("got  %+v\nwant %+v", out, in)
	}

	// The fixed part alone: 21 bytes, null remark, no ext.
	min := &Command{Code: 1, Language: "JAVA", SerializeType: SerializeRocketMQ}
	b, _ = AppendBinaryHeader(nil, min)
	if len(b) != 21 {
		t.Fatalf("minimal header %d bytes, want 21", len(b))
	}
	if out, err := DecodeBinaryHeader(b); err != nil || !reflect.DeepEqual(out, min) {
		t.Fatalf("minimal: %+v %v", out, err)
	}

	// Unknown language codes read as OTHER; unknown names are sent as OTHER.
	b[2] = 200
	if out, _ := DecodeBinaryHeader(b); out.Language != "OTHER" {
		t.Fatalf("language %q", out.Language)
	}
	if languageCode("KOTLIN") != 7 || languageCode("RUST") != 12 || languageName(0) != "JAVA" {
		t.Fatal("language table")
	}
}

func TestBinaryHeaderErrors(t *testing.T) {
	good, _ := AppendBinaryHeader(nil, &Command{Remark: "rr", ExtFields: map[string]string{"k": "v"}})
	// Offsets: remarkLen at 13, remark 17..19, extLen at 19, key len at 23.
	mutate := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	for name, in := range map[string][]byte{
		"short":              good[:20],
		"remark past end":    mutate(func(b []byte) { b[16] = 100 }),
		"negative remark":    mutate(func(b []byte) { b[13] = 0x80 }),
		"ext past end":       mutate(func(b []byte) { b[22] = 100 }),
		"negative ext":       mutate(func(b []byte) { b[19] = 0xff }),
		"key past ext":       mutate(func(b []byte) { b[24] = 50 }),
		"negative key":       mutate(func(b []byte) { b[23] = 0x80 }),
		"value past ext":     mutate(func(b []byte) { b[29] = 9 }),
		"trailing bytes":     append(append([]byte(nil), good...), 0),
		"entry cut in half":  mutate(func(b []byte) { b[22] = 3 })[:26],
		"ext length too big": mutate(func(b []byte) { b[22] = 11 }),
	} {
		if c, err := DecodeBinaryHeader(in); err == nil {
			t.Errorf("%s: decoded %+v, want error", name, c)
		} else if !errors.Is(err, ErrBadHeader) {
			t.Errorf("%s: %v does not wrap ErrBadHeader", name, err)
		}
	}
	if _, err := AppendBinaryHeader(nil, &Command{ExtFields: map[string]string{strings.Repeat("k", 1<<15): ""}}); err == nil {
		t.Fatal("key over int16 length encoded")
	}
}

func benchmarkHeader(b *testing.B, st SerializeType) {
	c := &Command{Code: CodeSendMessage, Language: "GO", Version: 317, Opaque: 42,
		ExtFields: sendExt(), SerializeType: st}
	buf, err := appendFramePrefix(nil, c)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		buf, _ = appendFramePrefix(buf[:0], c)
		if _, err := DecodeFrame(Frame{SerializeType: st, Header: buf[8:]}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSendHeaderJSON(b *testing.B)   { benchmarkHeader(b, SerializeJSON) }
func BenchmarkSendHeaderBinary(b *testing.B) { benchmarkHeader(b, SerializeRocketMQ) }

// A header with more than MaxExtFields ext fields is refused in both
// encodings: one 16 MiB header of tiny fields would otherwise be a
// million map entries for a single request. MaxExtFields itself decodes.
func TestHeaderExtFieldsBounded(t *testing.T) {
	for _, n := range []int{MaxExtFields, MaxExtFields + 1} {
		ext := make(map[string]string, n)
		for i := range n {
			ext[strconv.Itoa(i)] = "v"
		}
		in := &Command{Code: CodePullMessage, Language: "GO", ExtFields: ext}
		_, jerr := DecodeJSONHeader(AppendJSONHeader(nil, in))
		bin, err := AppendBinaryHeader(nil, in)
		if err != nil {
			t.Fatal(err)
		}
		_, berr := DecodeBinaryHeader(bin)
		for name, err := range map[string]error{"json": jerr, "binary": berr} {
			if ok := n <= MaxExtFields; ok != (err == nil) || (!ok && !errors.Is(err, ErrBadHeader)) {
				t.Errorf("%s header with %d ext fields: %v", name, n, err)
			}
		}
	}
}
