package nameserver

// T15 for the name server: the malformed-request matrix. The harness
// (rawConn, runMatrix, frameCases and the generators) is a copy of the one
// in broker/malformed_test.go; test files cannot be shared across packages.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfmq/wharf/remoting"
)

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

// compressedRaw zlib-compresses raw bytes as a REGISTER_BROKER body.
func compressedRaw(t *testing.T, raw []byte) []byte {
	return deflateZlib(t, raw)
}

func chunk(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// nameServerCases is the name server's matrix.
func nameServerCases(t *testing.T) []mcase {
	var cs []mcase
	errCase := func(name string, req *remoting.Command) {
		cs = append(cs, mcase{name: name, req: req, want: wantError})
	}
	body, err := EncodeRegisterBody(defaultTopics(), DataVersion{Counter: 1, Timestamp: 1})
	if err != nil {
		t.Fatal(err)
	}
	reg := RegisterRequest("broker-m", "127.0.0.1:10911", "DefaultCluster", 0, body).ExtFields
	regWith := func(b []byte, kv ...string) *remoting.Command {
		r := remoting.NewRequest(remoting.CodeRegisterBroker, withExt(reg, kv...), b)
		return r
	}
	// REGISTER_BROKER header.
	cs = append(cs, fieldCases("register", remoting.CodeRegisterBroker, reg, body,
		[]field{{"brokerName", fStr}, {"clusterName", fStr}, {"brokerAddr", fStr}, {"brokerId", fI64}},
		[]field{{"brokerId", fI64}, {"bodyCrc32", fI32}})...)
	for _, k := range []string{"brokerName", "clusterName", "brokerAddr"} {
		errCase("register/empty_"+k, regWith(body, k, ""))
	}
	errCase("register/broker_id_negative", regWith(body, "brokerId", "-1"))
	errCase("register/crc_mismatch", regWith(body, "bodyCrc32", "12345"))
	for name, addr := range map[string]string{
		"no_port": "127.0.0.1", "no_host": ":10911", "port_0": "127.0.0.1:0", "port_99999": "127.0.0.1:99999",
		"port_text": "127.0.0.1:abc", "comma": "127.0.0.1:1,127.0.0.2:2", "space": "127.0.0.1: 10911",
		"quote": `"127.0.0.1":10911`, "brace": "{127.0.0.1}:10911", "newline": "127.0.0.1:10911\n",
	} {
		errCase("register/addr_"+name, regWith(body, "brokerAddr", addr))
	}
	// REGISTER_BROKER bodies.
	dv := []byte(`{"counter":1,"timestamp":1}`)
	for name, b := range map[string][]byte{
		"broken_json":    []byte(`{"topicConfigSerializeWrapper":`),
		"array":          []byte(`[1,2,3]`),
		"wrong_types":    []byte(`{"topicConfigSerializeWrapper":{"topicConfigTable":[1]}}`),
		"negative_queue": []byte(`{"topicConfigSerializeWrapper":{"topicConfigTable":{"T":{"topicName":"T","readQueueNums":-1,"writeQueueNums":4}}}}`),
	} {
		errCase("register/body_"+name, regWith(b, "bodyCrc32", "0"))
	}
	compressed := map[string][]byte{
		"not_zlib":       []byte("definitely not a zlib stream"),
		"empty_stream":   compressedRaw(t, nil),
		"dv_len_lies":    compressedRaw(t, append(binary.BigEndian.AppendUint32(nil, 1000), dv...)),
		"dv_len_neg":     compressedRaw(t, append(binary.BigEndian.AppendUint32(nil, 0xFFFFFFFF), dv...)),
		"dv_not_json":    compressedRaw(t, chunk([]byte("{{{{"))),
		"count_missing":  compressedRaw(t, chunk(dv)),
		"count_negative": compressedRaw(t, append(chunk(dv), 0xFF, 0xFF, 0xFF, 0xFF)),
		"count_lies":     compressedRaw(t, append(chunk(dv), 0, 0, 0, 50)),
		"topic_len_lies": compressedRaw(t, append(append(chunk(dv), 0, 0, 0, 1), binary.BigEndian.AppendUint32(nil, 9999)...)),
		"topic_bad_nums": compressedRaw(t, append(append(append(chunk(dv), 0, 0, 0, 1), chunk([]byte("T x 4 6 SINGLE_TAG"))...), chunk([]byte("[]"))...)),
		"topic_short":    compressedRaw(t, append(append(append(chunk(dv), 0, 0, 0, 1), chunk([]byte("T 4"))...), chunk([]byte("[]"))...)),
		"topic_neg_nums": compressedRaw(t, append(append(append(chunk(dv), 0, 0, 0, 1), chunk([]byte("T -4 -4 6 SINGLE_TAG"))...), chunk([]byte("[]"))...)),
		"no_filter_list": compressedRaw(t, append(append(chunk(dv), 0, 0, 0, 1), chunk([]byte("T 4 4 6 SINGLE_TAG"))...)),
		"truncated":      compressedRaw(t, append(chunk(dv), 0, 0))[:8],
	}
	for name, b := range compressed {
		errCase("register/compressed_"+name, regWith(b, "compressed", "true", "bodyCrc32", "0"))
	}

	// UNREGISTER_BROKER.
	unreg := map[string]string{"brokerName": "broker-m", "brokerAddr": "127.0.0.1:10911", "clusterName": "DefaultCluster", "brokerId": "0"}
	cs = append(cs, fieldCases("unregister", remoting.CodeUnregisterBroker, unreg, nil,
		[]field{{"brokerName", fStr}, {"clusterName", fStr}, {"brokerAddr", fStr}, {"brokerId", fI64}},
		[]field{{"brokerId", fI64}})...)
	errCase("unregister/broker_id_negative", remoting.NewRequest(remoting.CodeUnregisterBroker, withExt(unreg, "brokerId", "-1"), nil))
	errCase("unregister/addr_no_port", remoting.NewRequest(remoting.CodeUnregisterBroker, withExt(unreg, "brokerAddr", "host"), nil))
	errCase("unregister/empty_name", remoting.NewRequest(remoting.CodeUnregisterBroker, withExt(unreg, "brokerName", ""), nil))

	// Topic requests.
	errCase("route/missing_topic", remoting.NewRequest(remoting.CodeGetRouteInfoByTopic, map[string]string{}, nil))
	errCase("route/unknown_topic", remoting.NewRequest(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": "NOPE"}, nil))
	errCase("delete/missing_topic", remoting.NewRequest(remoting.CodeDeleteTopicInNameServer, map[string]string{}, nil))
	for name, topic := range badTopics {
		errCase("route/topic_"+name, remoting.NewRequest(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": topic}, nil))
		errCase("delete/topic_"+name, remoting.NewRequest(remoting.CodeDeleteTopicInNameServer, map[string]string{"topic": topic}, nil))
	}

	// QUERY_DATA_VERSION.
	errCase("data_version/missing_addr", remoting.NewRequest(remoting.CodeQueryDataVersion, map[string]string{}, dv))
	for name, b := range map[string]string{"empty": "", "broken": `{"counter":`, "array": `[1]`, "wrong_types": `{"counter":"x"}`} {
		errCase("data_version/body_"+name, remoting.NewRequest(remoting.CodeQueryDataVersion,
			map[string]string{"brokerAddr": "127.0.0.1:10911"}, []byte(b)))
	}

	// Oneway flag on requests that need a reply.
	oneway := func(name string, code int16, ext map[string]string, b []byte) {
		r := remoting.NewRequest(code, ext, b)
		r.Flag = remoting.FlagOneway
		cs = append(cs, mcase{name: "oneway/" + name, req: r, want: wantNoReply})
	}
	oneway("register", remoting.CodeRegisterBroker, RegisterRequest("broker-ow", "127.0.0.1:10999", "DefaultCluster", 0, body).ExtFields, body)
	oneway("unregister", remoting.CodeUnregisterBroker, withExt(unreg, "brokerName", "broker-ow", "brokerAddr", "127.0.0.1:10999"), nil)
	oneway("route", remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": "TopicTest"}, nil)
	oneway("cluster_info", remoting.CodeGetBrokerClusterInfo, nil, nil)
	oneway("topic_list", remoting.CodeGetAllTopicListFromNameServer, nil, nil)
	oneway("delete", remoting.CodeDeleteTopicInNameServer, map[string]string{"topic": "NOT_THERE"}, nil)
	oneway("data_version", remoting.CodeQueryDataVersion, map[string]string{"brokerAddr": "127.0.0.1:10911"}, dv)
	oneway("malformed_register", remoting.CodeRegisterBroker, map[string]string{}, nil)

	for _, code := range unknownCodes {
		errCase(fmt.Sprintf("unknown_code/%d", code), remoting.NewRequest(code, map[string]string{"topic": "TopicTest"}, []byte("?")))
	}
	cs = append(cs, frameCases(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": "TopicTest"})...)
	return cs
}

// TestMalformedRequestMatrix is T15 for the name server: a registered
// broker keeps re-registering meanwhile and its route stays served.
func TestMalformedRequestMatrix(t *testing.T) {
	pl := &panicLog{next: quietLogger().Handler(), n: new(atomic.Int64)}
	ts := startServer(t, Options{Logger: slog.New(pl)})
	addr := ts.srv.Addr()
	b := broker{name: "broker-a", addr: "127.0.0.1:10911", topics: defaultTopics(), dv: DataVersion{Counter: 1, Timestamp: 1}}
	ts.register(nil, b)

	// A healthy broker re-registering and a client reading routes, on
	// their own connection, for the whole matrix.
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := newClient()
		defer c.Close()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			req := b.request(t)
			if i%2 == 1 {
				req = remoting.NewRequest(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": "TopicTest"}, nil)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, err := c.Invoke(ctx, addr, req)
			cancel()
			if err == nil && (resp.Code != remoting.RespSuccess || (i%2 == 1 && !bytes.Contains(resp.Body, []byte(b.addr)))) {
				err = fmt.Errorf("code %d %s", resp.Code, resp.Remark)
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				continue
			}
			ok.Add(1)
		}
	}()

	cases := nameServerCases(t)
	valid := func() *remoting.Command {
		return remoting.NewRequest(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": "TopicTest"}, nil)
	}
	began := time.Now()
	runMatrix(t, matrixTarget{addr: addr, valid: valid}, cases)
	took := time.Since(began)
	// Nothing the matrix sent changed the real broker's route. (Checked
	// before the healthy client closes: its connection carries the
	// registration, and closing it drops the broker.)
	rd := ts.mustRoute("TopicTest")
	if len(rd.BrokerDatas) != 1 || rd.BrokerDatas[0].BrokerName != "broker-a" {
		t.Errorf("route of TopicTest changed: %+v", rd)
	}
	close(stop)
	wg.Wait()
	t.Logf("T15 name server: %d cases in %v; healthy client made %d requests, %d errors; panics logged: %d",
		len(cases), took.Round(time.Millisecond), ok.Load(), failed.Load(), pl.n.Load())
	if ok.Load() == 0 {
		t.Error("the healthy client made no progress during the matrix")
	}
	if failed.Load() != 0 {
		t.Errorf("the healthy client had %d errors, first: %v", failed.Load(), firstErr.Load())
	}
	if pl.n.Load() != 0 {
		t.Errorf("%d panics logged", pl.n.Load())
	}
}
