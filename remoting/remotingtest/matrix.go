// Package remotingtest drives a remoting server with malformed input
// (RELIABILITY T15): a connection written frame by frame, frame- and
// header-level damage cases, per-field cases generated from a request's
// header, and a runner that checks every case ends in an error response
// with a remark (after which the same connection still serves) or in the
// connection being closed (after which a new one serves). The broker and
// name server tests share it.
package remotingtest

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
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfmq/wharf/remoting"
)

// Outcome is what a matrix case must produce.
type Outcome int

const (
	WantError        Outcome = iota // response, code != 0, remark != ""
	WantNoReply                     // oneway: nothing comes back
	WantClose                       // the server closes the connection
	WantErrorOrClose                // header damage the decoder may or may not survive
)

// Case is one matrix case: a request sent with the remoting encoder, or
// raw bytes written to a fresh connection.
type Case struct {
	Name string
	Req  *remoting.Command
	Raw  []byte
	Want Outcome
	// HalfClose: after Raw, the test closes its write side (a peer that
	// dies mid-frame).
	HalfClose bool
}

// ReplyTimeout is T15's bound on every answer and every close.
const ReplyTimeout = time.Second

// PanicLog counts log records that report a recovered panic and keeps the
// first few of them, attributes (the stack) included, for the failure
// message.
type PanicLog struct {
	N    *atomic.Int64 // shared by the handlers WithAttrs derives
	Next slog.Handler
	kept *keptPanics
}

type keptPanics struct {
	mu    sync.Mutex
	lines []string
}

// keepPanics is how many panic records Report shows.
const keepPanics = 4

// NewPanicLog counts panic reports while passing records on to next.
func NewPanicLog(next slog.Handler) *PanicLog {
	return &PanicLog{N: new(atomic.Int64), Next: next, kept: &keptPanics{}}
}

// Enabled implements slog.Handler: every record is looked at.
func (h *PanicLog) Enabled(ctx context.Context, l slog.Level) bool { return true }

// Handle counts the record if it reports a panic and passes it on.
func (h *PanicLog) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		h.N.Add(1)
		var sb strings.Builder
		sb.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&sb, "\n  %s=%v", a.Key, a.Value)
			return true
		})
		h.kept.mu.Lock()
		if len(h.kept.lines) < keepPanics {
			h.kept.lines = append(h.kept.lines, sb.String())
		}
		h.kept.mu.Unlock()
	}
	if h.Next.Enabled(ctx, r.Level) {
		return h.Next.Handle(ctx, r)
	}
	return nil
}

// Report returns the first panic records seen, one per paragraph.
func (h *PanicLog) Report() string {
	h.kept.mu.Lock()
	defer h.kept.mu.Unlock()
	return strings.Join(h.kept.lines, "\n")
}

// WithAttrs implements slog.Handler, sharing the count.
func (h *PanicLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &PanicLog{Next: h.Next.WithAttrs(as), N: h.N, kept: h.kept}
}

// WithGroup implements slog.Handler, sharing the count.
func (h *PanicLog) WithGroup(g string) slog.Handler {
	return &PanicLog{Next: h.Next.WithGroup(g), N: h.N, kept: h.kept}
}

// RawConn is a connection the test drives frame by frame.
type RawConn struct {
	nc      net.Conn
	fr      *remoting.FrameReader
	oneways map[int32]bool // opaques that must never be answered
}

var rawOpaque atomic.Int32

// Dial connects to addr and closes the connection at the end of the test.
func Dial(t *testing.T, addr string) *RawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &RawConn{nc: nc, fr: remoting.NewFrameReader(bufio.NewReader(nc)), oneways: map[int32]bool{}}
}

// Send encodes req with a fresh opaque, keeping its flag.
func (rc *RawConn) Send(req *remoting.Command) (int32, error) {
	req.Opaque = rawOpaque.Add(1)
	if req.Language == "" {
		req.Language, req.Version = "GO", 317
	}
	b, err := remoting.EncodeFrame(req)
	if err != nil {
		return 0, err
	}
	_ = rc.nc.SetWriteDeadline(time.Now().Add(ReplyTimeout))
	_, err = rc.nc.Write(b)
	return req.Opaque, err
}

// Await reads frames until the response to opaque, skipping requests the
// server sends (notifications) and failing on a reply to a oneway request.
func (rc *RawConn) Await(opaque int32, d time.Duration) (*remoting.Command, error) {
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

// Closed reports whether the server closes the connection within d
// (reading and dropping anything it still sends).
func (rc *RawConn) Closed(d time.Duration) error {
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

// CheckError applies the per-case rule to a response.
func CheckError(resp *remoting.Command) error {
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

// Target is the server under test and the request that proves a
// connection still serves.
type Target struct {
	Addr  string
	Valid func() *remoting.Command
}

// healthy sends the target's valid request on rc and checks it succeeds within ReplyTimeout.
func (mt Target) healthy(rc *RawConn) error {
	op, err := rc.Send(mt.Valid())
	if err != nil {
		return fmt.Errorf("valid request: %w", err)
	}
	resp, err := rc.Await(op, ReplyTimeout)
	if err != nil {
		return fmt.Errorf("valid request after the case: %w", err)
	}
	if resp.Code != remoting.RespSuccess {
		return fmt.Errorf("valid request after the case: code %d %q", resp.Code, resp.Remark)
	}
	return nil
}

// RunMatrix runs every case: request-level ones on one shared connection
// (it must keep serving), raw ones each on a fresh connection.
func RunMatrix(t *testing.T, mt Target, cases []Case) {
	t.Helper()
	shared := Dial(t, mt.Addr)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			if c.Raw != nil {
				runRaw(t, mt, c)
				return
			}
			start := time.Now()
			op, err := shared.Send(c.Req)
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			switch c.Want {
			case WantNoReply:
				shared.oneways[op] = true
			case WantError:
				resp, err := shared.Await(op, ReplyTimeout)
				if err != nil {
					t.Fatalf("no answer within %v: %v", ReplyTimeout, err)
				}
				if err := CheckError(resp); err != nil {
					t.Errorf("%v (after %v)", err, time.Since(start))
				}
			default:
				t.Fatalf("request-level case with Outcome %d", c.Want)
			}
			if err := mt.healthy(shared); err != nil {
				t.Errorf("%v", err)
				shared = Dial(t, mt.Addr) // keep the rest of the matrix going
			}
		})
	}
}

func runRaw(t *testing.T, mt Target, c Case) {
	rc := Dial(t, mt.Addr)
	_ = rc.nc.SetWriteDeadline(time.Now().Add(ReplyTimeout))
	if _, err := rc.nc.Write(c.Raw); err != nil && c.Want != WantClose {
		t.Fatalf("write: %v", err)
	}
	if c.HalfClose {
		_ = rc.nc.(*net.TCPConn).CloseWrite()
	}
	switch c.Want {
	case WantClose:
		if err := rc.Closed(ReplyTimeout); err != nil {
			t.Error(err)
		}
	case WantErrorOrClose:
		// The damaged frame carried opaque 0 when it decoded at all.
		resp, err := rc.Await(0, ReplyTimeout)
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err):
			// closed: fine
		case err != nil:
			t.Errorf("neither an answer nor a close within %v: %v", ReplyTimeout, err)
		default:
			if err := CheckError(resp); err != nil {
				t.Error(err)
			}
			if err := mt.healthy(rc); err != nil {
				t.Error(err)
			}
		}
	default:
		t.Fatalf("raw case with Outcome %d", c.Want)
	}
	if err := mt.healthy(Dial(t, mt.Addr)); err != nil {
		t.Errorf("new connection after the case: %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe") ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, remoting.ErrBadFrame))
}

// RawFrame builds a frame by hand: length field, mark, header, body.
func RawFrame(length int32, st byte, headerLen uint32, header, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(length))
	b = binary.BigEndian.AppendUint32(b, uint32(st)<<24|headerLen&0xFFFFFF)
	b = append(b, header...)
	return append(b, body...)
}

// GoodFrame wraps a header with correct lengths.
func GoodFrame(st byte, header, body []byte) []byte {
	return RawFrame(int32(4+len(header)+len(body)), st, uint32(len(header)), header, body)
}

// FrameCases are the frame- and header-level cases both servers share.
func FrameCases(validCode int16, validExt map[string]string) []Case {
	hdr := func(s string) []byte { return []byte(s) }
	okHeader := remoting.AppendJSONHeader(nil, &remoting.Command{Code: validCode, Language: "GO", Version: 317, ExtFields: validExt})
	cs := []Case{
		{Name: "frame/length_0", Raw: RawFrame(0, 0, 0, nil, nil), Want: WantClose},
		{Name: "frame/length_1", Raw: binary.BigEndian.AppendUint32(nil, 1), Want: WantClose},
		{Name: "frame/length_3", Raw: binary.BigEndian.AppendUint32(nil, 3), Want: WantClose},
		{Name: "frame/length_-1", Raw: RawFrame(-1, 0, 0, nil, nil), Want: WantClose},
		{Name: "frame/length_minint", Raw: RawFrame(math.MinInt32, 0, 0, nil, nil), Want: WantClose},
		{Name: "frame/length_16MiB", Raw: RawFrame(16<<20, 0, 10, nil, nil), Want: WantClose},
		{Name: "frame/length_1GiB", Raw: RawFrame(1<<30, 0, 10, nil, nil), Want: WantClose},
		{Name: "frame/length_maxint", Raw: RawFrame(math.MaxInt32, 0, 10, nil, nil), Want: WantClose},
		{Name: "frame/header_len_over_frame", Raw: RawFrame(8, 0, 100, hdr("{}}}"), nil), Want: WantClose},
		{Name: "frame/header_len_max", Raw: RawFrame(int32(4+len(okHeader)), 0, 0xFFFFFF, okHeader, nil), Want: WantClose},
		{Name: "frame/header_len_1_over", Raw: RawFrame(int32(4+len(okHeader)), 0, uint32(len(okHeader)+1), okHeader, nil), Want: WantClose},
		{Name: "header/empty", Raw: GoodFrame(0, nil, nil), Want: WantClose},
		{Name: "header/garbage", Raw: GoodFrame(0, hdr("\x00\xff garbage \x01"), nil), Want: WantClose},
		{Name: "header/not_json", Raw: GoodFrame(0, hdr("hello, broker"), nil), Want: WantClose},
		{Name: "header/json_truncated", Raw: GoodFrame(0, okHeader[:len(okHeader)/2], nil), Want: WantClose},
		{Name: "header/json_array", Raw: GoodFrame(0, hdr(`[1,2,3]`), nil), Want: WantClose},
		{Name: "header/json_trailing_garbage", Raw: GoodFrame(0, append(append([]byte{}, okHeader...), "xyz"...), nil), Want: WantClose},
		{Name: "header/json_code_string", Raw: GoodFrame(0, hdr(`{"code":"ten","opaque":0,"flag":0}`), nil), Want: WantErrorOrClose},
		{Name: "header/json_code_overflow", Raw: GoodFrame(0, hdr(`{"code":99999999,"opaque":0,"flag":0}`), nil), Want: WantErrorOrClose},
		{Name: "header/json_ext_not_object", Raw: GoodFrame(0, hdr(`{"code":30,"opaque":0,"flag":0,"extFields":[1]}`), nil), Want: WantErrorOrClose},
		{Name: "header/json_deep_nesting", Raw: GoodFrame(0, hdr(`{"code":30,"x":`+strings.Repeat("[", 10000)+`}`), nil), Want: WantErrorOrClose},
		{Name: "header/binary_garbage", Raw: GoodFrame(1, hdr("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"), nil), Want: WantClose},
		{Name: "header/binary_short", Raw: GoodFrame(1, hdr("\x00\x1e"), nil), Want: WantClose},
		{Name: "serialize/type_2", Raw: GoodFrame(2, okHeader, nil), Want: WantClose},
		{Name: "serialize/type_127", Raw: GoodFrame(0x7f, okHeader, nil), Want: WantClose},
		{Name: "serialize/type_255", Raw: GoodFrame(0xff, okHeader, nil), Want: WantClose},
		{Name: "frame/truncated_then_eof", Raw: GoodFrame(0, okHeader, nil)[:10], Want: WantClose, HalfClose: true},
		{Name: "frame/length_only_then_eof", Raw: binary.BigEndian.AppendUint32(nil, 100), Want: WantClose, HalfClose: true},
	}
	return cs
}

// UnknownCodes are 20 request codes neither server implements.
var UnknownCodes = []int16{math.MinInt16, -1, 0, 1, 9, 13, 16, 18, 20, 22, 27, 36, 37, 99, 107, 999, 1000, 4000, 30000, math.MaxInt16}

// Field kinds of a request header.
const (
	FStr = iota
	FI32
	FI64
)

// Str names a string header field.
func Str(key string) Field { return Field{Key: key, Kind: FStr} }

// I32 names an int32 header field.
func I32(key string) Field { return Field{Key: key, Kind: FI32} }

// I64 names an int64 header field.
func I64(key string) Field { return Field{Key: key, Kind: FI64} }

// Field is a request header field and its kind (FStr, FI32, FI64).
type Field struct {
	Key  string
	Kind int
}

// FieldCases generates, for a request whose valid ext is base and whose
// required fields are req, a case per missing required field and per
// malformed number (present numeric fields, required or not).
func FieldCases(prefix string, code int16, base map[string]string, body []byte, req []Field, numeric []Field) []Case {
	var cs []Case
	mk := func(name string, edit func(map[string]string)) {
		ext := maps.Clone(base)
		edit(ext)
		cs = append(cs, Case{Name: prefix + "/" + name, Req: remoting.NewRequest(code, ext, body), Want: WantError})
	}
	for _, f := range req {
		mk("missing_"+f.Key, func(m map[string]string) { delete(m, f.Key) })
	}
	bad := map[string]string{"nonnumeric": "abc", "huge": "99999999999999999999", "float": "1.5", "empty": "", "hex": "0x10"}
	for _, f := range numeric {
		for name, v := range bad {
			mk(f.Key+"_"+name, func(m map[string]string) { m[f.Key] = v })
		}
		if f.Kind == FI32 {
			mk(f.Key+"_int32_overflow", func(m map[string]string) { m[f.Key] = "2147483648" })
		}
	}
	return cs
}

// WithExt returns a copy of base with the key/value pairs kv set.
func WithExt(base map[string]string, kv ...string) map[string]string {
	m := maps.Clone(base)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// BadTopics are names every topic-taking request must refuse.
var BadTopics = map[string]string{
	"blank": "", "spaces": "   ", "len128": strings.Repeat("a", 128), "len300": strings.Repeat("t", 300),
	"space_inside": "bad topic", "slash": "a/b", "dot": "a.b", "unicode": "tópico", "nul": "x\x00y", "newline": "x\ny",
}
