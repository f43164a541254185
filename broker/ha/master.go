package ha

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/internal/loglimit"
)

// Errors of a SYNC_MASTER wait (WaitReplicated).
var (
	// ErrNoSlave: no trusted slave is connected and within
	// haMaxGapNotInSync of the record: SLAVE_NOT_AVAILABLE (11).
	ErrNoSlave = errors.New("ha: no slave in sync")
	// ErrSlaveTimeout: no slave confirmed the record within slaveTimeout:
	// FLUSH_SLAVE_TIMEOUT (12).
	ErrSlaveTimeout = errors.New("ha: slave did not confirm in time")
	// ErrClosed: the service closed while waiting.
	ErrClosed = errors.New("ha: closed")
)

// MasterLog is what a master reads from its CommitLog (engine.Store has
// these methods).
type MasterLog interface {
	SegmentSize() int64
	MinPhysOffset() int64
	ReadableOffset() int64
	ReadLog(p []byte, phys int64) error
	WatchReadable() *engine.ReadableWatch
}

// MasterOptions configure a Master.
type MasterOptions struct {
	// Listen is the HA address (haListenPort): host:port. Listener, if
	// set, is used instead: a socket the caller bound (the master then
	// owns it).
	Listen   string
	Listener net.Listener
	Log      MasterLog
	// Heartbeat is haSendHeartbeatInterval; Housekeeping
	// haHousekeepingInterval; BatchSize haTransferBatchSize; MaxGap
	// haMaxGapNotInSync. Zero takes RocketMQ's default.
	Heartbeat, Housekeeping time.Duration
	BatchSize               int
	// CatchUpBatchSize is haCatchUpBatchSize, the largest frame body for
	// a slave a batch or more behind (NewPlanner); zero takes
	// DefaultCatchUpBatchSize.
	CatchUpBatchSize int
	MaxGap           int64
	// FromLastFile starts an empty slave at the segment holding the end
	// (syncFromLastFile) instead of the oldest retained one.
	FromLastFile bool
	// Trusted says whether a peer may count as a slave of this broker:
	// the broker answers from the name servers' list of its slaves. Nil
	// trusts everyone (tests). Reports of an untrusted peer are read and
	// checked but release no SYNC_MASTER wait; it is asked again, at most
	// once per TrustRecheck, while its reports arrive.
	Trusted      func(netip.Addr) bool
	TrustRecheck time.Duration
	// TrustedOnly ships CommitLog bytes only to trusted peers: an
	// untrusted one gets nothing until Trusted says yes (asked again as
	// its reports arrive). A broker with aclEnable sets it: its messages
	// are not for any peer that can reach the HA port.
	TrustedOnly bool
	// MaxUntrusted bounds the connections kept open at once from peers
	// Trusted refuses, counted when each connects (before its first
	// report); one beyond it is closed at once. Zero takes
	// DefaultMaxUntrusted.
	MaxUntrusted int
	// MaxHold bounds how long a frame shorter than a batch waits for the
	// slave's report on the frames before it (see hold in masterconn.go);
	// zero takes DefaultMaxHold, a negative value sends every frame at
	// once.
	MaxHold time.Duration
	Logger  *slog.Logger
}

// Master is the master side of classic HA: it listens on the HA port,
// ships CommitLog bytes to each slave that connects, and tracks what the
// slaves acknowledged, for SYNC_MASTER waits and for status.
type Master struct {
	opts    MasterOptions
	log     *slog.Logger
	ln      net.Listener
	planner Planner

	mu      sync.Mutex
	conns   map[*masterConn]struct{}
	closed  bool
	waiters *Waiters // Notify's callbacks, advanced to trusted slaves' reports

	// startEnd is the log's readable end when this master started, and
	// shipped the highest offset any connection has been sent since: a
	// slave's first report beyond both names bytes it cannot have from
	// this master (see CheckFirstReport).
	startEnd int64
	shipped  atomic.Int64

	closing chan struct{}
	wg      sync.WaitGroup

	strangers loglimit.Limit // warnings about untrusted peers
	// closeLogs limits the warnings about failed connections per slave
	// IP: a slave refused at every redial (ahead of this master, or its
	// log diverged) would log one a second.
	closeLogs loglimit.PerKey[netip.Addr]
}

// WarnEvery is how often at most a master logs about peers that
// are not its slaves: anyone can open connections to the HA port.
const WarnEvery = 10 * time.Second

// warnStranger logs a warning about an untrusted peer, at most once per
// WarnEvery.
func (m *Master) warnStranger(msg string, attrs ...any) {
	m.strangers.Warn(m.log, WarnEvery, msg, attrs...)
}

// NewMaster listens on opts.Listen and serves slaves until Close.
func NewMaster(opts MasterOptions) (*Master, error) {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeatInterval
	}
	if opts.Housekeeping <= 0 {
		opts.Housekeeping = DefaultHousekeepingInterval
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultTransferBatchSize
	}
	if opts.CatchUpBatchSize <= 0 {
		opts.CatchUpBatchSize = DefaultCatchUpBatchSize
	}
	if opts.MaxGap <= 0 {
		opts.MaxGap = DefaultSlaveFallbehindMax
	}
	if opts.MaxHold == 0 {
		opts.MaxHold = DefaultMaxHold
	}
	if opts.TrustRecheck <= 0 {
		opts.TrustRecheck = time.Second
	}
	if opts.MaxUntrusted <= 0 {
		opts.MaxUntrusted = DefaultMaxUntrusted
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	p, err := NewPlanner(opts.Log.SegmentSize(), opts.BatchSize, opts.CatchUpBatchSize)
	if err != nil {
		return nil, err
	}
	ln := opts.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", opts.Listen); err != nil {
			return nil, fmt.Errorf("ha: listen on haListenPort %s: %w", opts.Listen, err)
		}
	}
	m := &Master{
		opts: opts, log: opts.Logger.With("component", "ha-master"), ln: ln, planner: p,
		conns: map[*masterConn]struct{}{}, closing: make(chan struct{}),
		waiters: NewWaiters(), startEnd: opts.Log.ReadableOffset(),
	}
	m.wg.Add(1)
	go m.accept()
	m.log.Info("HA port listening", "addr", ln.Addr().String())
	return m, nil
}

// Addr is the address the HA port listens on.
func (m *Master) Addr() string { return m.ln.Addr().String() }

// Close stops listening, closes every slave connection and waits for
// their goroutines; waiting sends get ErrClosed.
func (m *Master) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.closing)
	conns := make([]net.Conn, 0, len(m.conns))
	for c := range m.conns {
		conns = append(conns, c.conn)
	}
	m.mu.Unlock()
	// Closed outside m.mu: a TLS close may wait up to 5 s to write its
	// close_notify to a slave that reads nothing, and every SYNC_MASTER
	// send asks m.mu.
	for _, c := range conns {
		c.Close()
	}
	m.waiters.Close()
	err := m.ln.Close()
	m.wg.Wait()
	return err
}

func (m *Master) accept() {
	defer m.wg.Done()
	AcceptLoop(m.ln, m.closing, m.log, func(nc net.Conn) bool {
		c := &masterConn{m: m, conn: nc, remote: remoteAddr(nc), prev: -1, next: -1, since: time.Now()}
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.closed {
			return false
		}
		m.conns[c] = struct{}{}
		m.wg.Add(1)
		go c.serve()
		return true
	})
}

func remoteAddr(nc net.Conn) netip.AddrPort {
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	return netip.AddrPort{}
}

// InSync reports whether a SYNC_MASTER send whose record ends at end can
// wait for a slave: some trusted slave is connected and within MaxGap of
// it (RocketMQ's isSlaveOK).
func (m *Master) InSync(end int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for c := range m.conns {
		if c.trusted && c.prev >= 0 && end-c.prev < m.opts.MaxGap {
			return true
		}
	}
	return false
}

// WaitReplicated blocks until a trusted slave has acknowledged every byte
// before end, for at most timeout. It returns ErrNoSlave at once when no
// slave is in sync (InSync), ErrSlaveTimeout when the time runs out, and
// ErrClosed when the service closes.
func (m *Master) WaitReplicated(end int64, timeout time.Duration) error {
	return Wait(m, end, timeout)
}

// Notify is WaitReplicated without the wait: done gets its result (nil,
// ErrNoSlave, ErrSlaveTimeout or ErrClosed) once known, possibly before
// Notify returns, otherwise on the goroutine that read the slave's report
// (or on a timer's), so done must not block. Every waiter a report covers
// is answered by that one goroutine: nothing parks per send.
func (m *Master) Notify(end int64, timeout time.Duration, done func(error)) {
	if !m.InSync(end) {
		done(ErrNoSlave)
		return
	}
	m.waiters.Add(end, timeout, done)
}

// SlaveStatus describes one connected slave.
type SlaveStatus struct {
	// Addr is the slave's address on the HA connection.
	Addr string
	// Trusted: the name servers list this address as a slave of this
	// broker name, so its reports count.
	Trusted bool
	// Acked is the slave's last report: its CommitLog end (-1 before the
	// first).
	Acked int64
	// LagBytes is the master's readable end minus Acked.
	LagBytes int64
	// Lag is how long the slave has been behind: zero when it holds
	// everything readable, else the time since it last did (or since it
	// connected).
	Lag time.Duration
	// Connected is when the connection was accepted.
	Connected time.Time
	// Frames is the number of frames with bytes sent to the slave.
	Frames int64
}

// Slaves lists the connected slaves, by address.
func (m *Master) Slaves() []SlaveStatus {
	end := m.opts.Log.ReadableOffset()
	now := time.Now()
	m.mu.Lock()
	out := make([]SlaveStatus, 0, len(m.conns))
	for c := range m.conns {
		st := SlaveStatus{Addr: c.remote.String(), Trusted: c.trusted, Acked: c.prev, Connected: c.since, Frames: c.frames.Load()}
		if c.prev >= 0 {
			st.LagBytes = max(end-c.prev, 0)
		} else {
			st.LagBytes = end
		}
		if st.LagBytes > 0 {
			st.Lag = now.Sub(c.caughtUp)
			if c.caughtUp.IsZero() {
				st.Lag = now.Sub(c.since)
			}
		}
		out = append(out, st)
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out
}

// acknowledgeLocked records a checked report of c. It returns whether the
// report counts for SYNC_MASTER sends (a trusted slave's): the caller then
// advances Notify's waiters to it, outside m.mu (they keep the highest).
// REQUIRES: m.mu held.
func (m *Master) acknowledgeLocked(c *masterConn, got int64, readable int64) bool {
	c.prev = got
	if got >= readable {
		c.caughtUp = time.Now()
	}
	return c.trusted
}

// warnClosed logs that a trusted slave's connection failed, at most once
// per WarnEvery per slave IP.
func (m *Master) warnClosed(c *masterConn, err error) {
	m.closeLogs.Warn(c.remote.Addr(), m.log, WarnEvery, "HA connection closed", "slave", c.remote.String(), "err", err)
}

// admitUntrusted reports whether c, a connection from a peer Trusted
// refused, may stay open (AdmitUntrusted).
func (m *Master) admitUntrusted(c *masterConn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return AdmitUntrusted(m.conns, c, func(x *masterConn) bool { return x.trusted }, m.opts.MaxUntrusted)
}

func (m *Master) remove(c *masterConn) {
	m.mu.Lock()
	delete(m.conns, c)
	m.mu.Unlock()
}
