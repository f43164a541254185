package ha

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
)

// SlaveLog is what a slave appends to (engine.Store has these methods).
type SlaveLog interface {
	SegmentSize() int64
	MaxPhysOffset() int64
	AppendReplica(phys int64, data []byte) (int64, error)
	WaitPut(end int64) error
	// Rebase moves an empty log's start to the segment the master
	// begins it at.
	Rebase(base int64) error
}

// SlaveOptions configure a Slave.
type SlaveOptions struct {
	// MasterAddr returns the master's HA address (haMasterAddress, or
	// what the name servers' REGISTER_BROKER reply said), "" while it is
	// unknown. It is asked before every dial.
	MasterAddr func() string
	Log        SlaveLog
	// Heartbeat is haSendHeartbeatInterval; Housekeeping
	// haHousekeepingInterval. Zero takes RocketMQ's default.
	Heartbeat, Housekeeping time.Duration
	// Redial is the pause between attempts to reach the master (RocketMQ:
	// 5 s; Wharf 1 s, so a returning master is followed sooner).
	Redial time.Duration
	Logger *slog.Logger
	// TLS, if set, makes the connection to the master a TLS one
	// (tls.enable): the master's HA port serves tls.server.mode too.
	TLS *tls.Config
}

// Slave is the slave side of classic HA: it dials the master's HA port,
// reports its CommitLog end, appends the bytes the master sends at the
// same offsets and reports each new end, the acknowledgement a
// SYNC_MASTER send waits for. It redials after any failure.
type Slave struct {
	opts SlaveOptions
	log  *slog.Logger

	connected atomic.Bool
	notice    FollowNotice
	master    atomic.Pointer[string]
	lastErr   atomic.Pointer[string]

	dialed  Dialed
	mu      sync.Mutex
	state   string // what was last logged, so each state is logged once
	closing chan struct{}
	wg      sync.WaitGroup
}

// NewSlave returns a slave that starts following at Start.
func NewSlave(opts SlaveOptions) *Slave {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeatInterval
	}
	if opts.Housekeeping <= 0 {
		opts.Housekeeping = DefaultHousekeepingInterval
	}
	if opts.Redial <= 0 {
		opts.Redial = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Slave{opts: opts, log: opts.Logger.With("component", "ha-slave"), closing: make(chan struct{})}
	s.dialed.TLS = opts.TLS
	return s
}

// Start begins following the master in a goroutine Close stops.
func (s *Slave) Start() {
	s.wg.Add(1)
	go s.run()
}

// Close stops following and waits for the goroutines.
func (s *Slave) Close() error {
	if s.dialed.Close() {
		close(s.closing)
	}
	s.wg.Wait()
	return nil
}

// SlaveState says what a slave is doing, for status.
type SlaveState struct {
	Master    string // the HA address it follows, "" while unknown
	Connected bool
	End       int64  // its CommitLog end
	LastError string // why the last connection ended, "" if none did
}

// State returns what the slave is doing.
func (s *Slave) State() SlaveState {
	st := SlaveState{Connected: s.connected.Load(), End: s.opts.Log.MaxPhysOffset()}
	if p := s.master.Load(); p != nil {
		st.Master = *p
	}
	if p := s.lastErr.Load(); p != nil {
		st.LastError = *p
	}
	return st
}

// logState logs msg when it differs from the last state logged: a slave
// that waits or fails the same way for hours logs it once.
func (s *Slave) logState(level slog.Level, msg string, attrs ...any) {
	s.mu.Lock()
	same := s.state == msg
	s.state = msg
	s.mu.Unlock()
	if !same {
		s.log.Log(context.Background(), level, msg, attrs...)
	}
}

func (s *Slave) run() {
	defer s.wg.Done()
	for {
		addr := s.opts.MasterAddr()
		s.master.Store(&addr)
		if addr == "" {
			s.logState(slog.LevelInfo, "no master registered for this broker name yet; waiting")
		} else if err := s.follow(addr); err != nil {
			s.notice.Failed(s.opts.Log.MaxPhysOffset())
			msg := err.Error()
			s.lastErr.Store(&msg)
			level := slog.LevelWarn
			if errors.Is(err, errLayout) {
				level = slog.LevelError
			}
			s.logState(level, "replication from the master stopped; retrying", "master", addr, "err", err)
		}
		select {
		case <-s.closing:
			return
		case <-time.After(s.opts.Redial):
		}
	}
}

// errLayout marks failures that retrying will not cure by itself (the
// master's bytes do not fit this log): logged as errors.
var errLayout = errors.New("the master's CommitLog does not continue this slave's")

// follow runs one connection to the master until it fails.
func (s *Slave) follow(addr string) error {
	conn, err := s.dialed.Dial(addr)
	if err != nil {
		return fmt.Errorf("dial master HA port %s: %w", addr, err)
	}
	if conn == nil {
		return nil // closed
	}
	defer func() {
		s.connected.Store(false)
		s.dialed.Release(conn)
	}()
	fc := &followConn{s: s, conn: conn, end: s.opts.Log.MaxPhysOffset()}
	if err := fc.report(); err != nil {
		return err
	}
	s.connected.Store(true)
	// "Following" is logged at the first frame, and only when the log's
	// end is not where the last connection failed, or once it has
	// moved: a peer that takes the report and closes (not an HA port, a
	// master refusing this slave's offset), or a master whose bytes fail
	// at the same place every time (another segment size), would
	// otherwise log it, and the failure after it, at every redial.
	fc.following = func() { s.logState(slog.LevelInfo, "following the master", "master", addr, "from", fc.end) }
	hbDone := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fc.heartbeats(hbDone)
	}()
	defer close(hbDone)
	err = fc.receive()
	select {
	case <-s.closing:
		return nil
	default:
	}
	if !fc.gotFrame && errors.Is(err, errClosedByMaster) {
		return fmt.Errorf("%w before sending any frame: %s refused this slave's offset %d (see its log) or is not a master's HA port",
			err, addr, fc.end)
	}
	return err
}

// errClosedByMaster: the master ended the connection.
var errClosedByMaster = errors.New("the master closed the connection")

// followConn is one connection's state on the slave.
type followConn struct {
	s    *Slave
	conn net.Conn

	wmu      sync.Mutex // one report at a time
	rep      [ReportSize]byte
	end      int64 // the log's end: what the next report says
	lastSent time.Time

	gotFrame  bool   // a frame was read
	following func() // logs that the slave follows; nil once called
}

// report sends the current end.
func (f *followConn) report() error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	PutReport(&f.rep, f.end)
	if err := f.conn.SetWriteDeadline(time.Now().Add(f.s.opts.Housekeeping)); err != nil {
		return err
	}
	if _, err := f.conn.Write(f.rep[:]); err != nil {
		return fmt.Errorf("report offset %d to the master: %w", f.end, err)
	}
	f.lastSent = time.Now()
	return nil
}

// heartbeats resends the end when nothing was reported for Heartbeat.
func (f *followConn) heartbeats(done <-chan struct{}) {
	t := time.NewTicker(f.s.opts.Heartbeat / 2)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			f.wmu.Lock()
			due := time.Since(f.lastSent) >= f.s.opts.Heartbeat
			f.wmu.Unlock()
			if due && f.report() != nil {
				f.conn.Close() // the reader sees it and ends the connection
				return
			}
		}
	}
}

// receive reads frames, appends whole units at their offsets and reports
// the new end. Bytes of a unit cut by a frame end wait in pending for the
// rest. The report waits while another whole frame is already buffered: a
// burst of frames costs one report (as RocketMQ's slave reports once per
// read), and no ack is held back behind a read that may block.
func (f *followConn) receive() error {
	log := f.s.opts.Log
	br := bufio.NewReaderSize(f.conn, 256<<10)
	fr, err := NewFrameReader(br, log.SegmentSize(), MaxBodySize)
	if err != nil {
		return err
	}
	var pending []byte
	reported := f.end
	for {
		if err := f.conn.SetReadDeadline(time.Now().Add(f.s.opts.Housekeeping)); err != nil {
			return err
		}
		want := f.end + int64(len(pending))
		fr0, err := fr.Next(want)
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				return fmt.Errorf("nothing from the master for haHousekeepingInterval %s", f.s.opts.Housekeeping)
			case errors.Is(err, io.EOF):
				return errClosedByMaster
			case errors.Is(err, ErrOffsetMismatch), errors.Is(err, ErrCrossesSegment):
				return fmt.Errorf("%w: %w", errLayout, err)
			}
			return err
		}
		f.gotFrame = true
		f.following = f.s.notice.Say(f.following, f.end)
		if len(fr0.Body) > 0 {
			if want == 0 && fr0.Offset != 0 {
				// An empty slave: the master starts it at its oldest
				// retained segment (or its last, syncFromLastFile).
				if err := log.Rebase(fr0.Offset); err != nil {
					return fmt.Errorf("%w: the master starts this empty slave at %d: %w", errLayout, fr0.Offset, err)
				}
				f.wmu.Lock()
				f.end = fr0.Offset
				f.wmu.Unlock()
			}
			// Whole units go straight from the frame; only a cut unit is
			// copied aside.
			data := fr0.Body
			if len(pending) > 0 {
				pending = append(pending, data...)
				data = pending
			}
			n, err := msg.WholeUnits(data)
			if err != nil {
				return fmt.Errorf("%w: bytes from %d: %w", errLayout, f.end, err)
			}
			if err := UnitFits(data[n:], f.end+int64(n), log.SegmentSize()); err != nil {
				return fmt.Errorf("%w: %w", errLayout, err)
			}
			if n > 0 {
				end, err := log.AppendReplica(f.end, data[:n])
				if err != nil {
					if errors.Is(err, engine.ErrReplicaLayout) || errors.Is(err, engine.ErrReplicaOffset) {
						return fmt.Errorf("%w: %w", errLayout, err)
					}
					return err
				}
				if err := log.WaitPut(end); err != nil {
					return err
				}
				f.wmu.Lock()
				f.end = end
				f.wmu.Unlock()
			}
			pending = append(pending[:0], data[n:]...)
		}
		f.following = f.s.notice.Say(f.following, f.end)
		if f.end != reported && !frameBuffered(br) {
			if err := f.report(); err != nil {
				return err
			}
			reported = f.end
		}
	}
}

// UnitFits checks the start of an incomplete unit, rest, that would go
// at offset at: a unit never crosses a segment, so one whose size field
// says more than its segment has left is a lie (or another segment size)
// and is refused at once, before the slave buffers bytes for it: waiting
// for its end would hold up to 2 GiB of a master's bytes in memory.
func UnitFits(rest []byte, at, segSize int64) error {
	if len(rest) < msg.BlankHeaderSize {
		return nil
	}
	size, _, err := msg.PeekHeader(rest)
	if err != nil {
		return fmt.Errorf("bytes at %d: %w", at, err)
	}
	if left := segSize - at%segSize; int64(size) > left {
		return fmt.Errorf("%w: a unit of %d bytes at %d, where the segment has %d left (segment size %d)",
			ErrCrossesSegment, size, at, left, segSize)
	}
	return nil
}

// FollowNotice keeps a slave's "following the master" line to one per
// connection that gets anywhere: it is not said while the log still ends
// where the last connection failed, so a master whose bytes fail at the
// same place every time (another segment size, a record that does not
// fit) does not have it logged, and the failure after it, at every
// redial. The zero value is ready. Both slaves (classic and AutoSwitch)
// use it.
type FollowNotice struct {
	failedAt atomic.Int64 // the log's end + 1 when a connection last failed; 0: none
}

// Failed records the log's end when a connection failed.
func (n *FollowNotice) Failed(end int64) { n.failedAt.Store(end + 1) }

// Say calls say unless it is nil or the log still ends (end) where the
// last connection failed; it returns what to pass next time: nil once
// said.
func (n *FollowNotice) Say(say func(), end int64) func() {
	if say == nil || end+1 == n.failedAt.Load() {
		return say
	}
	say()
	return nil
}

// frameBuffered says whether a whole frame is already in br, so reading
// it will not block.
func frameBuffered(br *bufio.Reader) bool {
	if br.Buffered() < HeaderSize {
		return false
	}
	h, err := br.Peek(HeaderSize)
	if err != nil {
		return false
	}
	size := int(int32(binary.BigEndian.Uint32(h[8:12])))
	return size >= 0 && br.Buffered() >= HeaderSize+size
}
