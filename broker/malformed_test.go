package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
)

// T15: the malformed-request matrix against a live broker. Every case must
// end, within a second, in an error response with a non-zero code and a
// remark after which the same connection still serves, or (frame damage)
// in the connection being closed, after which a new connection serves.
// No handler may panic, and a healthy producer keeps going meanwhile.

// outcome is what a matrix case must produce.
type outcome int

const (
	wantError        outcome = iota // response, code != 0, remark != ""
	wantNoReply                     // oneway: nothing comes back
	wantClose                       // the server closes the connection
	wantErrorOrClose                // header damage the decoder may or may not survive
)

// mcase is one matrix case: a request sent with the remoting encoder, or
// raw bytes written to a fresh connection.
type mcase struct {
	name string
	req  *remoting.Command
	raw  []byte
	want outcome
	// halfClose: after raw, the test closes its write side (a peer that
	// dies mid-frame).
	halfClose bool
}

// replyTimeout is T15's bound on every answer and every close.
const replyTimeout = time.Second

// panicLog counts log records that report a recovered panic.
type panicLog struct {
	n    *atomic.Int64 // shared by the handlers WithAttrs derives
	next slog.Handler
}

func (h *panicLog) Enabled(ctx context.Context, l slog.Level) bool { return true }
func (h *panicLog) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		h.n.Add(1)
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}
func (h *panicLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &panicLog{next: h.next.WithAttrs(as), n: h.n}
}
func (h *panicLog) WithGroup(g string) slog.Handler {
	return &panicLog{next: h.next.WithGroup(g), n: h.n}
}

// rawConn is a connection the test drives frame by frame.
type rawConn struct {
	nc      net.Conn
	fr      *remoting.FrameReader
	oneways map[int32]bool // opaques that must never be answered
}

var rawOpaque atomic.Int32

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{nc: nc, fr: remoting.NewFrameReader(bufio.NewReader(nc)), oneways: map[int32]bool{}}
}

// send encodes req with a fresh opaque, keeping its flag.
func (rc *rawConn) send(req *remoting.Command) (int32, error) {
	req.Opaque = rawOpaque.Add(1)
	if req.Language == "" {
		req.Language, req.Version = "GO", 317
	}
	b, err := remoting.EncodeFrame(req)
	if err != nil {
		return 0, err
	}
	_ = rc.nc.SetWriteDeadline(time.Now().Add(replyTimeout))
	_, err = rc.nc.Write(b)
	return req.Opaque, err
}

// await reads frames until the response to opaque, skipping requests the
// server sends (notifications) and failing on a reply to a oneway request.
func (rc *rawConn) await(opaque int32, d time.Duration) (*remoting.Command, error) {
	_ = rc.nc.SetReadDeadline(time.Now().Add(d))
	for {
		c, err := rc.fr.ReadCommand()
		if err != nil {
			return nil, err
		}
		if !c.IsResponse() {
			continue
		}
		if rc.oneways[c.Opaque] {
			return nil, fmt.Errorf("got a reply (code %d %q) to oneway request %d", c.Code, c.Remark, c.Opaque)
		}
		if c.Opaque == opaque {
			return c, nil
		}
	}
}

// closed reports whether the server closes the connection within d
// (reading and dropping anything it still sends).
func (rc *rawConn) closed(d time.Duration) error {
	_ = rc.nc.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := rc.nc.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("connection still open after %v", d)
		}
		return nil // EOF or reset: closed
	}
}

// checkError applies the per-case rule to a response.
func checkError(resp *remoting.Command) error {
	switch {
	case resp.Code == remoting.RespSuccess:
		return fmt.Errorf("got SUCCESS (remark %q, ext %v)", resp.Remark, resp.ExtFields)
	case strings.TrimSpace(resp.Remark) == "":
		return fmt.Errorf("code %d with an empty remark", resp.Code)
	case strings.Contains(resp.Remark, "internal error serving"):
		return fmt.Errorf("handler panicked: %s", resp.Remark)
	}
	return nil
}

// matrixTarget is the server under test and the request that proves a
// connection still serves.
type matrixTarget struct {
	addr  string
	valid func() *remoting.Command
}

// roundTrip sends req on rc and checks it succeeds within replyTimeout.
func (mt matrixTarget) healthy(rc *rawConn) error {
	op, err := rc.send(mt.valid())
	if err != nil {
		return fmt.Errorf("valid request: %w", err)
	}
	resp, err := rc.await(op, replyTimeout)
	if err != nil {
		return fmt.Errorf("valid request after the case: %w", err)
	}
	if resp.Code != remoting.RespSuccess {
		return fmt.Errorf("valid request after the case: code %d %q", resp.Code, resp.Remark)
	}
	return nil
}

// runMatrix runs every case: request-level ones on one shared connection
// (it must keep serving), raw ones each on a fresh connection.
func runMatrix(t *testing.T, mt matrixTarget, cases []mcase) {
	t.Helper()
	shared := dialRaw(t, mt.addr)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.raw != nil {
				runRaw(t, mt, c)
				return
			}
			start := time.Now()
			op, err := shared.send(c.req)
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			switch c.want {
			case wantNoReply:
				shared.oneways[op] = true
			case wantError:
				resp, err := shared.await(op, replyTimeout)
				if err != nil {
					t.Fatalf("no answer within %v: %v", replyTimeout, err)
				}
				if err := checkError(resp); err != nil {
					t.Errorf("%v (after %v)", err, time.Since(start))
				}
			default:
				t.Fatalf("request-level case with outcome %d", c.want)
			}
			if err := mt.healthy(shared); err != nil {
				t.Errorf("%v", err)
				shared = dialRaw(t, mt.addr) // keep the rest of the matrix going
			}
		})
	}
}

func runRaw(t *testing.T, mt matrixTarget, c mcase) {
	rc := dialRaw(t, mt.addr)
	_ = rc.nc.SetWriteDeadline(time.Now().Add(replyTimeout))
	if _, err := rc.nc.Write(c.raw); err != nil && c.want != wantClose {
		t.Fatalf("write: %v", err)
	}
	if c.halfClose {
		_ = rc.nc.(*net.TCPConn).CloseWrite()
	}
	switch c.want {
	case wantClose:
		if err := rc.closed(replyTimeout); err != nil {
			t.Error(err)
		}
	case wantErrorOrClose:
		// The damaged frame carried opaque 0 when it decoded at all.
		resp, err := rc.await(0, replyTimeout)
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err):
			// closed: fine
		case err != nil:
			t.Errorf("neither an answer nor a close within %v: %v", replyTimeout, err)
		default:
			if err := checkError(resp); err != nil {
				t.Error(err)
			}
			if err := mt.healthy(rc); err != nil {
				t.Error(err)
			}
		}
	default:
		t.Fatalf("raw case with outcome %d", c.want)
	}
	if err := mt.healthy(dialRaw(t, mt.addr)); err != nil {
		t.Errorf("new connection after the case: %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe") ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, remoting.ErrBadFrame))
}

// rawFrame builds a frame by hand: length field, mark, header, body.
func rawFrame(length int32, st byte, headerLen uint32, header, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(length))
	b = binary.BigEndian.AppendUint32(b, uint32(st)<<24|headerLen&0xFFFFFF)
	b = append(b, header...)
	return append(b, body...)
}

// goodFrame wraps a header with correct lengths.
func goodFrame(st byte, header, body []byte) []byte {
	return rawFrame(int32(4+len(header)+len(body)), st, uint32(len(header)), header, body)
}

// frameCases are the frame- and header-level cases both servers share.
func frameCases(validCode int16, validExt map[string]string) []mcase {
	hdr := func(s string) []byte { return []byte(s) }
	okHeader := remoting.AppendJSONHeader(nil, &remoting.Command{Code: validCode, Language: "GO", Version: 317, ExtFields: validExt})
	cs := []mcase{
		{name: "frame/length_0", raw: rawFrame(0, 0, 0, nil, nil), want: wantClose},
		{name: "frame/length_1", raw: binary.BigEndian.AppendUint32(nil, 1), want: wantClose},
		{name: "frame/length_3", raw: binary.BigEndian.AppendUint32(nil, 3), want: wantClose},
		{name: "frame/length_-1", raw: rawFrame(-1, 0, 0, nil, nil), want: wantClose},
		{name: "frame/length_minint", raw: rawFrame(math.MinInt32, 0, 0, nil, nil), want: wantClose},
		{name: "frame/length_16MiB", raw: rawFrame(16<<20, 0, 10, nil, nil), want: wantClose},
		{name: "frame/length_1GiB", raw: rawFrame(1<<30, 0, 10, nil, nil), want: wantClose},
		{name: "frame/length_maxint", raw: rawFrame(math.MaxInt32, 0, 10, nil, nil), want: wantClose},
		{name: "frame/header_len_over_frame", raw: rawFrame(8, 0, 100, hdr("{}}}"), nil), want: wantClose},
		{name: "frame/header_len_max", raw: rawFrame(int32(4+len(okHeader)), 0, 0xFFFFFF, okHeader, nil), want: wantClose},
		{name: "frame/header_len_1_over", raw: rawFrame(int32(4+len(okHeader)), 0, uint32(len(okHeader)+1), okHeader, nil), want: wantClose},
		{name: "header/empty", raw: goodFrame(0, nil, nil), want: wantClose},
		{name: "header/garbage", raw: goodFrame(0, hdr("\x00\xff garbage \x01"), nil), want: wantClose},
		{name: "header/not_json", raw: goodFrame(0, hdr("hello, broker"), nil), want: wantClose},
		{name: "header/json_truncated", raw: goodFrame(0, okHeader[:len(okHeader)/2], nil), want: wantClose},
		{name: "header/json_array", raw: goodFrame(0, hdr(`[1,2,3]`), nil), want: wantClose},
		{name: "header/json_trailing_garbage", raw: goodFrame(0, append(append([]byte{}, okHeader...), "xyz"...), nil), want: wantClose},
		{name: "header/json_code_string", raw: goodFrame(0, hdr(`{"code":"ten","opaque":0,"flag":0}`), nil), want: wantErrorOrClose},
		{name: "header/json_code_overflow", raw: goodFrame(0, hdr(`{"code":99999999,"opaque":0,"flag":0}`), nil), want: wantErrorOrClose},
		{name: "header/json_ext_not_object", raw: goodFrame(0, hdr(`{"code":30,"opaque":0,"flag":0,"extFields":[1]}`), nil), want: wantErrorOrClose},
		{name: "header/json_deep_nesting", raw: goodFrame(0, hdr(`{"code":30,"x":`+strings.Repeat("[", 10000)+`}`), nil), want: wantErrorOrClose},
		{name: "header/binary_garbage", raw: goodFrame(1, hdr("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"), nil), want: wantClose},
		{name: "header/binary_short", raw: goodFrame(1, hdr("\x00\x1e"), nil), want: wantClose},
		{name: "serialize/type_2", raw: goodFrame(2, okHeader, nil), want: wantClose},
		{name: "serialize/type_127", raw: goodFrame(0x7f, okHeader, nil), want: wantClose},
		{name: "serialize/type_255", raw: goodFrame(0xff, okHeader, nil), want: wantClose},
		{name: "frame/truncated_then_eof", raw: goodFrame(0, okHeader, nil)[:10], want: wantClose, halfClose: true},
		{name: "frame/length_only_then_eof", raw: binary.BigEndian.AppendUint32(nil, 100), want: wantClose, halfClose: true},
	}
	return cs
}

// unknownCodes are 20 request codes neither server implements.
var unknownCodes = []int16{math.MinInt16, -1, 0, 1, 9, 13, 16, 18, 20, 22, 27, 36, 37, 99, 107, 999, 1000, 4000, 30000, math.MaxInt16}

// Field kinds of a request header.
const (
	fStr = iota
	fI32
	fI64
)

type field struct {
	key  string
	kind int
}

// fieldCases generates, for a request whose valid ext is base and whose
// required fields are req, a case per missing required field and per
// malformed number (present numeric fields, required or not).
func fieldCases(prefix string, code int16, base map[string]string, body []byte, req []field, numeric []field) []mcase {
	var cs []mcase
	mk := func(name string, edit func(map[string]string)) {
		ext := maps.Clone(base)
		edit(ext)
		cs = append(cs, mcase{name: prefix + "/" + name, req: remoting.NewRequest(code, ext, body), want: wantError})
	}
	for _, f := range req {
		mk("missing_"+f.key, func(m map[string]string) { delete(m, f.key) })
	}
	bad := map[string]string{"nonnumeric": "abc", "huge": "99999999999999999999", "float": "1.5", "empty": "", "hex": "0x10"}
	for _, f := range numeric {
		for name, v := range bad {
			mk(f.key+"_"+name, func(m map[string]string) { m[f.key] = v })
		}
		if f.kind == fI32 {
			mk(f.key+"_int32_overflow", func(m map[string]string) { m[f.key] = "2147483648" })
		}
	}
	return cs
}

func withExt(base map[string]string, kv ...string) map[string]string {
	m := maps.Clone(base)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// badTopics are names every topic-taking request must refuse.
var badTopics = map[string]string{
	"blank": "", "spaces": "   ", "len128": strings.Repeat("a", 128), "len300": strings.Repeat("t", 300),
	"space_inside": "bad topic", "slash": "a/b", "dot": "a.b", "unicode": "tópico", "nul": "x\x00y", "newline": "x\ny",
}

// badGroups are consumer group names refused where a group is stored.
var badGroups = map[string]string{
	"blank": "", "len300": strings.Repeat("g", 300), "control": "g\x01roup", "nul": "g\x00", "newline": "g\nx",
}

// v2Keys maps SEND_MESSAGE keys to SEND_MESSAGE_V2's one-letter keys.
var v2Keys = map[string]string{"producerGroup": "a", "topic": "b", "defaultTopic": "c", "defaultTopicQueueNums": "d",
	"queueId": "e", "sysFlag": "f", "bornTimestamp": "g", "flag": "h", "properties": "i", "reconsumeTimes": "j",
	"unitMode": "k", "maxReconsumeTimes": "l", "batch": "m", "bname": "n"}

func toV2(ext map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range ext {
		if k2, ok := v2Keys[k]; ok {
			out[k2] = v
		}
	}
	return out
}

func toV2Fields(fs []field) []field {
	out := make([]field, len(fs))
	for i, f := range fs {
		out[i] = field{v2Keys[f.key], f.kind}
	}
	return out
}

// batchEntry encodes one batch entry with chosen (possibly lying) lengths.
func batchEntry(size, bodyLen int32, body []byte, propLen int16, props string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(size))
	b = binary.BigEndian.AppendUint32(b, 0) // magic
	b = binary.BigEndian.AppendUint32(b, 0) // body crc
	b = binary.BigEndian.AppendUint32(b, 0) // flag
	b = binary.BigEndian.AppendUint32(b, uint32(bodyLen))
	b = append(b, body...)
	b = binary.BigEndian.AppendUint16(b, uint16(propLen))
	return append(b, props...)
}

const (
	matrixTopic    = "MT"
	matrixQueues   = 4
	matrixMaxBody  = 64 << 10
	matrixGroup    = "MG"
	matrixClientID = "127.0.0.1@matrix"
)

// brokerCases is the broker's matrix.
func brokerCases() []mcase {
	var cs []mcase
	add := func(name string, code int16, ext map[string]string, body []byte, want outcome) {
		cs = append(cs, mcase{name: name, req: remoting.NewRequest(code, ext, body), want: want})
	}
	errCase := func(name string, code int16, ext map[string]string, body []byte) {
		add(name, code, ext, body, wantError)
	}

	// SEND_MESSAGE, SEND_MESSAGE_V2, SEND_BATCH_MESSAGE.
	send := sendExt(matrixTopic, 0, "")
	sendReq := []field{{"producerGroup", fStr}, {"topic", fStr}, {"defaultTopic", fStr}, {"defaultTopicQueueNums", fI32},
		{"queueId", fI32}, {"sysFlag", fI32}, {"bornTimestamp", fI64}, {"flag", fI32}}
	sendNum := []field{{"defaultTopicQueueNums", fI32}, {"queueId", fI32}, {"sysFlag", fI32}, {"bornTimestamp", fI64},
		{"flag", fI32}, {"reconsumeTimes", fI32}, {"maxReconsumeTimes", fI32}}
	goodBatch := msg.AppendBatchEntry(nil, 0, []byte("b"), "")
	for _, v := range []struct {
		name string
		code int16
		ext  func(map[string]string) map[string]string
		req  []field
		num  []field
		body []byte
	}{
		{"send", remoting.CodeSendMessage, func(m map[string]string) map[string]string { return m }, sendReq, sendNum, []byte("x")},
		{"sendv2", remoting.CodeSendMessageV2, toV2, toV2Fields(sendReq), toV2Fields(sendNum), []byte("x")},
		{"batch", remoting.CodeSendBatchMessage, toV2, toV2Fields(sendReq), toV2Fields(sendNum), goodBatch},
	} {
		base := v.ext(send)
		cs = append(cs, fieldCases(v.name, v.code, base, v.body, v.req, v.num)...)
		topicKey, queueKey, propsKey := "topic", "queueId", "properties"
		if v.code != remoting.CodeSendMessage {
			topicKey, queueKey, propsKey = "b", "e", "i"
		}
		for name, topic := range badTopics {
			errCase(v.name+"/topic_"+name, v.code, withExt(base, topicKey, topic), v.body)
		}
		errCase(v.name+"/topic_TBW102", v.code, withExt(base, topicKey, AutoCreateTopicKey), v.body)
		errCase(v.name+"/topic_schedule", v.code, withExt(base, topicKey, ScheduleTopic), v.body)
		errCase(v.name+"/unknown_topic_bad_default", v.code, withExt(base, topicKey, "NEW_T", "defaultTopic", "NOPE", "c", "NOPE"), v.body)
		errCase(v.name+"/queue_unknown", v.code, withExt(base, queueKey, strconv.Itoa(matrixQueues)), v.body)
		errCase(v.name+"/queue_1000", v.code, withExt(base, queueKey, "1000"), v.body)
		errCase(v.name+"/queue_maxint", v.code, withExt(base, queueKey, strconv.Itoa(math.MaxInt32)), v.body)
		big := make([]byte, matrixMaxBody+1)
		if v.code == remoting.CodeSendBatchMessage {
			big = msg.AppendBatchEntry(nil, 0, big, "")
		}
		errCase(v.name+"/body_over_max", v.code, base, big)
		errCase(v.name+"/props_over_32k", v.code, withExt(base, propsKey, props("K", strings.Repeat("v", 40000))), v.body)
		errCase(v.name+"/props_transaction", v.code, withExt(base, propsKey, props(msg.PropTranMsg, "true")), v.body)
	}
	// Batch bodies whose inner lengths lie.
	batch := toV2(send)
	okEntry := batchEntry(20+3+2+0, 3, []byte("abc"), 0, "")
	for name, body := range map[string][]byte{
		"empty":               nil,
		"size_over_body":      batchEntry(1000, 3, []byte("abc"), 0, ""),
		"size_under_fixed":    batchEntry(5, 3, []byte("abc"), 0, ""),
		"size_negative":       batchEntry(-1, 3, []byte("abc"), 0, ""),
		"size_short_by_one":   batchEntry(24, 3, []byte("abc"), 0, ""),
		"bodylen_over_size":   batchEntry(25, 300, []byte("abc"), 0, ""),
		"bodylen_negative":    batchEntry(25, -3, []byte("abc"), 0, ""),
		"proplen_over":        batchEntry(25, 3, []byte("abc"), 50, ""),
		"proplen_negative":    batchEntry(27, 3, []byte("abc"), -2, "ab"),
		"trailing_bytes":      append(append([]byte{}, okEntry...), 1, 2, 3),
		"truncated_header":    okEntry[:10],
		"good_then_lying":     append(append([]byte{}, okEntry...), batchEntry(9999, 3, []byte("abc"), 0, "")...),
		"entry_with_delay":    msg.AppendBatchEntry(nil, 0, []byte("d"), props(msg.PropDelay, "3")),
		"entry_transactional": msg.AppendBatchEntry(nil, 0, []byte("t"), props(msg.PropTranMsg, "true")),
		"random_bytes":        []byte("\x00\x00\x00\x30this is not a batch body at all, really"),
	} {
		errCase("batch/body_"+name, remoting.CodeSendBatchMessage, batch, body)
	}

	// PULL_MESSAGE.
	pull := pullExt(matrixGroup, matrixTopic, 0, 0, 0, 0)
	pullNum := []field{{"queueId", fI32}, {"queueOffset", fI64}, {"maxMsgNums", fI32}, {"sysFlag", fI32},
		{"commitOffset", fI64}, {"suspendTimeoutMillis", fI64}}
	cs = append(cs, fieldCases("pull", remoting.CodePullMessage, pull, nil,
		append([]field{{"consumerGroup", fStr}, {"topic", fStr}}, pullNum...), pullNum)...)
	for name, topic := range badTopics {
		errCase("pull/topic_"+name, remoting.CodePullMessage, withExt(pull, "topic", topic), nil)
	}
	for name, g := range badGroups {
		errCase("pull/group_"+name, remoting.CodePullMessage, withExt(pull, "consumerGroup", g), nil)
	}
	errCase("pull/unknown_topic", remoting.CodePullMessage, withExt(pull, "topic", "NO_SUCH_TOPIC"), nil)
	errCase("pull/queue_negative", remoting.CodePullMessage, withExt(pull, "queueId", "-1"), nil)
	errCase("pull/queue_unknown", remoting.CodePullMessage, withExt(pull, "queueId", strconv.Itoa(matrixQueues)), nil)
	errCase("pull/offset_negative", remoting.CodePullMessage, withExt(pull, "queueOffset", "-1"), nil)
	errCase("pull/offset_maxint64", remoting.CodePullMessage, withExt(pull, "queueOffset", strconv.FormatInt(math.MaxInt64, 10)), nil)
	errCase("pull/max_msg_zero", remoting.CodePullMessage, withExt(pull, "maxMsgNums", "0"), nil)
	errCase("pull/max_msg_negative", remoting.CodePullMessage, withExt(pull, "maxMsgNums", "-5"), nil)
	errCase("pull/sql92_filter", remoting.CodePullMessage, withExt(pull, "sysFlag", "4", "expressionType", "SQL92", "subscription", "a > 1"), nil)

	// Offsets and queue queries.
	qh := map[string]string{"topic": matrixTopic, "queueId": "0"}
	for _, v := range []struct {
		name string
		code int16
		ext  map[string]string
		req  []field
		num  []field
	}{
		{"query_offset", remoting.CodeQueryConsumerOffset, withExt(qh, "consumerGroup", matrixGroup),
			[]field{{"consumerGroup", fStr}, {"topic", fStr}, {"queueId", fI32}}, []field{{"queueId", fI32}}},
		{"update_offset", remoting.CodeUpdateConsumerOffset, withExt(qh, "consumerGroup", matrixGroup, "commitOffset", "0"),
			[]field{{"consumerGroup", fStr}, {"topic", fStr}, {"queueId", fI32}, {"commitOffset", fI64}},
			[]field{{"queueId", fI32}, {"commitOffset", fI64}}},
		{"max_offset", remoting.CodeGetMaxOffset, qh, []field{{"topic", fStr}, {"queueId", fI32}}, []field{{"queueId", fI32}}},
		{"min_offset", remoting.CodeGetMinOffset, qh, []field{{"topic", fStr}, {"queueId", fI32}}, []field{{"queueId", fI32}}},
		{"earliest_time", remoting.CodeGetEarliestMsgStoreTime, qh, []field{{"topic", fStr}, {"queueId", fI32}}, []field{{"queueId", fI32}}},
		{"search_offset", remoting.CodeSearchOffsetByTimestamp, withExt(qh, "timestamp", "0"),
			[]field{{"topic", fStr}, {"queueId", fI32}, {"timestamp", fI64}}, []field{{"queueId", fI32}, {"timestamp", fI64}}},
	} {
		cs = append(cs, fieldCases(v.name, v.code, v.ext, nil, v.req, v.num)...)
		for name, topic := range badTopics {
			errCase(v.name+"/topic_"+name, v.code, withExt(v.ext, "topic", topic), nil)
		}
		errCase(v.name+"/queue_negative", v.code, withExt(v.ext, "queueId", "-1"), nil)
		errCase(v.name+"/queue_unknown", v.code, withExt(v.ext, "queueId", strconv.Itoa(matrixQueues)), nil)
		if _, ok := v.ext["consumerGroup"]; ok {
			for name, g := range badGroups {
				errCase(v.name+"/group_"+name, v.code, withExt(v.ext, "consumerGroup", g), nil)
			}
		}
	}
	errCase("update_offset/offset_below_minus_one", remoting.CodeUpdateConsumerOffset,
		withExt(qh, "consumerGroup", matrixGroup, "commitOffset", "-2"), nil)

	// QUERY_MESSAGE and VIEW_MESSAGE_BY_ID.
	query := map[string]string{"topic": matrixTopic, "key": "k", "maxNum": "32", "beginTimestamp": "0",
		"endTimestamp": strconv.FormatInt(math.MaxInt64, 10)}
	cs = append(cs, fieldCases("query", remoting.CodeQueryMessage, query, nil,
		[]field{{"topic", fStr}, {"key", fStr}, {"maxNum", fI32}, {"beginTimestamp", fI64}, {"endTimestamp", fI64}},
		[]field{{"maxNum", fI32}, {"beginTimestamp", fI64}, {"endTimestamp", fI64}})...)
	errCase("query/topic_len300", remoting.CodeQueryMessage, withExt(query, "topic", badTopics["len300"]), nil)
	view := map[string]string{"offset": "0"}
	cs = append(cs, fieldCases("view", remoting.CodeViewMessageByID, view, nil, []field{{"offset", fI64}}, []field{{"offset", fI64}})...)
	errCase("view/offset_negative", remoting.CodeViewMessageByID, withExt(view, "offset", "-1"), nil)
	errCase("view/offset_huge", remoting.CodeViewMessageByID, withExt(view, "offset", strconv.FormatInt(math.MaxInt64, 10)), nil)
	errCase("view/offset_past_end", remoting.CodeViewMessageByID, withExt(view, "offset", "1000000000"), nil)
	errCase("view/offset_mid_record", remoting.CodeViewMessageByID, withExt(view, "offset", "7"), nil)

	// Admin.
	topicCfg := map[string]string{"topic": "MT_ADMIN", "readQueueNums": "4", "writeQueueNums": "4", "perm": "6"}
	cs = append(cs, fieldCases("create_topic", remoting.CodeUpdateAndCreateTopic, topicCfg, nil, []field{{"topic", fStr}},
		[]field{{"readQueueNums", fI32}, {"writeQueueNums", fI32}, {"perm", fI32}})...)
	for name, topic := range badTopics {
		errCase("create_topic/topic_"+name, remoting.CodeUpdateAndCreateTopic, withExt(topicCfg, "topic", topic), nil)
		errCase("delete_topic/topic_"+name, remoting.CodeDeleteTopicInBroker, map[string]string{"topic": topic}, nil)
	}
	errCase("create_topic/TBW102", remoting.CodeUpdateAndCreateTopic, withExt(topicCfg, "topic", AutoCreateTopicKey), nil)
	errCase("create_topic/read_negative", remoting.CodeUpdateAndCreateTopic, withExt(topicCfg, "readQueueNums", "-1"), nil)
	errCase("create_topic/zero_queues", remoting.CodeUpdateAndCreateTopic, withExt(topicCfg, "readQueueNums", "0", "writeQueueNums", "0"), nil)
	errCase("create_topic/2000_queues", remoting.CodeUpdateAndCreateTopic, withExt(topicCfg, "writeQueueNums", "2000"), nil)
	errCase("create_topic/perm_negative", remoting.CodeUpdateAndCreateTopic, withExt(topicCfg, "perm", "-1"), nil)
	errCase("create_topic/perm_too_big", remoting.CodeUpdateAndCreateTopic, withExt(topicCfg, "perm", "64"), nil)
	errCase("create_topic/filter_type_bad", remoting.CodeUpdateAndCreateTopic, withExt(topicCfg, "topicFilterType", "NOT_A_TYPE"), nil)
	errCase("delete_topic/missing_topic", remoting.CodeDeleteTopicInBroker, map[string]string{}, nil)
	errCase("delete_topic/TBW102", remoting.CodeDeleteTopicInBroker, map[string]string{"topic": AutoCreateTopicKey}, nil)

	// Heartbeat, unregister, consumer list, locks.
	for name, body := range map[string]string{
		"empty": "", "broken_json": `{"clientID":`, "array": `[1,2]`, "wrong_types": `{"clientID":5,"consumerDataSet":"x"}`,
		"no_client_id":  `{"producerDataSet":[{"groupName":"PG"}]}`,
		"group_control": `{"clientID":"c","consumerDataSet":[{"groupName":"g\u0001x","subscriptionDataSet":[]}]}`,
		"group_len300":  `{"clientID":"c","consumerDataSet":[{"groupName":"` + strings.Repeat("g", 300) + `","subscriptionDataSet":[]}]}`,
	} {
		errCase("heartbeat/"+name, remoting.CodeHeartBeat, nil, []byte(body))
	}
	errCase("unregister/missing_client_id", remoting.CodeUnregisterClient, map[string]string{"producerGroup": "PG"}, nil)
	errCase("consumer_list/missing_group", remoting.CodeGetConsumerListByGroup, map[string]string{}, nil)
	errCase("consumer_list/unknown_group", remoting.CodeGetConsumerListByGroup, map[string]string{"consumerGroup": "NOBODY"}, nil)
	for _, code := range []int16{remoting.CodeLockBatchMQ, remoting.CodeUnlockBatchMQ} {
		for name, body := range map[string]string{
			"empty": "", "broken_json": `{"consumerGroup":"x",`, "missing_fields": `{}`, "mqset_wrong_type": `{"consumerGroup":"g","clientId":"c","mqSet":"x"}`,
		} {
			errCase(fmt.Sprintf("lock_%d/%s", code, name), code, nil, []byte(body))
		}
	}

	// Oneway flag on requests that need a reply: no reply, connection fine.
	oneway := func(name string, code int16, ext map[string]string, body []byte) {
		r := remoting.NewRequest(code, ext, body)
		r.Flag = remoting.FlagOneway
		cs = append(cs, mcase{name: "oneway/" + name, req: r, want: wantNoReply})
	}
	oneway("send", remoting.CodeSendMessage, send, []byte("oneway"))
	oneway("sendv2", remoting.CodeSendMessageV2, toV2(send), []byte("oneway"))
	oneway("batch", remoting.CodeSendBatchMessage, toV2(send), goodBatch)
	oneway("pull", remoting.CodePullMessage, pull, nil)
	oneway("query_offset", remoting.CodeQueryConsumerOffset, withExt(qh, "consumerGroup", matrixGroup), nil)
	oneway("update_offset", remoting.CodeUpdateConsumerOffset, withExt(qh, "consumerGroup", matrixGroup, "commitOffset", "0"), nil)
	oneway("max_offset", remoting.CodeGetMaxOffset, qh, nil)
	oneway("min_offset", remoting.CodeGetMinOffset, qh, nil)
	oneway("earliest", remoting.CodeGetEarliestMsgStoreTime, qh, nil)
	oneway("search", remoting.CodeSearchOffsetByTimestamp, withExt(qh, "timestamp", "0"), nil)
	oneway("heartbeat", remoting.CodeHeartBeat, nil, []byte(`{"clientID":"ow"}`))
	oneway("unregister", remoting.CodeUnregisterClient, map[string]string{"clientID": "ow"}, nil)
	oneway("consumer_list", remoting.CodeGetConsumerListByGroup, map[string]string{"consumerGroup": matrixGroup}, nil)
	oneway("lock", remoting.CodeLockBatchMQ, nil, []byte(`{"consumerGroup":"g","clientId":"c","mqSet":[]}`))
	oneway("unlock", remoting.CodeUnlockBatchMQ, nil, []byte(`{"consumerGroup":"g","clientId":"c","mqSet":[]}`))
	oneway("create_topic", remoting.CodeUpdateAndCreateTopic, withExt(topicCfg, "topic", "MT_ONEWAY"), nil)
	oneway("delete_topic", remoting.CodeDeleteTopicInBroker, map[string]string{"topic": "MT_ONEWAY"}, nil)
	oneway("all_topics", remoting.CodeGetAllTopicConfig, nil, nil)
	oneway("all_groups", remoting.CodeGetAllSubscriptionGroupConfig, nil, nil)
	oneway("query", remoting.CodeQueryMessage, query, nil)
	oneway("view", remoting.CodeViewMessageByID, view, nil)
	oneway("malformed_send", remoting.CodeSendMessage, map[string]string{}, nil)

	for _, code := range unknownCodes {
		errCase(fmt.Sprintf("unknown_code/%d", code), code, map[string]string{"topic": matrixTopic}, []byte("?"))
	}
	cs = append(cs, frameCases(remoting.CodeGetMaxOffset, qh)...)
	return cs
}

// TestMalformedRequestMatrix is T15 for the broker.
func TestMalformedRequestMatrix(t *testing.T) {
	pl := &panicLog{next: testLogger().Handler(), n: new(atomic.Int64)}
	cfg := testConfig(t.TempDir())
	cfg.MaxMessageSize = matrixMaxBody
	cfg.RejectTransactionMessage = true // props_transaction must be refused
	b, err := New(cfg, WithLogger(slog.New(pl)))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	tc := newTestClient(t, b.Addr())
	expectCode(t, tc.call(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": matrixTopic,
		"readQueueNums": strconv.Itoa(matrixQueues), "writeQueueNums": strconv.Itoa(matrixQueues), "perm": "6"}, nil),
		remoting.RespSuccess, "create topic")
	for q := range matrixQueues {
		tc.send(matrixTopic, q, props(msg.PropKeys, "k"), "seed")
	}

	// A healthy producer on its own connection for the whole matrix.
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := remoting.NewClient(remoting.ClientOptions{Logger: testLogger(), Language: "GO", Version: 317})
		defer c.Close()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, err := c.Invoke(ctx, b.Addr(), remoting.NewRequest(remoting.CodeSendMessage,
				sendExt("HEALTHY", i%4, ""), []byte("healthy "+strconv.Itoa(i))))
			cancel()
			if err == nil && resp.Code != remoting.RespSuccess {
				err = fmt.Errorf("code %d %s", resp.Code, resp.Remark)
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				continue
			}
			sent.Add(1)
		}
	}()

	// Baseline rate of the healthy producer alone (a measuring window,
	// reported next to the rate during the matrix; 2 shared cores make a
	// ratio too noisy to assert).
	eventually(t, 5*time.Second, "the healthy producer's first send", func() bool { return sent.Load() > 0 })
	baseFrom, baseAt := sent.Load(), time.Now()
	time.Sleep(200 * time.Millisecond)
	baseRate := float64(sent.Load()-baseFrom) / time.Since(baseAt).Seconds()

	cases := brokerCases()
	valid := func() *remoting.Command {
		return remoting.NewRequest(remoting.CodeGetMaxOffset, map[string]string{"topic": matrixTopic, "queueId": "0"}, nil)
	}
	began := time.Now()
	before := sent.Load()
	runMatrix(t, matrixTarget{addr: b.Addr(), valid: valid}, cases)
	took := time.Since(began)
	during := sent.Load() - before
	close(stop)
	wg.Wait()

	t.Logf("T15 broker: %d cases in %v; healthy producer sent %d during the matrix (%.0f/s, alone %.0f/s), %d errors; panics logged: %d",
		len(cases), took.Round(time.Millisecond), during, float64(during)/took.Seconds(), baseRate, failed.Load(), pl.n.Load())
	if len(cases) < 200 {
		t.Errorf("only %d cases, want >= 200", len(cases))
	}
	if during == 0 {
		t.Error("the healthy producer made no progress during the matrix")
	}
	if failed.Load() != 0 {
		t.Errorf("the healthy producer had %d errors, first: %v", failed.Load(), firstErr.Load())
	}
	if pl.n.Load() != 0 {
		t.Errorf("%d panics logged", pl.n.Load())
	}
	// The seed messages are intact.
	for q := range matrixQueues {
		resp := tc.call(remoting.CodePullMessage, pullExt("CHECK", matrixTopic, q, 0, 0, 0), nil)
		expectCode(t, resp, remoting.RespSuccess, "pull seed")
		if recs := decodeAll(t, resp.Body); len(recs) == 0 || string(recs[0].Body) != "seed" {
			t.Errorf("queue %d: seed message not intact", q)
		}
	}
}
