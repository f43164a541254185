package autoswitch

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/wharfmq/wharf/broker/ha"
	"github.com/wharfmq/wharf/broker/ha/epoch"
	"github.com/wharfmq/wharf/internal/loglimit"
)

// MasterLog is what a failover-mode master reads (engine.Store has these
// methods).
type MasterLog interface {
	ha.MasterLog
	MaxPhysOffset() int64
}

// MasterOptions configure a Master.
type MasterOptions struct {
	// Listen is the HA address; Listener, if set, is used instead (the
	// master then owns it).
	Listen   string
	Listener net.Listener
	Log      MasterLog
	// Epochs is this store's epoch file; the caller has appended the
	// master's epoch (at its end) before starting the master.
	Epochs *epoch.File
	// BrokerID is this broker's replica id (it is in its own SyncStateSet).
	BrokerID int64
	// SyncStateSet returns the current in-sync replica ids (the
	// controller's), this broker's included. It is called under the
	// master's lock: it must not call the Master.
	SyncStateSet func() []int64
	// OnConfirm is called when the confirm offset grows, under the
	// master's lock (so never concurrently, and it must not call the
	// Master); the broker passes it to the store
	// (engine.Store.SetConfirmOffset).
	OnConfirm func(int64)
	// Heartbeat, Housekeeping, BatchSize: as in package ha (zero takes
	// RocketMQ's default).
	Heartbeat, Housekeeping time.Duration
	BatchSize               int
	// CatchUpBatchSize: as ha.MasterOptions.CatchUpBatchSize.
	CatchUpBatchSize int
	// MaxHold: as ha.MasterOptions.MaxHold; it also bounds how long a
	// grown confirm offset waits for a frame to carry it.
	MaxHold time.Duration
	// Trusted says whether the peer at ip may be replica id (the name
	// servers list that id of this broker name at that IP); id -1 asks
	// whether ip is any replica's. Only a trusted connection's
	// acknowledgements count towards the confirm offset and it alone is
	// a follower the SyncStateSet may take in: anyone who reaches the HA
	// port can claim any id in its handshake. Nil trusts every peer.
	// While a connection is not trusted it is asked again at most once
	// per TrustRecheck (zero: a second), as its acknowledgements arrive.
	Trusted      func(id int64, ip netip.Addr) bool
	TrustRecheck time.Duration
	// TrustedOnly (aclEnable) sends CommitLog bytes only to trusted
	// connections.
	TrustedOnly bool
	// MaxUntrusted bounds the connections kept open at once from peers
	// whose IP is no replica's, counted when each connects; one beyond
	// it is closed at once. Zero takes ha.DefaultMaxUntrusted.
	MaxUntrusted int
	Logger       *slog.Logger
}

// Master is the master side of AutoSwitch HA: per slave, it answers the
// handshake with its epoch list, ships CommitLog bytes from where the
// slave asks (after the slave truncated to the consistent point), each
// frame inside one epoch, one segment and haTransferBatchSize, and tracks
// every slave's acknowledged end. The confirm offset is the smallest
// acknowledged end over the SyncStateSet (see ConfirmOffset).
type Master struct {
	opts    MasterOptions
	log     *slog.Logger
	ln      net.Listener
	planner ha.Planner

	mu      sync.Mutex
	conns   map[*masterConn]struct{}
	confirm int64
	wake    chan struct{} // closed and replaced when confirm grows
	closed  bool
	waiters *ha.Waiters // Notify's callbacks, advanced to confirm outside mu

	closing chan struct{}
	wg      sync.WaitGroup

	strangers loglimit.Limit // warnings about untrusted peers
	// closeLogs limits the warnings about failed connections per peer
	// IP: a replica refused at every redial would log one a second.
	closeLogs loglimit.PerKey[netip.Addr]
}

// NewMaster listens and serves slaves until Close.
func NewMaster(opts MasterOptions) (*Master, error) {
	if opts.Log == nil || opts.Epochs == nil || opts.SyncStateSet == nil {
		return nil, errors.New("autoswitch: MasterOptions needs Log, Epochs and SyncStateSet")
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = ha.DefaultHeartbeatInterval
	}
	if opts.Housekeeping <= 0 {
		opts.Housekeeping = ha.DefaultHousekeepingInterval
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = ha.DefaultTransferBatchSize
	}
	if opts.CatchUpBatchSize <= 0 {
		opts.CatchUpBatchSize = ha.DefaultCatchUpBatchSize
	}
	if opts.MaxHold == 0 {
		opts.MaxHold = ha.DefaultMaxHold
	}
	if opts.TrustRecheck <= 0 {
		opts.TrustRecheck = time.Second
	}
	if opts.MaxUntrusted <= 0 {
		opts.MaxUntrusted = ha.DefaultMaxUntrusted
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// A RocketMQ 5 replica reads a whole TRANSFER, header and body, into
	// its 4 MiB buffer; the header here is longer than ha's.
	opts.BatchSize = min(opts.BatchSize, MaxTransferBody)
	opts.CatchUpBatchSize = min(opts.CatchUpBatchSize, MaxTransferBody)
	p, err := ha.NewPlanner(opts.Log.SegmentSize(), opts.BatchSize, opts.CatchUpBatchSize)
	if err != nil {
		return nil, err
	}
	ln := opts.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", opts.Listen); err != nil {
			return nil, fmt.Errorf("autoswitch: listen on %s: %w", opts.Listen, err)
		}
	}
	m := &Master{
		opts: opts, log: opts.Logger.With("component", "autoswitch-master"), ln: ln, planner: p,
		conns: map[*masterConn]struct{}{}, wake: make(chan struct{}), closing: make(chan struct{}),
		waiters: ha.NewWaiters(),
	}
	// Alone in its SyncStateSet a master confirms what it holds; with
	// others it confirms nothing new until they acknowledge.
	m.confirm = -1
	m.recompute()
	m.wg.Add(2)
	go m.accept()
	go m.followReadable()
	m.log.Info("AutoSwitch HA port listening", "addr", ln.Addr().String(), "epoch", opts.Epochs.LastEpoch())
	return m, nil
}

// followReadable recomputes the confirm offset as the log grows: alone
// in its SyncStateSet a master confirms its readable end at once.
func (m *Master) followReadable() {
	defer m.wg.Done()
	watch := m.opts.Log.WatchReadable()
	defer watch.Stop()
	tick := time.NewTicker(m.opts.Heartbeat) // the set may change without an append
	defer tick.Stop()
	for {
		select {
		case <-watch.C:
		case <-tick.C:
		case <-m.closing:
			return
		}
		m.recompute()
	}
}

// Addr is the listening address.
func (m *Master) Addr() string { return m.ln.Addr().String() }

// Close stops listening, closes every connection and waits.
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
	ha.AcceptLoop(m.ln, m.closing, m.log, func(nc net.Conn) bool {
		c := &masterConn{m: m, conn: nc, ack: -1, id: -1, started: make(chan int64, 1), done: make(chan struct{}),
			acked: make(chan struct{}, 1), trusted: make(chan struct{})}
		if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
			c.ip = ap.Addr().Unmap()
		}
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

// ConfirmOffset is the offset below which every member of the SyncStateSet
// holds the log (RocketMQ's computeConfirmOffset): the smallest
// acknowledged end over the members other than this broker, capped at the
// readable end. While a member is not connected, or has not acknowledged
// yet, it keeps its last value (apache/rocketmq#6662; RocketMQ skips a
// connected member that has not acknowledged, Wharf waits for it).
func (m *Master) ConfirmOffset() int64 { return m.recompute() }

// recompute is recomputeLocked for a caller not holding m.mu; it also
// answers the Notify waiters the confirm offset covers. It returns the
// confirm offset.
func (m *Master) recompute() int64 {
	m.mu.Lock()
	m.recomputeLocked()
	confirm := m.confirm
	m.mu.Unlock()
	m.waiters.Advance(confirm)
	return confirm
}

// recomputeLocked updates the confirm offset and, when it grew, wakes the
// senders and tells OnConfirm. The caller answers Notify's waiters once it
// has released m.mu (recompute does).
// REQUIRES: m.mu held.
func (m *Master) recomputeLocked() {
	next := m.opts.Log.ReadableOffset()
	// Runs on every acknowledgement: a scan of the few connections per
	// member, no allocation.
	for _, id := range m.opts.SyncStateSet() {
		if id == m.opts.BrokerID {
			continue
		}
		a := int64(-1)
		for c := range m.conns {
			if c.id == id && c.isTrusted && c.ack > a {
				a = c.ack
			}
		}
		if a < 0 {
			return // keep the last value
		}
		next = min(next, a)
	}
	if next <= m.confirm {
		return
	}
	m.confirm = next
	close(m.wake)
	m.wake = make(chan struct{})
	if m.opts.OnConfirm != nil {
		m.opts.OnConfirm(next)
	}
}

// WaitConfirmed blocks until the confirm offset reaches end (every member
// of the SyncStateSet holds the bytes before it: allAckInSyncStateSet), for
// at most timeout. It returns ha.ErrSlaveTimeout when the time runs out,
// ha.ErrClosed when the master closes.
func (m *Master) WaitConfirmed(end int64, timeout time.Duration) error {
	return ha.Wait(m, end, timeout)
}

// Notify is WaitConfirmed without the wait: done gets its result (nil,
// ha.ErrSlaveTimeout or ha.ErrClosed) once known, possibly before Notify
// returns, otherwise on the goroutine that read the acknowledgement that
// moved the confirm offset (or on a timer's), so done must not block.
func (m *Master) Notify(end int64, timeout time.Duration, done func(error)) {
	m.recompute() // the set may have changed since the last acknowledgement
	m.waiters.Add(end, timeout, done)
}

// SlaveAck is one connected slave's state, for status and tests.
type SlaveAck struct {
	ID      int64 // the id from its handshake
	Learner bool  // isAsyncLearner
	// Trusted: the name servers list ID at the peer's IP (see
	// MasterOptions.Trusted); an untrusted peer's acks count for nothing.
	Trusted bool
	Acked   int64 // its last acknowledged end (-1 before the first)
	// CaughtUp is when an ack last reached the master's readable end
	// (zero: never): the SyncStateSet takes back a replica that caught
	// up within haMaxTimeSlaveNotCatchup.
	CaughtUp time.Time
}

// Slaves lists the connected slaves that completed a handshake, by id.
func (m *Master) Slaves() []SlaveAck {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []SlaveAck
	for c := range m.conns {
		if c.id >= 0 {
			out = append(out, SlaveAck{ID: c.id, Learner: c.learner, Trusted: c.isTrusted, Acked: c.ack, CaughtUp: c.caughtUp})
		}
	}
	slices.SortFunc(out, func(a, b SlaveAck) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// masterConn is one slave's connection: a reader of its messages (this
// goroutine) and a sender of frames.
type masterConn struct {
	m    *Master
	conn net.Conn
	ip   netip.Addr // the peer's

	// Guarded by m.mu.
	id        int64 // from the handshake; -1 before
	learner   bool
	isTrusted bool      // Trusted(id, ip) said yes; never reverts
	checked   time.Time // when Trusted was last asked
	ack       int64     // last acknowledged end; -1 before the first
	caughtUp  time.Time

	// fromLastFile is the handshake's isSyncFromLastFile: written by the
	// reader before it sends on started, read by the sender after.
	fromLastFile bool
	started      chan int64    // the first ack: where to send from
	done         chan struct{} // closed when the reader stops
	acked        chan struct{} // gets a value after each ack (the sender's hold)
	trusted      chan struct{} // closed once isTrusted is set
}

func (c *masterConn) serve() {
	defer c.m.wg.Done()
	// Strangers (an IP that is no replica's) are let in up to
	// MaxUntrusted at once: each holds two goroutines and a buffer.
	if !c.m.trustedIP(c.ip) && !c.m.admitUntrusted(c) {
		c.conn.Close()
		c.m.mu.Lock()
		delete(c.m.conns, c)
		c.m.mu.Unlock()
		c.m.warnStranger("AutoSwitch HA connection refused: too many peers the name servers do not list as replicas of this broker are connected",
			"peer", c.conn.RemoteAddr().String(), "maxUntrusted", c.m.opts.MaxUntrusted)
		return
	}
	e := ha.ServeConn(&c.m.wg, c.conn, c.done, c.send, c.read)
	c.m.mu.Lock()
	delete(c.m.conns, c)
	trusted, id := c.isTrusted, c.id
	c.m.mu.Unlock()
	switch {
	case !trusted:
		c.m.warnStranger("AutoSwitch HA connection of a peer not listed as a replica closed",
			"peer", c.conn.RemoteAddr().String(), "claimedId", id, "err", e)
	case e != nil:
		c.m.warnClosed(c, e)
	default:
		c.m.log.Info("AutoSwitch HA connection closed", "slave", c.conn.RemoteAddr().String())
	}
}

// trustedIP says whether ip is some replica's (Trusted(-1, ip)).
func (m *Master) trustedIP(ip netip.Addr) bool {
	return m.opts.Trusted == nil || m.opts.Trusted(-1, ip)
}

// admitUntrusted reports whether c, a connection from an IP that is no
// replica's, may stay open (ha.AdmitUntrusted).
func (m *Master) admitUntrusted(c *masterConn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return ha.AdmitUntrusted(m.conns, c, func(x *masterConn) bool { return x.isTrusted }, m.opts.MaxUntrusted)
}

// warnStranger logs a warning about an untrusted peer, at most once per
// ha.WarnEvery: anyone can open connections to the HA port.
func (m *Master) warnStranger(msg string, attrs ...any) {
	m.strangers.Warn(m.log, ha.WarnEvery, msg, attrs...)
}

// warnClosed logs that a trusted replica's connection failed, at most
// once per ha.WarnEvery per IP: a replica refused at every redial (its
// id is this master's, or no consistent point) would log one a second.
func (m *Master) warnClosed(c *masterConn, err error) {
	m.closeLogs.Warn(c.ip, m.log, ha.WarnEvery, "AutoSwitch HA connection closed", "slave", c.conn.RemoteAddr().String(), "err", err)
}

// refreshTrust asks Trusted whether the peer may be the replica its
// handshake named: at the handshake (first), then, while it is not
// trusted, at most once per TrustRecheck (the replica may register with
// the name servers after it connects). Once trusted it stays so.
func (c *masterConn) refreshTrust(first bool) {
	m := c.m
	m.mu.Lock()
	if c.isTrusted || c.id < 0 || (!first && time.Since(c.checked) < m.opts.TrustRecheck) {
		m.mu.Unlock()
		return
	}
	c.checked = time.Now()
	id := c.id
	m.mu.Unlock()
	if m.opts.Trusted != nil && !m.opts.Trusted(id, c.ip) {
		return
	}
	m.mu.Lock()
	c.isTrusted = true
	m.recomputeLocked()
	confirm := m.confirm
	m.mu.Unlock()
	close(c.trusted)
	m.waiters.Advance(confirm)
}

// read takes the handshake, answers it, then reads acks.
func (c *masterConn) read() error {
	var buf [SlaveHandshakeSize]byte
	first := true
	for {
		if err := c.conn.SetReadDeadline(time.Now().Add(c.m.opts.Housekeeping)); err != nil {
			return err
		}
		msg, err := ReadSlaveMessage(c.conn, &buf)
		if err != nil {
			return err
		}
		c.m.mu.Lock()
		handshaken := c.id >= 0
		c.m.mu.Unlock()
		switch {
		case msg.State == Handshake && !handshaken:
			if msg.Handshake.BrokerID < 0 || msg.Handshake.BrokerID == c.m.opts.BrokerID {
				return fmt.Errorf("%w: slave handshake with broker id %d", ErrBadMessage, msg.Handshake.BrokerID)
			}
			c.m.mu.Lock()
			c.id, c.learner = msg.Handshake.BrokerID, msg.Handshake.AsyncLearner
			c.m.mu.Unlock()
			c.refreshTrust(true)
			if err := c.handshake(msg.Handshake); err != nil {
				return err
			}
		case msg.State == Transfer && handshaken:
			c.refreshTrust(false)
			readable := c.m.opts.Log.ReadableOffset()
			c.m.mu.Lock()
			err := ha.CheckReport(c.ack, msg.Ack, readable)
			if err == nil {
				c.ack = msg.Ack
				if msg.Ack >= readable {
					c.caughtUp = time.Now()
				}
				c.m.recomputeLocked()
			}
			confirm := c.m.confirm
			c.m.mu.Unlock()
			if err != nil {
				return err
			}
			c.m.waiters.Advance(confirm)
			if first {
				first = false
				c.started <- msg.Ack
			}
			select {
			case c.acked <- struct{}{}:
			default:
			}
		default:
			return fmt.Errorf("%w: %v from a slave that has%s shaken hands", ErrState, msg.State, map[bool]string{true: "", false: " not"}[handshaken])
		}
	}
}

// handshake answers with the epoch list and the readable end (the slave
// finds the consistent point below it).
func (c *masterConn) handshake(h SlaveHandshake) error {
	entries := c.m.opts.Epochs.Entries()
	if len(entries) > MaxEpochEntries {
		entries = entries[len(entries)-MaxEpochEntries:]
	}
	b, err := AppendMasterHandshake(nil, MasterHandshake{
		MaxOffset: c.m.opts.Log.ReadableOffset(), LastEpoch: c.m.opts.Epochs.LastEpoch(), Entries: entries,
	})
	if err != nil {
		return err
	}
	c.fromLastFile = h.SyncFromLastFile
	return c.write(b)
}

func (c *masterConn) write(b []byte) error {
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.m.opts.Housekeeping)); err != nil {
		return err
	}
	if _, err := c.conn.Write(b); err != nil {
		return fmt.Errorf("write to the slave: %w", err)
	}
	return nil
}

// send ships frames from the slave's first ack on: every batch as soon as
// it is readable, each inside one epoch (and one segment and BatchSize),
// a heartbeat when the confirm offset grew since the last frame, and one
// after Heartbeat of silence. A short frame waits while the slave has
// not acknowledged the ones before it (ha.Hold), and a grown confirm
// offset waits, as long, for a frame to carry it: under synchronous
// producers a frame and an ack per send, plus a heartbeat per confirm,
// would cost the master more than the sends themselves.
func (c *masterConn) send() error {
	var start int64
	select {
	case start = <-c.started:
	case <-c.done:
		return nil
	}
	if c.m.opts.TrustedOnly {
		// aclEnable: nothing of the CommitLog for a peer that is not a
		// listed replica.
		select {
		case <-c.trusted:
		case <-c.done:
			return nil
		}
	}
	lg := c.m.opts.Log
	next, err := c.m.planner.Start(start, lg.MinPhysOffset(), lg.ReadableOffset(), c.fromLastFile)
	if err != nil {
		return err
	}
	watch := lg.WatchReadable()
	defer watch.Stop()
	var hdr [TransferHeaderSize]byte
	buf := make([]byte, c.m.planner.MaxFrame())
	heartbeat := time.NewTimer(c.m.opts.Heartbeat)
	defer heartbeat.Stop()
	held := ha.Hold{Max: c.m.opts.MaxHold}        // a short frame
	confirmHeld := ha.Hold{Max: c.m.opts.MaxHold} // a confirm offset with no frame
	sent := int64(-1)                             // the confirm offset the slave last got
	for {
		c.m.mu.Lock()
		c.m.recomputeLocked()
		confirm, wake, unacked := c.m.confirm, c.m.wake, c.ack < next
		c.m.mu.Unlock()
		c.m.waiters.Advance(confirm)
		from, to := c.m.planner.Next(next, lg.ReadableOffset())
		if to > from {
			e, ok := c.m.opts.Epochs.EntryFor(from)
			if !ok {
				return fmt.Errorf("no epoch holds offset %d (epochs %v): bytes below the first epoch cannot be replicated in failover mode",
					from, c.m.opts.Epochs.Entries())
			}
			short := c.m.planner.Short(from, to) && to <= e.End
			if !held.Wait(short && unacked) {
				to = min(to, e.End)
				body := buf[:to-from]
				if err := lg.ReadLog(body, from); err != nil {
					return fmt.Errorf("read the CommitLog for the slave: %w", err)
				}
				h := TransferHeader{BodySize: int32(len(body)), Offset: from, Epoch: e.Epoch, EpochStart: e.Start, ConfirmOffset: confirm}
				if err := c.frame(&hdr, h, body); err != nil {
					return err
				}
				next, sent = to, confirm
				held.Sent()
				confirmHeld.Sent()
				heartbeat.Reset(c.m.opts.Heartbeat)
				continue
			}
		}
		if confirm > sent && !confirmHeld.Wait(true) {
			if err := c.heartbeat(&hdr, next, confirm); err != nil {
				return err
			}
			sent = confirm
			confirmHeld.Sent()
			heartbeat.Reset(c.m.opts.Heartbeat)
			continue
		}
		select {
		case <-watch.C:
		case <-wake:
		case <-c.acked:
		case <-held.Expired():
		case <-confirmHeld.Expired():
		case <-heartbeat.C:
			if err := c.heartbeat(&hdr, next, confirm); err != nil {
				return err
			}
			sent = confirm
			confirmHeld.Sent()
			heartbeat.Reset(c.m.opts.Heartbeat)
		case <-c.done:
			return nil
		}
	}
}

// heartbeat sends an empty frame at next with the last epoch.
func (c *masterConn) heartbeat(hdr *[TransferHeaderSize]byte, next, confirm int64) error {
	e, _ := c.m.opts.Epochs.Last()
	return c.frame(hdr, TransferHeader{Offset: next, Epoch: e.Epoch, EpochStart: e.Start, ConfirmOffset: confirm}, nil)
}

// frame writes a header and its body in one system call.
func (c *masterConn) frame(hdr *[TransferHeaderSize]byte, h TransferHeader, body []byte) error {
	PutTransferHeader(hdr, h)
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.m.opts.Housekeeping)); err != nil {
		return err
	}
	bufs := net.Buffers{hdr[:], body}
	if _, err := bufs.WriteTo(c.conn); err != nil {
		return fmt.Errorf("send frame at %d to the slave: %w", h.Offset, err)
	}
	return nil
}
