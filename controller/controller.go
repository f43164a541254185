package controller

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/wharfmq/wharf/controller/api"
	"github.com/wharfmq/wharf/controller/fsm"
	"github.com/wharfmq/wharf/remoting"
)

// Timeouts of the controller's own work.
const (
	// applyTimeout bounds one Raft proposal.
	applyTimeout = 5 * time.Second
	// barrierTimeout bounds the wait, on gaining leadership, until every
	// committed entry is applied.
	barrierTimeout = 10 * time.Second
	// electRetryWait separates the leader's attempts to elect for one group.
	electRetryWait = 500 * time.Millisecond
	// electRescanWait separates rounds of attempts for one group.
	electRescanWait = 5 * time.Second
)

// ErrNotLeader is returned by operations only the leader performs.
var ErrNotLeader = errors.New("controller: not the leader")

// Controller is one member of the controller Raft group, with its shared
// Raft and remoting listener, its heartbeat table and, while it leads, the
// loop that replaces dead masters.
type Controller struct {
	cfg  Config
	log  *slog.Logger
	self Peer
	live *liveness
	fsm  *raftFSM
	rs   *remoting.Server // on the peer port
	rc   *remoting.Client // 1008 to brokers not connected to us

	// decideMu serializes decide-then-propose, so every decision sees the
	// state every earlier proposal left.
	decideMu sync.Mutex
	// leading is true once this controller leads and has applied every
	// entry committed before.
	leading atomic.Bool

	mu struct {
		sync.Mutex
		conns   map[uint64]*remoting.Conn // brokers' connections, for 1008
		started bool
		closed  bool
	}

	// Set by Start. raft is atomic: the remoting server is already
	// answering (GET_METADATA asks for the leader) when it is set.
	mux   *mux
	raft  atomic.Pointer[raft.Raft]
	trans *raft.NetworkTransport
	store *raftboltdb.BoltStore

	quit chan struct{}
	wg   sync.WaitGroup

	// authorize is the hosting name server's ACL check (SetAuthorize),
	// applied on the peer port too; nil: every request passes.
	authorize atomic.Pointer[func(*remoting.Conn, *remoting.Command) *remoting.Command]
}

// SetAuthorize makes the controller's own port (the peer port) refuse
// what f refuses (f returns nil to let a request run, else the refusal):
// a name server with ACL hosting a controller passes its check, so the
// peer port, which brokers may list in controllerAddr, is no way around
// it.
func (c *Controller) SetAuthorize(f func(*remoting.Conn, *remoting.Command) *remoting.Command) {
	c.authorize.Store(&f)
}

// authorizePeerPort is the peer port's remoting Authorize hook.
func (c *Controller) authorizePeerPort(conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	if f := c.authorize.Load(); f != nil && *f != nil {
		return (*f)(conn, req)
	}
	return nil
}

// New validates cfg and returns a controller that is not yet started.
func New(cfg Config, log *slog.Logger) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	self, _ := cfg.Self()
	log = log.With("component", "controller", "id", self.ID)
	c := &Controller{
		cfg:  cfg,
		log:  log,
		self: self,
		live: newLiveness(cfg.HeartbeatTimeout, cfg.BrokerLease+cfg.LeaseMargin),
		fsm:  newRaftFSM(log),
		quit: make(chan struct{}),
	}
	c.mu.conns = map[uint64]*remoting.Conn{}
	c.fsm.onApply = c.applied
	c.rs = remoting.NewServer(remoting.ServerOptions{Logger: log, OnClose: c.ConnClosed, Authorize: c.authorizePeerPort})
	c.Register(c.rs)
	c.rc = remoting.NewClient(remoting.ClientOptions{Logger: log, DialTimeout: time.Second})
	return c, nil
}

// Start opens the Raft store under StorePath, listens on this controller's
// peer address and joins the group. A fresh store bootstraps the group
// from Peers; an existing one keeps its own configuration.
func (c *Controller) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.mu.closed:
		return errors.New("controller: closed")
	case c.mu.started:
		return errors.New("controller: already started")
	}
	if err := c.start(); err != nil {
		// A controller that failed to start is closed: Close does nothing.
		c.mu.closed = true
		return errors.Join(err, c.stopLocked())
	}
	c.mu.started = true
	c.wg.Add(2)
	go c.leaderLoop()
	go c.scanLoop()
	c.log.Info("controller started", "addr", c.self.Addr, "peers", FormatPeers(c.cfg.Peers), "store", c.cfg.StorePath,
		"heartbeat_timeout", c.cfg.HeartbeatTimeout, "lease", c.cfg.BrokerLease, "lease_margin", c.cfg.LeaseMargin)
	return nil
}

func (c *Controller) start() error {
	if err := os.MkdirAll(c.cfg.StorePath, 0o755); err != nil {
		return fmt.Errorf("controller: store %s: %w", c.cfg.StorePath, err)
	}
	store, err := raftboltdb.NewBoltStore(filepath.Join(c.cfg.StorePath, "raft.db"))
	if err != nil {
		return fmt.Errorf("controller: open %s: %w", filepath.Join(c.cfg.StorePath, "raft.db"), err)
	}
	c.store = store
	hl := hclogger(c.log)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(c.cfg.StorePath, 2, hl)
	if err != nil {
		return fmt.Errorf("controller: snapshots in %s: %w", c.cfg.StorePath, err)
	}
	ln, err := net.Listen("tcp", c.self.Addr)
	if err != nil {
		return fmt.Errorf("controller: listen %s: %w", c.self.Addr, err)
	}
	addrs := make([]string, len(c.cfg.Peers))
	for i, p := range c.cfg.Peers {
		addrs[i] = p.Addr
	}
	c.mux = newMux(ln, newPeerIPs(addrs), c.log)
	if err := c.rs.StartListener(c.mux.remoting); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	c.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  raftStream{c.mux.raft},
		MaxPool: 3,
		Timeout: 2 * time.Second,
		Logger:  hl,
	})
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(c.self.ID)
	conf.HeartbeatTimeout = c.cfg.RaftHeartbeatTimeout
	conf.ElectionTimeout = c.cfg.RaftHeartbeatTimeout
	// A leader steps down after this long without a quorum. Fencing does
	// not rely on it (renewals are answered after VerifyLeader), so it is
	// as long as Raft allows: a loaded machine flaps less.
	conf.LeaderLeaseTimeout = c.cfg.RaftHeartbeatTimeout
	conf.CommitTimeout = 20 * time.Millisecond
	conf.SnapshotThreshold = 1024
	conf.TrailingLogs = 1024
	conf.Logger = hl
	has, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return fmt.Errorf("controller: read raft state: %w", err)
	}
	if !has {
		var servers []raft.Server
		for _, p := range c.cfg.Peers {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
		}
		if err := raft.BootstrapCluster(conf, store, store, snaps, c.trans, raft.Configuration{Servers: servers}); err != nil {
			return fmt.Errorf("controller: bootstrap: %w", err)
		}
	}
	r, err := raft.NewRaft(conf, c.fsm, store, store, snaps, c.trans)
	if err != nil {
		return fmt.Errorf("controller: start raft: %w", err)
	}
	c.raft.Store(r)
	return nil
}

// Addr returns the peer address (Raft and remoting).
func (c *Controller) Addr() string { return c.self.Addr }

// IsLeader reports whether this controller leads and is ready to decide.
func (c *Controller) IsLeader() bool { return c.leading.Load() }

// Leader returns the leader's id and address as Raft knows them ("" if none).
func (c *Controller) Leader() (id, addr string) {
	r := c.raft.Load()
	if r == nil {
		return "", ""
	}
	a, i := r.LeaderWithID()
	return string(i), string(a)
}

// Close leaves the group (without removing itself from the
// configuration), stops serving and waits for every goroutine it started.
func (c *Controller) Close() error {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil
	}
	c.mu.closed = true
	started := c.mu.started
	c.mu.Unlock()
	close(c.quit)
	c.wg.Wait()
	err := c.stopLocked()
	if started {
		c.log.Info("controller stopped")
	}
	return err
}

// stopLocked releases what start opened, in reverse order.
func (c *Controller) stopLocked() error {
	var errs []error
	c.leading.Store(false)
	if r := c.raft.Load(); r != nil {
		if err := r.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("controller: raft shutdown: %w", err))
		}
	}
	if err := c.rs.Close(); err != nil {
		errs = append(errs, err)
	}
	if c.trans != nil {
		c.trans.CloseStreams()
		_ = c.trans.Close()
	}
	if c.mux != nil {
		c.mux.close()
	}
	_ = c.rc.Close()
	if c.store != nil {
		if err := c.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("controller: close raft store: %w", err))
		}
	}
	return errors.Join(errs...)
}

// leaderLoop follows Raft leadership. On gaining it, it waits until every
// committed entry is applied (Barrier), then starts the grace during which
// no master is declared gone (it has not seen their heartbeats), then
// serves as leader.
func (c *Controller) leaderLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.quit:
			return
		case isLeader := <-c.raft.Load().LeaderCh():
			if !isLeader {
				if c.leading.Swap(false) {
					c.log.Info("controller leadership lost")
				}
				continue
			}
			if err := c.raft.Load().Barrier(barrierTimeout).Error(); err != nil {
				c.log.Warn("controller: leader barrier failed", "err", err)
				continue
			}
			c.live.startGrace(c.grace())
			c.leading.Store(c.raft.Load().State() == raft.Leader)
			if c.leading.Load() {
				c.log.Info("controller leads", "grace", c.grace())
			}
		}
	}
}

// grace is how long a new leader treats every master as possibly holding
// its lease: the longer of the heartbeat timeout and lease + margin.
func (c *Controller) grace() time.Duration {
	return max(c.cfg.HeartbeatTimeout, c.cfg.BrokerLease+c.cfg.LeaseMargin)
}

// scanLoop, on the leader, elects a new master for every group whose master
// can no longer hold its lease.
func (c *Controller) scanLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.ScanInterval)
	defer t.Stop()
	attempts := map[string]int{}   // failed attempts in this round, per group
	next := map[string]time.Time{} // no attempt before, per group
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
		}
		if !c.leading.Load() {
			clear(attempts)
			clear(next)
			continue
		}
		var names []string
		c.fsm.read(func(s *fsm.State) { names = s.NeedReelect(c.live) })
		now := time.Now()
		for _, name := range names {
			if now.Before(next[name]) {
				continue
			}
			_, code, err := c.elect(api.ElectMasterRequest{BrokerName: name, BrokerID: api.ControllerTriggered, InvokeTime: now.UnixMilli()})
			if err == nil && (code == remoting.RespSuccess || code == api.RespMasterStillExist) {
				delete(attempts, name)
				continue
			}
			attempts[name]++
			next[name] = now.Add(electRetryWait)
			c.log.Warn("controller: master gone, election failed", "broker_name", name, "attempt", attempts[name], "code", code, "err", err)
			if attempts[name] >= c.cfg.ElectMasterRetries {
				// As RocketMQ's periodic rescan: try again later.
				attempts[name] = 0
				next[name] = now.Add(electRescanWait)
			}
		}
		// Forget groups that no longer need an election.
		for name := range attempts {
			if !slices.Contains(names, name) {
				delete(attempts, name)
				delete(next, name)
			}
		}
	}
}

// propose replicates ev and waits until it is applied here.
func (c *Controller) propose(ev fsm.Event) error {
	if !c.leading.Load() {
		return ErrNotLeader
	}
	f := c.raft.Load().Apply(ev.Encode(), applyTimeout)
	if err := f.Error(); err != nil {
		return fmt.Errorf("controller: propose %s for %s: %w", ev.Type, ev.BrokerName, err)
	}
	if err, ok := f.Response().(error); ok {
		return err
	}
	return nil
}

// elect decides and proposes an election. It returns the reply.
func (c *Controller) elect(req api.ElectMasterRequest) (fsm.ElectOutcome, int16, error) {
	c.decideMu.Lock()
	defer c.decideMu.Unlock()
	var out fsm.ElectOutcome
	var err error
	c.fsm.read(func(s *fsm.State) { out, err = s.DecideElectMaster(req, c.live, c.cfg.ElectUnclean) })
	if err != nil {
		var r *fsm.Refusal
		if errors.As(err, &r) {
			return out, r.Code, err
		}
		return out, remoting.RespSystemError, err
	}
	if out.Event != nil {
		if err := c.propose(*out.Event); err != nil {
			return out, remoting.RespSystemError, err
		}
		if out.Event.NewMaster != api.NoMaster {
			c.log.Info("controller elected a master", "broker_name", req.BrokerName, "master", out.Master.MasterBrokerID,
				"addr", out.Master.MasterAddress, "master_epoch", out.Master.MasterEpoch, "requested_by", req.BrokerID)
		} else {
			c.log.Warn("controller: master gone and no replica qualifies", "broker_name", req.BrokerName)
		}
	}
	return out, out.Code, nil
}

// applied runs after each event that changed the state, on every
// controller; only the leader notifies brokers of a new master.
func (c *Controller) applied(ev fsm.Event) {
	if ev.Type != fsm.EventElectMaster || ev.NewMaster == api.NoMaster || !c.cfg.NotifyBrokerRoleChanged || !c.leading.Load() {
		return
	}
	var g *fsm.Group
	c.fsm.read(func(s *fsm.State) {
		if x := s.Group(ev.BrokerName); x != nil {
			g = cloneGroup(x)
		}
	})
	if g == nil {
		return
	}
	// Close sets closed before it waits for wg, so no Add races the Wait.
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.notify(g)
	}()
}

func cloneGroup(g *fsm.Group) *fsm.Group {
	x := *g
	x.Replicas = make(map[int64]fsm.Replica, len(g.Replicas))
	for k, v := range g.Replicas {
		x.Replicas[k] = v
	}
	x.SyncStateSet = append([]int64(nil), g.SyncStateSet...)
	return &x
}

// notify sends NOTIFY_BROKER_ROLE_CHANGED oneway to every alive replica of
// g: over the connection its heartbeats came on, or by dialling its address.
func (c *Controller) notify(g *fsm.Group) {
	h := api.NotifyBrokerRoleChanged{MasterAddress: g.Addr(g.MasterBrokerID), MasterEpoch: g.MasterEpoch,
		SyncStateSetEpoch: g.SyncStateSetEpoch, MasterBrokerID: g.MasterBrokerID}
	body := g.SyncState().Encode()
	for _, id := range g.IDs() {
		if !c.live.Alive(g.BrokerName, id) {
			continue
		}
		req := remoting.NewRequest(api.CodeNotifyBrokerRoleChanged, h.Ext(), body)
		var err error
		if conn := c.brokerConn(g.BrokerName, id); conn != nil {
			err = conn.InvokeOneway(req)
		} else {
			err = c.rc.InvokeOneway(g.Addr(id), req)
		}
		if err != nil {
			c.log.Warn("controller: notify role change failed", "broker_name", g.BrokerName, "broker_id", id, "err", err)
		}
	}
}

func (c *Controller) brokerConn(name string, id int64) *remoting.Conn {
	cid, ok := c.live.conn(name, id)
	if !ok {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.conns[cid]
}

// ConnClosed marks the brokers that heartbeated on conn inactive at once.
// A name server hosting the controller calls it for its connections.
func (c *Controller) ConnClosed(conn *remoting.Conn) {
	c.mu.Lock()
	delete(c.mu.conns, conn.ID())
	c.mu.Unlock()
	c.live.connClosed(conn.ID())
}

// verifyLeader confirms with a quorum that this controller still leads.
// It returns within about the Raft leader lease when the quorum is gone.
func (c *Controller) verifyLeader() bool {
	if !c.leading.Load() {
		return false
	}
	return c.raft.Load().VerifyLeader().Error() == nil && c.leading.Load()
}
