package fuzz

import (
	"bytes"
	"testing"

	"github.com/wharfmq/wharf/remoting"
)

// sameCommand compares commands, treating a nil and an empty ext map or
// body as equal.
func sameCommand(a, b *remoting.Command) bool {
	if a.Code != b.Code || a.Language != b.Language || a.Version != b.Version || a.Opaque != b.Opaque ||
		a.Flag != b.Flag || a.Remark != b.Remark || a.SerializeType != b.SerializeType ||
		!bytes.Equal(a.Body, b.Body) || len(a.ExtFields) != len(b.ExtFields) {
		return false
	}
	for k, v := range a.ExtFields {
		if w, ok := b.ExtFields[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func FuzzHeaderJSON(f *testing.F) {
	for _, s := range []string{
		routeHeader, heartbeatHeader, javaRespHeader,
		string(remoting.AppendJSONHeader(nil, sendCommand(remoting.SerializeJSON))),
		`{"code":17,"language":"JAVA","remark":null,"extFields":null,"opaque":9,"version":409,"flag":1}`,
		`{"code":0,"extFields":{"queueId":1,"ok":true,"n":null},"x":[{"y":[1e5,-0.5]}]}`,
		`{"remark":"\ud83d\ude00 \u0001 \\ \" \/ \ud800"}`,
		"{\"remark\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := remoting.DecodeJSONHeader(data)
		if err != nil {
			return
		}
		enc := remoting.AppendJSONHeader(nil, c)
		c2, err := remoting.DecodeJSONHeader(enc)
		if err != nil {
			t.Fatalf("re-decode of %q: %v", enc, err)
		}
		if !sameCommand(c, c2) {
			t.Fatalf("round trip differs:\n%+v\n%+v", c, c2)
		}
	})
}

func FuzzHeaderBinary(f *testing.F) {
	for _, c := range []*remoting.Command{
		sendCommand(remoting.SerializeRocketMQ),
		{Code: 0, Language: "JAVA", Version: 409, Flag: 1, SerializeType: remoting.SerializeRocketMQ,
			ExtFields: map[string]string{"msgId": "7F00000100002A9F0000000000000000", "queueId": "1", "queueOffset": "0"}},
		{Code: 1, Language: "JAVA", Remark: "error", SerializeType: remoting.SerializeRocketMQ},
	} {
		b, err := remoting.AppendBinaryHeader(nil, c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(make([]byte, 21))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := remoting.DecodeBinaryHeader(data)
		if err != nil {
			return
		}
		enc, err := remoting.AppendBinaryHeader(nil, c)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if len(enc) > len(data) {
			t.Fatalf("re-encoded %d bytes from %d", len(enc), len(data))
		}
		c2, err := remoting.DecodeBinaryHeader(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !sameCommand(c, c2) {
			t.Fatalf("round trip differs:\n%+v\n%+v", c, c2)
		}
	})
}
