package remoting

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// replyBodies queues n replies of size bytes each on conn with
// ReplyNoWait, opaques 1..n, failing if any call waits: nobody reads them
// yet.
func replyBodies(t *testing.T, conn *Conn, n, size int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		resp := &Command{Code: RespSuccess, Opaque: int32(i), Body: bytes.Repeat([]byte{byte(i)}, size)}
		began := time.Now()
		if err := conn.ReplyNoWait(resp); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if d := time.Since(began); d > time.Second {
			t.Fatalf("reply %d waited %v for a peer that does not read", i, d)
		}
	}
}

// readReplies reads n replies from r and checks they are replyBodies',
// whole and in order.
func readReplies(t *testing.T, r io.Reader, n, size int) {
	t.Helper()
	fr := NewFrameReader(bufio.NewReader(r))
	for i := 1; i <= n; i++ {
		cmd, err := fr.ReadCommand()
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if cmd.Opaque != int32(i) || !cmd.IsResponse() || len(cmd.Body) != size || cmd.Body[0] != byte(i) || cmd.Body[size-1] != byte(i) {
			t.Fatalf("reply %d: opaque %d response %v body %d bytes, want opaque %d and %d bytes of %d",
				i, cmd.Opaque, cmd.IsResponse(), len(cmd.Body), i, size, i)
		}
	}
}

// A peer that stops reading fills its socket: ReplyNoWait still returns
// at once, and once the peer reads, every reply arrives whole and in
// order (the rest went from a goroutine of its own).
func TestReplyNoWaitToAPeerNotReading(t *testing.T) {
	held := make(chan *Conn, 1)
	s, _ := startServer(t, ServerOptions{})
	s.Handle(codeHold, func(_ context.Context, conn *Conn, _ *Command) *Command {
		held <- conn
		return nil
	})
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	frame, err := EncodeFrame(NewRequest(codeHold, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(frame); err != nil {
		t.Fatal(err)
	}
	conn := <-held
	// 32 MiB: more than the socket buffers of both ends hold.
	const n, size = 128, 256 << 10
	replyBodies(t, conn, n, size)
	conn.wmu.Lock()
	full := conn.writing
	conn.wmu.Unlock()
	if !full {
		t.Fatal("no goroutine is left writing: the socket never filled, and the test proves nothing")
	}
	readReplies(t, nc, n, size)
}

// A connection without a raw socket (TLS; here a pipe, whose writes wait
// for the reader) hands every reply to a goroutine: ReplyNoWait returns
// at once all the same, and the replies arrive in order.
func TestReplyNoWaitWithoutARawSocket(t *testing.T) {
	ours, peer := net.Pipe()
	defer peer.Close()
	var ep endpoint
	ep.init(testLogger(io.Discard), "", 0)
	conn := newConn(&ep, ours)
	defer conn.Close()
	if conn.raw != nil {
		t.Fatal("a pipe has a raw socket")
	}
	const n, size = 16, 1 << 10
	replyBodies(t, conn, n, size)
	readReplies(t, peer, n, size)
}
