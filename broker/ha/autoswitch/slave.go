package autoswitch

import (
	"bufio"
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

	"github.com/wharfmq/wharf/broker/ha"
	"github.com/wharfmq/wharf/broker/ha/epoch"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
)

// SlaveLog is what a failover-mode slave writes (engine.Store has these
// methods).
type SlaveLog interface {
	ha.SlaveLog
	TruncateTo(phys int64) error
	SetConfirmOffset(off int64)
}

// SlaveOptions configure a Slave.
type SlaveOptions struct {
	// MasterAddr returns the master's HA address, "" while unknown; asked
	// before every dial.
	MasterAddr func() string
	Log        SlaveLog
	Epochs     *epoch.File
	// BrokerID is this replica's id, sent in the handshake.
	BrokerID int64
	// SyncFromLastFile and AsyncLearner are the handshake's flags.
	SyncFromLastFile, AsyncLearner bool
	// Heartbeat, Housekeeping: as in package ha; Redial the pause between
	// connections (1 s; RocketMQ 5 s, 2 s after a failed truncation).
	Heartbeat, Housekeeping, Redial time.Duration
	Logger                          *slog.Logger
	// TLS, if set, makes the connection to the master a TLS one
	// (tls.enable).
	TLS *tls.Config
}

// Slave is the slave side of AutoSwitch HA: it shakes hands with the
// master, cuts its own log at the last offset both agree on
// (FindConsistentPoint; engine.Store.TruncateTo), then appends the
// master's bytes at the same offsets, records each new epoch in its epoch
// file, follows the master's confirm offset, and acknowledges its end. It
// redials after any failure.
type Slave struct {
	opts SlaveOptions
	log  *slog.Logger

	connected atomic.Bool
	notice    ha.FollowNotice
	lastErr   atomic.Pointer[string]

	dialed  ha.Dialed
	closing chan struct{}
	wg      sync.WaitGroup
}

// NewSlave returns a slave that starts following at Start.
func NewSlave(opts SlaveOptions) (*Slave, error) {
	if opts.Log == nil || opts.Epochs == nil || opts.MasterAddr == nil {
		return nil, errors.New("autoswitch: SlaveOptions needs MasterAddr, Log and Epochs")
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = ha.DefaultHeartbeatInterval
	}
	if opts.Housekeeping <= 0 {
		opts.Housekeeping = ha.DefaultHousekeepingInterval
	}
	if opts.Redial <= 0 {
		opts.Redial = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Slave{opts: opts, log: opts.Logger.With("component", "autoswitch-slave"), closing: make(chan struct{})}
	s.dialed.TLS = opts.TLS
	return s, nil
}

// Start begins following in a goroutine Close stops.
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

// Connected says whether the slave is past the handshake with a master.
func (s *Slave) Connected() bool { return s.connected.Load() }

// LastError is why the last connection ended, "" if none did.
func (s *Slave) LastError() string {
	if p := s.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

func (s *Slave) run() {
	defer s.wg.Done()
	var last string
	for {
		if addr := s.opts.MasterAddr(); addr != "" {
			if err := s.follow(addr); err != nil {
				s.notice.Failed(s.opts.Log.MaxPhysOffset())
				msg := err.Error()
				s.lastErr.Store(&msg)
				if msg != last {
					s.log.Warn("replication from the master stopped; retrying", "master", addr, "err", err)
				}
				last = msg
			}
		}
		select {
		case <-s.closing:
			return
		case <-time.After(s.opts.Redial):
		}
	}
}

// follow runs one connection until it fails.
func (s *Slave) follow(addr string) error {
	conn, err := s.dialed.Dial(addr)
	if err != nil {
		return fmt.Errorf("dial the master's HA port %s: %w", addr, err)
	}
	if conn == nil {
		return nil // closed
	}
	defer func() {
		s.connected.Store(false)
		s.dialed.Release(conn)
	}()
	f := &followConn{s: s, conn: conn}
	err = f.run()
	select {
	case <-s.closing:
		return nil
	default:
		return err
	}
}

// followConn is one connection's state.
type followConn struct {
	s    *Slave
	conn net.Conn

	wmu      sync.Mutex // one write at a time
	end      int64      // the log's end: what the next ack says
	lastSent time.Time

	following func() // logs that the replica follows; nil once called
}

// announce logs that the replica follows its master (ha.FollowNotice).
func (f *followConn) announce(end int64) { f.following = f.s.notice.Say(f.following, end) }

func (f *followConn) write(b []byte) error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if err := f.conn.SetWriteDeadline(time.Now().Add(f.s.opts.Housekeeping)); err != nil {
		return err
	}
	if _, err := f.conn.Write(b); err != nil {
		return fmt.Errorf("write to the master: %w", err)
	}
	f.lastSent = time.Now()
	return nil
}

// ack sends the current end.
func (f *followConn) ack() error {
	f.wmu.Lock()
	end := f.end
	f.wmu.Unlock()
	return f.write(AppendAck(nil, end))
}

func (f *followConn) setEnd(end int64) {
	f.wmu.Lock()
	f.end = end
	f.wmu.Unlock()
}

func (f *followConn) run() error {
	o := f.s.opts
	if err := f.write(AppendSlaveHandshake(nil, SlaveHandshake{
		SyncFromLastFile: o.SyncFromLastFile, AsyncLearner: o.AsyncLearner, BrokerID: o.BrokerID,
	})); err != nil {
		return err
	}
	br := bufio.NewReaderSize(f.conn, 256<<10)
	mr, err := NewMasterReader(br, ha.MaxBodySize)
	if err != nil {
		return err
	}
	if err := f.conn.SetReadDeadline(time.Now().Add(o.Housekeeping)); err != nil {
		return err
	}
	m, err := mr.Next()
	if err != nil {
		return fmt.Errorf("the master's handshake: %w", err)
	}
	if m.State != Handshake {
		return fmt.Errorf("%w: %v before the master's handshake", ErrState, m.State)
	}
	start, err := f.truncate(m.Handshake)
	if err != nil {
		return err
	}
	f.setEnd(start)
	if err := f.ack(); err != nil {
		return err
	}
	f.s.connected.Store(true)
	f.following = func() {
		f.s.log.Info("following the master", "master", f.conn.RemoteAddr().String(), "from", start,
			"masterEnd", m.Handshake.MaxOffset, "masterEpoch", m.Handshake.LastEpoch)
	}
	f.announce(start)
	hbDone := make(chan struct{})
	f.s.wg.Add(1)
	go func() {
		defer f.s.wg.Done()
		f.heartbeats(hbDone)
	}()
	defer close(hbDone)
	return f.receive(mr, br)
}

// truncate finds where this log and the master's agree and cuts this log
// there; it returns the offset to resume from.
func (f *followConn) truncate(h MasterHandshake) (int64, error) {
	o := f.s.opts
	local := o.Log.MaxPhysOffset()
	// Epochs that start past the log's end lost their bytes (a crash
	// under ASYNC_FLUSH): they are not this log's.
	if err := o.Epochs.TruncateFrom(local + 1); err != nil {
		return 0, err
	}
	if _, ok := o.Epochs.Last(); !ok {
		if local > 0 {
			// Records with no epochs (a store from classic mode, or a lost
			// epoch file) cannot be checked against the master's: taken
			// as they are, another history's bytes would be acknowledged
			// as the master's. RocketMQ's replica with no epochs asks for
			// offset 0, which a non-empty log then refuses: stuck too.
			return 0, fmt.Errorf("%w: this replica's CommitLog holds %d bytes but no epoch entries (epochFileCheckpoint) to check them against the master's: "+
				"move this broker's store aside (it then copies the master's log) or restore its epoch file", ErrNoEpochs, local)
		}
		return 0, nil // a new replica
	}
	point := o.Epochs.FindConsistentPoint(h.Entries, h.MaxOffset, local)
	if point < 0 {
		return 0, fmt.Errorf("no consistent point between this replica's epochs %v (end %d) and the master's %v (end %d)",
			o.Epochs.Entries(), local, h.Entries, h.MaxOffset)
	}
	if point < local {
		f.s.log.Warn("cutting the log's divergent tail", "to", point, "from", local, "bytes", local-point)
		if err := o.Log.TruncateTo(point); err != nil {
			return 0, fmt.Errorf("truncate to the consistent point %d: %w", point, err)
		}
	}
	if err := o.Epochs.TruncateFrom(point); err != nil {
		return 0, err
	}
	return point, nil
}

// heartbeats resends the end when nothing was sent for Heartbeat.
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
			if due && f.ack() != nil {
				f.conn.Close()
				return
			}
		}
	}
}

// receive applies frames: checks continuity and epochs, appends whole
// units (a unit cut by a frame end waits in pending), follows the confirm
// offset and acknowledges.
func (f *followConn) receive(mr *MasterReader, br *bufio.Reader) error {
	o := f.s.opts
	var pending []byte
	f.wmu.Lock()
	reported := f.end
	f.wmu.Unlock()
	for {
		if err := f.conn.SetReadDeadline(time.Now().Add(o.Housekeeping)); err != nil {
			return err
		}
		m, err := mr.Next()
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				return fmt.Errorf("nothing from the master for haHousekeepingInterval %s", o.Housekeeping)
			case errors.Is(err, io.EOF):
				return errors.New("the master closed the connection")
			}
			return err
		}
		if m.State != Transfer {
			return fmt.Errorf("%w: %v after the handshake", ErrState, m.State)
		}
		h := m.Transfer
		f.wmu.Lock()
		end := f.end
		f.wmu.Unlock()
		want := end + int64(len(pending))
		if h.BodySize > 0 {
			if err := f.checkFrame(h, want); err != nil {
				return err
			}
			if want == 0 && h.Offset != 0 {
				// An empty replica starts at the master's first frame.
				if err := o.Log.Rebase(h.Offset); err != nil {
					return fmt.Errorf("the master starts this empty replica at %d: %w", h.Offset, err)
				}
				end = h.Offset
				f.setEnd(end)
			}
			if err := f.noteEpoch(h); err != nil {
				return err
			}
			data := m.Body
			if len(pending) > 0 {
				pending = append(pending, data...)
				data = pending
			}
			n, err := msg.WholeUnits(data)
			if err != nil {
				return fmt.Errorf("bytes from %d: %w", end, err)
			}
			// A unit whose size field overruns its segment is refused
			// now, not after buffering the master's bytes for it.
			if err := ha.UnitFits(data[n:], end+int64(n), o.Log.SegmentSize()); err != nil {
				return err
			}
			if n > 0 {
				got, err := o.Log.AppendReplica(end, data[:n])
				if err != nil {
					return err
				}
				if err := o.Log.WaitPut(got); err != nil {
					return err
				}
				end = got
				f.setEnd(end)
			}
			pending = append(pending[:0], data[n:]...)
		}
		f.announce(end)
		if h.ConfirmOffset >= 0 {
			o.Log.SetConfirmOffset(min(h.ConfirmOffset, end))
		}
		if end != reported && !messageBuffered(br) {
			if err := f.ack(); err != nil {
				return err
			}
			reported = end
		}
	}
}

// messageBuffered says whether a whole master message is already in br,
// so reading it will not block: the ack waits for it (a burst of frames
// costs one ack).
func messageBuffered(br *bufio.Reader) bool {
	if br.Buffered() < 8 {
		return false
	}
	h, err := br.Peek(8)
	if err != nil {
		return false
	}
	size := int(int32(binary.BigEndian.Uint32(h[4:8])))
	hdr := TransferHeaderSize
	if State(binary.BigEndian.Uint32(h)) == Handshake {
		hdr = MasterHandshakeHeaderSize
	}
	return size >= 0 && br.Buffered() >= hdr+size
}

// checkFrame: a frame continues this log (an empty one accepts a segment
// start) and stays in one segment.
func (f *followConn) checkFrame(h TransferHeader, want int64) error {
	seg := f.s.opts.Log.SegmentSize()
	switch {
	case want == 0 && h.Offset%seg != 0:
		return fmt.Errorf("%w: empty replica, frame at %d is not a segment start", ha.ErrOffsetMismatch, h.Offset)
	case want != 0 && h.Offset != want:
		return fmt.Errorf("%w: frame at %d, replica end %d", ha.ErrOffsetMismatch, h.Offset, want)
	case int64(h.BodySize) > seg-h.Offset%seg:
		return fmt.Errorf("%w: %d bytes at %d", ha.ErrCrossesSegment, h.BodySize, h.Offset)
	}
	return nil
}

// noteEpoch records the frame's epoch when it is new: it must follow the
// last one (a higher epoch starting past the last start, at or below the
// frame); the same epoch must name the same start. Anything else means
// the logs diverged after the handshake: the connection ends, and the
// next handshake truncates.
func (f *followConn) noteEpoch(h TransferHeader) error {
	ep := f.s.opts.Epochs
	last, ok := ep.Last()
	switch {
	case ok && h.Epoch == last.Epoch && h.EpochStart == last.Start:
		return nil
	case ok && h.Epoch == last.Epoch:
		return fmt.Errorf("%w: epoch %d starts at %d on the master, at %d here", ErrBadMessage, h.Epoch, h.EpochStart, last.Start)
	case h.EpochStart > h.Offset:
		return fmt.Errorf("%w: epoch %d starts at %d, after the frame at %d", ErrBadMessage, h.Epoch, h.EpochStart, h.Offset)
	}
	if err := ep.Append(h.Epoch, h.EpochStart); err != nil {
		return fmt.Errorf("epoch %d at %d from the master: %w", h.Epoch, h.EpochStart, err)
	}
	f.s.log.Info("new master epoch", "epoch", h.Epoch, "start", h.EpochStart)
	return nil
}

// The engine's store is a SlaveLog and a MasterLog.
var (
	_ SlaveLog  = (*engine.Store)(nil)
	_ MasterLog = (*engine.Store)(nil)
)
