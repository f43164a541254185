package remoting

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ReplyNoWait is Reply for a goroutine that answers many connections and
// must not wait for any one of them (the reader of a slave's reports,
// answering the SYNC_MASTER sends a report covers): a peer that stops
// reading its replies delays only its own. The reply is queued; unless
// another goroutine is writing (or the reader will, before it next reads),
// it is written at once as far as the socket takes it without waiting,
// and what the socket does not take goes from a goroutine of its own.
func (c *Conn) ReplyNoWait(resp *Command) error {
	resp.Flag |= FlagResponse
	c.fillDefaults(resp)
	c.wmu.Lock()
	if c.isClosed() || c.writeDead {
		c.wmu.Unlock()
		return ErrConnClosed
	}
	pend, err := appendFramePrefix(c.pend, resp)
	if err != nil {
		c.wmu.Unlock()
		return fmt.Errorf("remoting: encode %v: %w", resp, err)
	}
	c.pend = append(pend, resp.Body...)
	if c.writing || c.readerBusy {
		c.wmu.Unlock()
		return nil // the writer or the busy reader sends it
	}
	c.writing = true
	for len(c.pend) > 0 {
		buf := c.pend
		c.pend = c.spare[:0]
		c.spare = nil
		c.wmu.Unlock()
		n, err := c.writeNoWait(buf)
		c.wmu.Lock()
		if err != nil {
			c.pend = c.pend[:0]
			c.endWriteLocked()
			c.wmu.Unlock()
			c.writeFailed(err)
			return fmt.Errorf("remoting: write to %s: %w", c.remote, err)
		}
		if n < len(buf) {
			// The socket is full: the rest, then what was queued
			// meanwhile, waits for the peer in a goroutine that stays
			// the writer until it is out (serve waits for it).
			rest := make([]byte, 0, len(buf)-n+len(c.pend))
			c.pend = append(append(rest, buf[n:]...), c.pend...)
			go c.finishWrite()
			c.wmu.Unlock()
			return nil
		}
		if cap(buf) <= keepWriteBuf {
			c.spare = buf[:0]
		}
	}
	c.endWriteLocked()
	c.wmu.Unlock()
	return nil
}

// finishWrite writes what ReplyNoWait left queued, waiting for the peer
// as any writer does (up to the write timeout).
// REQUIRES: c.writing set by the caller, which handed the role over.
func (c *Conn) finishWrite() {
	c.wmu.Lock()
	err := c.writeLoop(nil)
	c.endWriteLocked()
	c.wmu.Unlock()
	if err != nil {
		c.writeFailed(err)
	}
}

// writeNoWait writes as much of buf as the socket takes without waiting.
// A connection without a raw socket (TLS) takes nothing here: its writes
// all go through finishWrite.
func (c *Conn) writeNoWait(buf []byte) (int, error) {
	if c.raw == nil {
		return 0, nil
	}
	var n int
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		for {
			n, werr = unix.Write(int(fd), buf)
			if werr != unix.EINTR {
				return true // done, even if the socket was full: never wait
			}
		}
	})
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		// An earlier write's deadline has passed: finishWrite sets a
		// fresh one.
		return 0, nil
	case err != nil:
		return 0, err
	case werr == unix.EAGAIN:
		return 0, nil
	case werr != nil:
		return 0, werr
	}
	return n, nil
}
