package remoting

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfmq/wharf/internal/testkit/loglines"
)

const (
	codeEcho  int16 = 1001 // replies with the request's ext and body
	codeSlow  int16 = 1002 // replies after release is closed
	codeHold  int16 = 1003 // returns nil; the test replies later
	codePanic int16 = 1004
)

func testLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func echo(_ context.Context, _ *Conn, req *Command) *Command {
	resp := NewResponse(req, RespSuccess, "")
	for k, v := range req.ExtFields {
		resp.SetExt(k, v)
	}
	resp.Body = req.Body
	return resp
}

// startServer starts a server on 127.0.0.1:0 with the echo handler; it is
// closed when the test ends.
func startServer(t *testing.T, opts ServerOptions) (*Server, *loglines.Lines) {
	t.Helper()
	logs := &loglines.Lines{}
	if opts.Logger == nil {
		opts.Logger = testLogger(logs)
	}
	s := NewServer(opts)
	s.Handle(codeEcho, echo)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s, logs
}

func newClient(t *testing.T) *Client {
	t.Helper()
	c := NewClient(ClientOptions{Logger: testLogger(io.Discard)})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustEcho(t *testing.T, c *Client, addr string) {
	t.Helper()
	resp, err := c.Invoke(ctxTimeout(t, 5*time.Second), addr, NewRequest(codeEcho, map[string]string{"x": "y"}, nil))
	if err != nil {
		t.Fatalf("echo: %v", err)
	}
	if resp.Code != RespSuccess || resp.ExtFields["x"] != "y" {
		t.Fatalf("echo reply %v", resp)
	}
}

func TestPipelinedRequestsAnsweredOutOfOrder(t *testing.T) {
	release := make(chan struct{})
	s, _ := startServer(t, ServerOptions{})
	s.Handle(codeSlow, func(ctx context.Context, _ *Conn, req *Command) *Command {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return NewResponse(req, RespSuccess, "slow")
	})
	c := newClient(t)

	slowDone := make(chan error, 1)
	go func() {
		resp, err := c.Invoke(ctxTimeout(t, 10*time.Second), s.Addr(), NewRequest(codeSlow, nil, nil))
		if err == nil && resp.Remark != "slow" {
			err = fmt.Errorf("slow reply %v", resp)
		}
		slowDone <- err
	}()
	// The fast requests share the connection with the parked slow one.
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				n := strconv.Itoa(g*1000 + i)
				body := bytes.Repeat([]byte(n), g*300) // some bodies take the writev path
				resp, err := c.Invoke(ctxTimeout(t, 5*time.Second), s.Addr(), NewRequest(codeEcho, map[string]string{"n": n}, body))
				switch {
				case err != nil:
					errs <- err
				case resp.ExtFields["n"] != n || !bytes.Equal(resp.Body, body):
					errs <- fmt.Errorf("request %s got reply for %s", n, resp.ExtFields["n"])
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	select {
	case err := <-slowDone:
		t.Fatalf("slow request finished before release: %v", err)
	default:
	}
	if n := len(s.Conns()); n != 1 {
		t.Fatalf("%d server connections, want 1 shared", n)
	}
	close(release)
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
}

func TestUnknownCode(t *testing.T) {
	s, _ := startServer(t, ServerOptions{})
	resp, err := newClient(t).Invoke(ctxTimeout(t, 5*time.Second), s.Addr(), NewRequest(999, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != RespRequestCodeNotSupported || resp.Remark != "request code 999 not supported" ||
		!resp.IsResponse() || resp.Version != DefaultVersion || resp.Language != DefaultLanguage {
		t.Fatalf("reply %+v", resp)
	}
}

func TestBinaryRequestGetsBinaryReply(t *testing.T) {
	s, _ := startServer(t, ServerOptions{Version: 401})
	req := NewRequest(codeEcho, map[string]string{"k": "v"}, []byte("b"))
	req.SerializeType = SerializeRocketMQ
	resp, err := newClient(t).Invoke(ctxTimeout(t, 5*time.Second), s.Addr(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.SerializeType != SerializeRocketMQ || resp.ExtFields["k"] != "v" || string(resp.Body) != "b" || resp.Version != 401 {
		t.Fatalf("reply %+v", resp)
	}
}

func TestHandlerPanicRepliesSystemError(t *testing.T) {
	s, logs := startServer(t, ServerOptions{})
	s.Handle(codePanic, func(context.Context, *Conn, *Command) *Command { panic("boom") })
	c := newClient(t)
	resp, err := c.Invoke(ctxTimeout(t, 5*time.Second), s.Addr(), NewRequest(codePanic, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != RespSystemError || !strings.Contains(resp.Remark, "boom") {
		t.Fatalf("reply %+v", resp)
	}
	mustEcho(t, c, s.Addr()) // same connection still serves
	if !strings.Contains(logs.String(), "handler panic") {
		t.Fatalf("panic not logged: %s", logs)
	}
}

// TestHandlerPanicRemarkIsOneLine: a panic value that spans lines (Pebble's
// corruption panic carried a multi-line stack trace) reaches the client as
// one short line; the whole value is in the broker log.
func TestHandlerPanicRemarkIsOneLine(t *testing.T) {
	s, logs := startServer(t, ServerOptions{})
	long := "on-disk corruption: meta/000007.sst: crc32c checksum mismatch\n\t(1) path: meta/000007.sst\n  -- stack trace:\n  | pebble.(*DB).Get"
	s.Handle(codePanic, func(context.Context, *Conn, *Command) *Command { panic(long) })
	c := newClient(t)
	resp, err := c.Invoke(ctxTimeout(t, 5*time.Second), s.Addr(), NewRequest(codePanic, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != RespSystemError || strings.ContainsAny(resp.Remark, "\r\n") || len(resp.Remark) > 300 ||
		!strings.Contains(resp.Remark, "meta/000007.sst: crc32c checksum mismatch") {
		t.Fatalf("remark %q", resp.Remark)
	}
	if !strings.Contains(logs.String(), "pebble.(*DB).Get") {
		t.Fatalf("the whole panic value is not logged: %s", logs)
	}
	s.Handle(codePanic, func(context.Context, *Conn, *Command) *Command { panic(strings.Repeat("x", 5000)) })
	if resp, err = c.Invoke(ctxTimeout(t, 5*time.Second), s.Addr(), NewRequest(codePanic, nil, nil)); err != nil {
		t.Fatal(err)
	}
	if len(resp.Remark) > 300 {
		t.Fatalf("remark of %d bytes", len(resp.Remark))
	}
}

func TestReplyLaterAndMaxInflight(t *testing.T) {
	held := make(chan *Command, 1)
	var heldConn *Conn
	block := make(chan struct{})
	s, _ := startServer(t, ServerOptions{MaxInflight: 1})
	s.Handle(codeHold, func(_ context.Context, conn *Conn, req *Command) *Command {
		heldConn = conn
		held <- req
		return nil
	})
	slowParked := make(chan struct{})
	s.Handle(codeSlow, func(ctx context.Context, _ *Conn, req *Command) *Command {
		close(slowParked)
		select {
		case <-block:
		case <-ctx.Done():
		}
		return NewResponse(req, RespSuccess, "")
	})
	c := newClient(t)

	got := make(chan *Command, 1)
	go func() {
		resp, _ := c.Invoke(ctxTimeout(t, 5*time.Second), s.Addr(), NewRequest(codeHold, nil, nil))
		got <- resp
	}()
	req := <-held
	// A handler that returned nil no longer counts against MaxInflight.
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		_, _ = c.Invoke(ctxTimeout(t, 5*time.Second), s.Addr(), NewRequest(codeSlow, nil, nil))
	}()
	<-slowParked
	resp, err := c.Invoke(ctxTimeout(t, 5*time.Second), s.Addr(), NewRequest(codeEcho, nil, nil))
	if err != nil || resp.Code != RespSystemBusy {
		t.Fatalf("with one handler in flight and MaxInflight 1: %v %v, want SYSTEM_BUSY", resp, err)
	}
	close(block)
	<-slowDone

	if err := heldConn.Reply(NewResponse(req, RespPullNotFound, "later")); err != nil {
		t.Fatal(err)
	}
	if resp := <-got; resp == nil || resp.Code != RespPullNotFound || resp.Remark != "later" {
		t.Fatalf("held reply %+v", resp)
	}
}

func TestServerInvokesClient(t *testing.T) {
	connected := make(chan *Conn, 1)
	closed := make(chan *Conn, 1)
	s, _ := startServer(t, ServerOptions{
		OnConnect: func(c *Conn) { connected <- c },
		OnClose:   func(c *Conn) { closed <- c },
	})
	c := newClient(t)
	notified := make(chan *Command, 1)
	c.Handle(CodeGetConsumerRunningInfo, func(_ context.Context, _ *Conn, req *Command) *Command {
		resp := NewResponse(req, RespSuccess, "")
		resp.Body = []byte("running:" + req.ExtFields["consumerGroup"])
		return resp
	})
	c.Handle(CodeNotifyConsumerIDsChanged, func(_ context.Context, _ *Conn, req *Command) *Command {
		notified <- req
		return NewResponse(req, RespSuccess, "") // oneway: must not be sent
	})
	mustEcho(t, c, s.Addr())
	sc := <-connected
	sc.SetValue("client-1")
	if sc.Value() != "client-1" || sc.ID() == 0 || sc.RemoteAddr() == "" || !sc.RemoteAddrPort().IsValid() {
		t.Fatalf("conn accessors: %v %d %q", sc.Value(), sc.ID(), sc.RemoteAddr())
	}

	resp, err := sc.Invoke(ctxTimeout(t, 5*time.Second), NewRequest(CodeGetConsumerRunningInfo, map[string]string{"consumerGroup": "CG"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != "running:CG" || !resp.IsResponse() {
		t.Fatalf("client reply %+v", resp)
	}

	if err := sc.InvokeOneway(NewRequest(CodeNotifyConsumerIDsChanged, map[string]string{"consumerGroup": "CG"}, nil)); err != nil {
		t.Fatal(err)
	}
	if req := <-notified; !req.IsOneway() || req.ExtFields["consumerGroup"] != "CG" {
		t.Fatalf("notify %+v", req)
	}

	// Server-initiated invoke of a code the client does not serve.
	resp, err = sc.Invoke(ctxTimeout(t, 5*time.Second), NewRequest(CodeConsumeMessageDirectly, nil, []byte{1}))
	if err != nil || resp.Code != RespRequestCodeNotSupported {
		t.Fatalf("unsupported on client: %v %v", resp, err)
	}

	_ = c.Close()
	if got := <-closed; got != sc {
		t.Fatal("OnClose got another conn")
	}
	if _, err := sc.Invoke(ctxTimeout(t, 5*time.Second), NewRequest(1, nil, nil)); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("invoke on closed conn: %v", err)
	}
}

// rawConn is a hand-driven client connection.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	fr *FrameReader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &rawConn{t: t, nc: nc, fr: NewFrameReader(bufio.NewReader(nc))}
}

func (r *rawConn) send(c *Command) {
	r.t.Helper()
	b, err := EncodeFrame(c)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) read() (*Command, error) {
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	return r.fr.ReadCommand()
}

// expectClosed waits until the server closes the connection.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, r.nc)
	if err != nil {
		r.t.Fatalf("server did not close the connection: %v", err)
	}
}

func TestOnewayGetsNoReply(t *testing.T) {
	s, _ := startServer(t, ServerOptions{})
	r := dialRaw(t, s.Addr())
	r.send(&Command{Code: codeEcho, Opaque: 1, Flag: FlagOneway, Language: "GO"})
	r.send(&Command{Code: 999, Opaque: 2, Flag: FlagOneway, Language: "GO"}) // unknown and oneway: silent too
	r.send(&Command{Code: codeEcho, Opaque: 3, Language: "GO"})
	resp, err := r.read()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Opaque != 3 {
		t.Fatalf("first reply has opaque %d, want 3: oneway requests were answered", resp.Opaque)
	}
}

func TestBadFramesCloseOnlyThatConnection(t *testing.T) {
	s, logs := startServer(t, ServerOptions{})
	good := newClient(t)
	mustEcho(t, good, s.Addr())

	prefix := func(length, mark uint32) []byte {
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, length), mark)
	}
	okFrame, _ := EncodeFrame(&Command{Code: codeEcho, Opaque: 1})
	cases := map[string][]byte{
		"length over 16 MiB":     prefix(MaxFrameSize+1, 0),
		"header length > frame":  append(prefix(20, 100), make([]byte, 16)...),
		"garbage json":           append(prefix(4+5, 5), "{nope"...),
		"unknown serialize type": append(prefix(4+2, 7<<24|2), "{}"...),
		"bad binary header":      append(prefix(4+3, 1<<24|3), 1, 2, 3),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			r := dialRaw(t, s.Addr())
			// A good frame first, so the bad one arrives mid-stream.
			if _, err := r.nc.Write(okFrame); err != nil {
				t.Fatal(err)
			}
			if resp, err := r.read(); err != nil || resp.Opaque != 1 {
				t.Fatalf("good frame before the bad one: %v %v", resp, err)
			}
			if _, err := r.nc.Write(in); err != nil {
				t.Fatal(err)
			}
			r.expectClosed()
			mustEcho(t, good, s.Addr())
		})
	}
	t.Run("truncated then close", func(t *testing.T) {
		r := dialRaw(t, s.Addr())
		_, _ = r.nc.Write(okFrame[:len(okFrame)-3])
		_ = r.nc.(*net.TCPConn).CloseWrite()
		r.expectClosed()
		mustEcho(t, good, s.Addr())
	})
	if n := strings.Count(logs.String(), "closing connection after bad frame"); n != len(cases)+1 {
		t.Fatalf("%d bad-frame log lines, want one per bad connection (%d):\n%s", n, len(cases)+1, logs)
	}
}

func TestIdleTimeout(t *testing.T) {
	s, logs := startServer(t, ServerOptions{IdleTimeout: 50 * time.Millisecond})
	r := dialRaw(t, s.Addr())
	r.expectClosed()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "idle") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "idle") {
		t.Fatalf("idle close not logged: %s", logs)
	}
}

func TestClientReconnectsAfterFailure(t *testing.T) {
	s, _ := startServer(t, ServerOptions{})
	c := newClient(t)
	ctx := ctxTimeout(t, 5*time.Second)
	first, err := c.Conn(ctx, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	// The dial can return before the server has registered its side.
	for len(s.Conns()) == 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	for _, sc := range s.Conns() {
		_ = sc.Close()
	}
	select {
	case <-first.Done():
	case <-ctx.Done():
		t.Fatal("client did not notice the server closing the connection")
	}
	mustEcho(t, c, s.Addr())
	second, err := c.Conn(ctx, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Fatal("closed connection reused")
	}

	// A dead address fails fast, and the failure is not cached.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	if _, err := c.Invoke(ctx, dead, NewRequest(codeEcho, nil, nil)); err == nil {
		t.Fatal("invoke to a closed port succeeded")
	}
	if err := c.InvokeOneway(dead, NewRequest(codeEcho, nil, nil)); err == nil {
		t.Fatal("oneway to a closed port succeeded")
	}
}

func TestInvokeContextDeadline(t *testing.T) {
	s, _ := startServer(t, ServerOptions{})
	s.Handle(codeHold, func(context.Context, *Conn, *Command) *Command { return nil })
	c := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Invoke(ctx, s.Addr(), NewRequest(codeHold, nil, nil))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	mustEcho(t, c, s.Addr()) // the connection survives a timed-out invoke
}

func TestCloseStopsEverything(t *testing.T) {
	logs := &loglines.Lines{}
	s := NewServer(ServerOptions{Logger: testLogger(logs)})
	parked := make(chan struct{}, 1)
	s.Handle(codeSlow, func(ctx context.Context, _ *Conn, req *Command) *Command {
		parked <- struct{}{}
		<-ctx.Done() // a long poll that only ends with the server
		return NewResponse(req, RespPullNotFound, "")
	})
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	c := NewClient(ClientOptions{Logger: testLogger(io.Discard)})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Invoke(context.Background(), s.Addr(), NewRequest(codeSlow, nil, nil))
		errc <- err
	}()
	<-parked
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrConnClosed) {
		t.Fatalf("pending invoke after server close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := s.Start("127.0.0.1:0"); err == nil {
		t.Fatal("Start after Close succeeded")
	}
	_ = c.Close()
	if _, err := c.Invoke(context.Background(), "127.0.0.1:1", NewRequest(1, nil, nil)); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("invoke after client close: %v", err)
	}
	// goleak in TestMain checks that nothing is left running.
}

// TestReaderWaitsLetsOtherRepliesOut: an inline handler that blocks after
// ReaderWaits does not hold back the reply of a request handled in its own
// goroutine that arrived in the same read; without ReaderWaits it would
// wait for the inline handler.
func TestReaderWaitsLetsOtherRepliesOut(t *testing.T) {
	const codeBlock int16 = 1005
	s, _ := startServer(t, ServerOptions{})
	release := make(chan struct{})
	s.HandleInline(codeBlock, func(_ context.Context, c *Conn, req *Command) *Command {
		c.ReaderWaits()
		<-release
		return NewResponse(req, RespSuccess, "")
	})
	r := dialRaw(t, s.Addr())
	echoReq := NewRequest(codeEcho, nil, nil)
	echoReq.Opaque = 1
	blockReq := NewRequest(codeBlock, nil, nil)
	blockReq.Opaque = 2
	b1, _ := EncodeFrame(echoReq)
	b2, _ := EncodeFrame(blockReq)
	if _, err := r.nc.Write(append(b1, b2...)); err != nil { // one write: both in the reader's buffer
		t.Fatal(err)
	}
	resp, err := r.read()
	close(release)
	if err != nil {
		t.Fatalf("no reply while the inline handler blocks: %v", err)
	}
	if resp.Opaque != 1 {
		t.Fatalf("first reply has opaque %d, want the echo's 1", resp.Opaque)
	}
	if resp, err = r.read(); err != nil || resp.Opaque != 2 {
		t.Fatalf("second reply: %v, %v", resp, err)
	}
}
