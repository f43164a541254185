package ha

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// The pieces compose over a real loopback TCP connection: a master built
// from ReadReport, CheckReport, Planner.Start/Next and PutHeader ships a
// retained log to an empty slave built from PutReport and FrameReader,
// which ends with a byte-identical copy at the same offsets.
func TestLoopbackReplication(t *testing.T) {
	const seg, batch = 4096, 1000
	minOff, end := int64(2*seg), int64(5*seg+300)
	log := make([]byte, end) // the master's CommitLog; bytes below minOff are "removed"
	rng := rand.New(rand.NewPCG(1, 2))
	for i := minOff; i < end; i++ {
		log[i] = byte(rng.Uint32())
	}
	for _, lastFile := range []bool{false, true} {
		wantStart := minOff
		if lastFile {
			wantStart = 5 * seg
		}
		copyStart, copyBytes, acked := replicate(t, log, minOff, seg, batch, lastFile)
		if copyStart != wantStart || !bytes.Equal(copyBytes, log[wantStart:end]) {
			t.Errorf("lastFile=%v: slave holds %d bytes from %d, want master's %d bytes from %d (equal: %v)",
				lastFile, len(copyBytes), copyStart, end-wantStart, wantStart, bytes.Equal(copyBytes, log[wantStart:end]))
		}
		if acked != end {
			t.Errorf("lastFile=%v: master's last acknowledged offset %d, want %d", lastFile, acked, end)
		}
	}
}

// replicate runs one master and one empty slave until the slave reports
// the master's end; it returns where the slave's copy starts, the copy,
// and the last report the master accepted.
func replicate(t *testing.T, log []byte, minOff, seg int64, batch int, lastFile bool) (int64, []byte, int64) {
	t.Helper()
	end := int64(len(log))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(10 * time.Second)

	var wg sync.WaitGroup
	var masterErr error
	var acked int64 = -1
	wg.Add(1)
	go func() { // master
		defer wg.Done()
		masterErr = func() error {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(deadline)
			p, err := NewPlanner(seg, batch, 0)
			if err != nil {
				return err
			}
			var rb [ReportSize]byte
			first, err := ReadReport(c, &rb)
			if err != nil {
				return err
			}
			if err := CheckReport(acked, first, end); err != nil {
				return err
			}
			acked = first
			next, err := p.Start(first, minOff, end, lastFile)
			if err != nil {
				return err
			}
			reports := make(chan error, 1)
			go func() { // owned: ends when the slave reports the end or the connection fails
				var rb [ReportSize]byte
				for acked < end {
					got, err := ReadReport(c, &rb)
					if err == nil {
						err = CheckReport(acked, got, end)
					}
					if err != nil {
						reports <- err
						return
					}
					acked = got
				}
				reports <- nil
			}()
			var hb [HeaderSize]byte
			for {
				from, to := p.Next(next, end)
				PutHeader(&hb, Header{Offset: from, Size: int32(to - from)}) // a heartbeat once caught up
				if _, err := c.Write(hb[:]); err != nil {
					return err
				}
				if _, err := c.Write(log[from:to]); err != nil {
					return err
				}
				next = to
				if from == to {
					return <-reports
				}
			}
		}()
	}()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(deadline)
	var rb [ReportSize]byte
	PutReport(&rb, 0) // an empty slave
	if _, err := c.Write(rb[:]); err != nil {
		t.Fatal(err)
	}
	fr, err := NewFrameReader(c, seg, MaxBodySize)
	if err != nil {
		t.Fatal(err)
	}
	var start, want int64
	var copied []byte
	for {
		f, err := fr.Next(want)
		if err != nil {
			t.Fatalf("slave: %v", err)
		}
		if want == 0 {
			start = f.Offset
		}
		if len(f.Body) == 0 {
			if f.Offset == end {
				break
			}
			continue
		}
		copied = append(copied, f.Body...)
		want = f.End()
		PutReport(&rb, want)
		if _, err := c.Write(rb[:]); err != nil {
			t.Fatal(err)
		}
	}
	// The master sends nothing more after its heartbeat at the end.
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := fr.Next(want); !errors.Is(err, io.EOF) && !isTimeout(err) {
		t.Errorf("slave after the end: %v, want EOF or timeout", err)
	}
	c.Close()
	wg.Wait()
	if masterErr != nil {
		t.Fatalf("master: %v", masterErr)
	}
	return start, copied, acked
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
