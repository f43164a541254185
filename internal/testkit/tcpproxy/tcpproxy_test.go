package tcpproxy_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/internal/testkit/tcpproxy"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quiet is how long a stalled or refused link is watched for bytes that
// must not come: long enough for loopback to deliver many times over.
const quiet = 300 * time.Millisecond

// target is a real TCP server on loopback. With echo, it echoes every
// connection; otherwise it hands each accepted connection to the test.
type target struct {
	ln       net.Listener
	accepted chan net.Conn
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func startTarget(t *testing.T, echo bool) *target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{ln: ln, accepted: make(chan net.Conn, 16)}
	tg.wg.Add(1)
	go func() {
		defer tg.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tg.mu.Lock()
			tg.conns = append(tg.conns, c)
			tg.mu.Unlock()
			if !echo {
				select {
				case tg.accepted <- c:
				default:
					c.Close() // the test took none of the last 16
				}
				continue
			}
			tg.wg.Add(1)
			go func() {
				defer tg.wg.Done()
				_, _ = io.Copy(c, c)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		tg.mu.Lock()
		for _, c := range tg.conns {
			c.Close()
		}
		tg.mu.Unlock()
		tg.wg.Wait()
	})
	return tg
}

func (tg *target) addr() string { return tg.ln.Addr().String() }

// next returns the next connection the target accepted.
func (tg *target) next(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-tg.accepted:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("the target accepted no connection within 5 s")
		return nil
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readFull reads len(want) bytes within 5 s and compares them.
func readFull(t *testing.T, c net.Conn, want []byte) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read %d bytes: %v", len(want), err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes that differ from what was sent", len(want))
	}
}

// silent checks that nothing arrives on c for d.
func silent(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	n, err := c.Read(b[:])
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("within %v: read %d bytes, err %v; want nothing", d, n, err)
	}
}

// closedByPeer checks that reading c ends in EOF or a reset within 5 s.
func closedByPeer(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("want EOF or a reset, got %v", err)
	}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ seed
	}
	return b
}

func TestForwardsToEcho(t *testing.T) {
	tg := startTarget(t, true)
	p := tcpproxy.Start(t, tg.addr())
	for i := range 3 {
		c := dial(t, p.Addr())
		msg := pattern(100_000, byte(i))
		go func() { _, _ = c.Write(msg) }()
		readFull(t, c, msg)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return p.Accepted() == 3 }, "3 forwarded connections")
}

// TestStallResume: while stalled nothing crosses in either direction, and
// Resume delivers everything sent meanwhile, in order.
func TestStallResume(t *testing.T) {
	tg := startTarget(t, false)
	p := tcpproxy.Start(t, tg.addr())
	c := dial(t, p.Addr())
	s := tg.next(t)
	readBoth := func(seed byte) {
		up, down := pattern(1000, seed), pattern(1000, seed+1)
		if _, err := c.Write(up); err != nil {
			t.Fatal(err)
		}
		readFull(t, s, up)
		if _, err := s.Write(down); err != nil {
			t.Fatal(err)
		}
		readFull(t, c, down)
	}
	readBoth(1)

	p.Stall()
	// Several writes, more than one copier chunk and the socket buffers
	// of one side absorb, so bytes queue at the gate and in the kernel.
	var up, down []byte
	var wg sync.WaitGroup
	wg.Add(2)
	for i := range 8 {
		up = append(up, pattern(64<<10, byte(10+i))...)
		down = append(down, pattern(64<<10, byte(20+i))...)
	}
	go func() {
		defer wg.Done()
		for i := 0; i < len(up); i += 64 << 10 {
			if _, err := c.Write(up[i : i+64<<10]); err != nil {
				t.Errorf("write up: %v", err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < len(down); i += 64 << 10 {
			if _, err := s.Write(down[i : i+64<<10]); err != nil {
				t.Errorf("write down: %v", err)
				return
			}
		}
	}()
	silent(t, s, quiet)
	silent(t, c, quiet)
	if p.Conns() != 1 {
		t.Fatalf("%d connections while stalled, want the 1 kept open", p.Conns())
	}

	p.Resume()
	readFull(t, s, up)
	readFull(t, c, down)
	wg.Wait()
	readBoth(30)
}

// TestStallHoldsNewConnections: a connection made during a stall is
// accepted and forwarded to the target, but carries nothing until Resume.
func TestStallHoldsNewConnections(t *testing.T) {
	tg := startTarget(t, true)
	p := tcpproxy.Start(t, tg.addr())
	p.Stall()
	p.Stall() // idempotent
	c := dial(t, p.Addr())
	msg := pattern(5000, 7)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	silent(t, c, quiet)
	p.Resume()
	p.Resume() // idempotent
	readFull(t, c, msg)
}

// TestCut: every current connection is reset on both sides, and the proxy
// forwards new connections afterwards.
func TestCut(t *testing.T) {
	tg := startTarget(t, false)
	p := tcpproxy.Start(t, tg.addr())
	c1, c2 := dial(t, p.Addr()), dial(t, p.Addr())
	s1, s2 := tg.next(t), tg.next(t)
	testkit.Eventually(t, 5*time.Second, func() bool { return p.Conns() == 2 }, "2 connections")
	p.Cut()
	for _, c := range []net.Conn{c1, c2, s1, s2} {
		closedByPeer(t, c)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return p.Conns() == 0 }, "no connection after Cut")

	c3 := dial(t, p.Addr())
	s3 := tg.next(t)
	if _, err := c3.Write([]byte("after cut")); err != nil {
		t.Fatal(err)
	}
	readFull(t, s3, []byte("after cut"))
}

// TestCutWhileStalled: a cut releases connections held at the gate.
func TestCutWhileStalled(t *testing.T) {
	tg := startTarget(t, false)
	p := tcpproxy.Start(t, tg.addr())
	c := dial(t, p.Addr())
	s := tg.next(t)
	p.Stall()
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	closedByPeer(t, c)
	closedByPeer(t, s)
	p.Resume()
}

// TestRefuse: new connections are accepted and closed without reaching
// the target; current ones keep working; Refuse(false) restores service.
func TestRefuse(t *testing.T) {
	tg := startTarget(t, false)
	p := tcpproxy.Start(t, tg.addr())
	old := dial(t, p.Addr())
	oldS := tg.next(t)

	p.Refuse(true)
	r := dial(t, p.Addr())
	closedByPeer(t, r)
	select {
	case c := <-tg.accepted:
		c.Close()
		t.Fatal("a refused connection reached the target")
	default:
	}
	if _, err := old.Write([]byte("still")); err != nil {
		t.Fatal(err)
	}
	readFull(t, oldS, []byte("still"))
	if got := p.Accepted(); got != 1 {
		t.Fatalf("Accepted %d, want 1 (the refused one is not forwarded)", got)
	}

	p.Refuse(false)
	c := dial(t, p.Addr())
	s := tg.next(t)
	if _, err := c.Write([]byte("back")); err != nil {
		t.Fatal(err)
	}
	readFull(t, s, []byte("back"))
}

// TestHalfClose: a client's EOF reaches the target and the reply still
// comes back, as for a request written then shut down for writing.
func TestHalfClose(t *testing.T) {
	tg := startTarget(t, true)
	p := tcpproxy.Start(t, tg.addr())
	c := dial(t, p.Addr())
	msg := pattern(10_000, 3)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo after half-close: %d bytes, want %d", len(got), len(msg))
	}
}

// TestDeadTarget: when the target does not listen, each client is closed.
func TestDeadTarget(t *testing.T) {
	p := tcpproxy.Start(t, testkit.FreePort(t))
	c := dial(t, p.Addr())
	closedByPeer(t, c)
	if p.Accepted() != 0 {
		t.Fatalf("Accepted %d with no target", p.Accepted())
	}
}

// TestClose: Close resets the connections and stops listening; a second
// Close (the cleanup's) is harmless.
func TestClose(t *testing.T) {
	tg := startTarget(t, false)
	p := tcpproxy.Start(t, tg.addr())
	c := dial(t, p.Addr())
	s := tg.next(t)
	p.Stall()
	p.Close()
	closedByPeer(t, c)
	closedByPeer(t, s)
	if c2, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c2.Close()
		t.Fatal("dial after Close succeeded")
	}
}
