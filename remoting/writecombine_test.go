package remoting

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts Write calls, each made to take a while, as a write
// to a busy socket does, so that concurrent writers find one in progress.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	time.Sleep(20 * time.Microsecond)
	return c.Conn.Write(b)
}

// TestWritesCombine: frames written concurrently on one connection arrive
// whole, each writer's in its order, including bodies too large to copy,
// and frames queued during a write share the next system call.
func TestWritesCombine(t *testing.T) {
	for _, bigFrames := range []bool{false, true} {
		t.Run(fmt.Sprintf("big=%v", bigFrames), func(t *testing.T) { testWritesCombine(t, bigFrames) })
	}
}

// testWritesCombine checks order and content always, and with small frames
// only that they share writes (a large body waits for the writer and goes
// out on its own, so with them the count says little).
func testWritesCombine(t *testing.T, bigFrames bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	defer peer.Close()
	var ep endpoint
	ep.init(slog.New(slog.DiscardHandler), "GO", 1)
	cc := &countingConn{Conn: nc}
	c := newConn(&ep, cc)
	defer c.Close()

	const writers, each = 8, 400
	body := func(w, i int) []byte {
		n := (w*7919 + i*104729) % 3000
		if i%97 == 0 && bigFrames {
			n = copyBodyMax + 1 + i // written in place
		}
		return bytes.Repeat([]byte{byte(w*31 + i)}, n)
	}
	got := make(chan error, 1)
	go func() {
		fr := NewFrameReader(bufio.NewReader(peer))
		next := make([]int, writers)
		for range writers * each {
			cmd, err := fr.ReadCommand()
			if err != nil {
				got <- err
				return
			}
			w, i := int(cmd.Opaque)/each, int(cmd.Opaque)%each
			if w >= writers || i != next[w] {
				got <- fmt.Errorf("frame %d of writer %d arrived when %d was due", i, w, next[w])
				return
			}
			next[w]++
			if !bytes.Equal(cmd.Body, body(w, i)) {
				got <- fmt.Errorf("frame %d of writer %d: body differs", i, w)
				return
			}
		}
		got <- nil
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				cmd := NewRequest(10, map[string]string{"k": "v"}, body(w, i))
				cmd.Opaque = int32(w*each + i)
				if err := c.WriteCommand(cmd); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	frames, writes := writers*each, cc.writes.Load()
	t.Logf("%d frames in %d writes", frames, writes)
	if !bigFrames && writes >= int64(frames)/2 {
		t.Fatalf("%d frames took %d writes: writes hardly combined", frames, writes)
	}
}
