package remoting

import (
	"errors"
	"strings"
	"testing"
)

func TestExtGetters(t *testing.T) {
	c := NewRequest(CodePullMessage, map[string]string{
		"topic": "T", "queueId": "3", "big": "9223372036854775807", "over": "2147483648",
		"bad": "12x", "yes": "TRUE", "no": "yes",
	}, nil)
	if v, err := c.ExtString("topic"); err != nil || v != "T" {
		t.Fatalf("ExtString: %q %v", v, err)
	}
	if _, err := c.ExtString("missing"); !errors.Is(err, ErrMissingField) || !strings.Contains(err.Error(), `"missing"`) {
		t.Fatalf("missing: %v", err)
	}
	if v, err := c.ExtInt32("queueId"); err != nil || v != 3 {
		t.Fatalf("ExtInt32: %d %v", v, err)
	}
	if _, err := c.ExtInt32("over"); !errors.Is(err, ErrBadField) {
		t.Fatalf("int32 overflow: %v", err)
	}
	if _, err := c.ExtInt32("bad"); !errors.Is(err, ErrBadField) {
		t.Fatalf("malformed: %v", err)
	}
	if v, err := c.ExtInt64("big"); err != nil || v != 1<<63-1 {
		t.Fatalf("ExtInt64: %d %v", v, err)
	}
	if _, err := c.ExtInt64("missing"); !errors.Is(err, ErrMissingField) {
		t.Fatalf("ExtInt64 missing: %v", err)
	}
	if v, err := c.ExtBool("yes"); err != nil || !v {
		t.Fatalf("ExtBool TRUE: %v %v", v, err)
	}
	if v, err := c.ExtBool("no"); err != nil || v {
		t.Fatalf(`ExtBool "yes" must be false as in Java: %v %v`, v, err)
	}
	if _, err := c.ExtBool("missing"); !errors.Is(err, ErrMissingField) {
		t.Fatalf("ExtBool missing: %v", err)
	}
	if c.ExtStringOr("missing", "d") != "d" || c.ExtStringOr("topic", "d") != "T" {
		t.Fatal("ExtStringOr")
	}
	if v, err := c.ExtInt32Or("missing", -1); err != nil || v != -1 {
		t.Fatalf("ExtInt32Or default: %d %v", v, err)
	}
	if _, err := c.ExtInt32Or("bad", -1); !errors.Is(err, ErrBadField) {
		t.Fatalf("ExtInt32Or malformed must not default: %v", err)
	}
	if v, err := c.ExtInt64Or("missing", 5); err != nil || v != 5 {
		t.Fatalf("ExtInt64Or: %d %v", v, err)
	}
	if !c.ExtBoolOr("missing", true) || c.ExtBoolOr("no", true) {
		t.Fatal("ExtBoolOr")
	}
	long := strings.Repeat("9", 1000)
	c.SetExt("long", long)
	if _, err := c.ExtInt64("long"); err == nil || len(err.Error()) > 200 {
		t.Fatalf("long malformed value: %v", err)
	}
}

func TestNewResponseAndSetters(t *testing.T) {
	req := &Command{Code: CodeSendMessage, Opaque: 77, SerializeType: SerializeRocketMQ}
	resp := NewResponse(req, RespTopicNotExist, "no topic")
	if resp.Opaque != 77 || !resp.IsResponse() || resp.IsOneway() || resp.SerializeType != SerializeRocketMQ ||
		resp.Code != RespTopicNotExist || resp.Remark != "no topic" {
		t.Fatalf("NewResponse: %+v", resp)
	}
	resp.SetExtInt("queueOffset", -12)
	resp.SetExtBool("TRACE_ON", true)
	if resp.ExtFields["queueOffset"] != "-12" || resp.ExtFields["TRACE_ON"] != "true" {
		t.Fatalf("setters: %v", resp.ExtFields)
	}
	if s := resp.String(); !strings.Contains(s, "response") || !strings.Contains(s, "opaque=77") {
		t.Fatalf("String: %s", s)
	}
	if NewRequest(1, nil, nil).String() == "" {
		t.Fatal("empty String")
	}
}

// A clone can be invoked (opaque, flags, signature fields set) while the
// original is: neither sees the other's changes; the body is shared.
func TestCloneIsIndependent(t *testing.T) {
	body := []byte("table")
	c := NewRequest(CodeRegisterBroker, map[string]string{"brokerName": "b"}, body)
	d := c.Clone()
	d.Opaque, d.Flag = 7, FlagOneway
	d.SetExt("Signature", "x")
	if c.Opaque != 0 || c.Flag != 0 || len(c.ExtFields) != 1 {
		t.Fatalf("the original changed with its clone: %+v", c)
	}
	if d.ExtFields["brokerName"] != "b" || &d.Body[0] != &body[0] {
		t.Fatalf("the clone lost the ext fields or copied the body: %+v", d)
	}
}
