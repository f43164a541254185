package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/ha"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// replication connects the broker to package ha: a master listens on the
// HA port and, under SYNC_MASTER, answers a send only once a slave holds
// it; a slave follows its master's CommitLog. Which of the two runs
// changes with the role (roleswitch.go), so both are atomic pointers,
// each nil while the other role runs.
type replication struct {
	master atomic.Pointer[ha.Master]
	slave  atomic.Pointer[ha.Slave]

	syncMaster   atomic.Bool
	slaveTimeout time.Duration // set in New; tests shorten it after Start
	slaves       *slaveList    // the name servers' slaves of this broker name

	// The HA port: the host the broker listens on, whether the port was
	// ephemeral (a test's ":0": any free port will do when the advertised
	// one is taken), and the port advertised as haServerAddr.
	haHost      string
	haEphemeral bool
	haPort      atomic.Int32
}

// listenHA binds a master's HA port (haListenPort; RocketMQ's
// listenPort+1 when unset) on the broker's listening host, so a port
// conflict is a start error, and records the port bound in the config,
// which registration advertises (haServerAddr). A broker listening on an
// ephemeral port (tests) gets an ephemeral HA port too, unless one is set.
// A slave binds nothing: it dials its master (and binds the port if it
// becomes master, bindHA).
func (b *Broker) listenHA(ln net.Listener) error {
	la := ln.Addr().(*net.TCPAddr)
	if !la.IP.IsUnspecified() {
		b.repl.haHost = la.IP.String()
	}
	port := b.cfg.HAListenPort
	ephemeral := b.cfg.Listen != "" && strings.HasSuffix(b.cfg.Listen, ":0")
	b.repl.haEphemeral = ephemeral && port == 0
	switch {
	case port > 0:
	case ephemeral:
		port = 0
	case la.Port >= 65535:
		return fmt.Errorf("broker: listening on port 65535 leaves no port for the HA listener: set haListenPort")
	default:
		port = la.Port + 1
	}
	if b.isSlave() { // a configured slave, or a broker with no role yet
		if port == 0 {
			port = la.Port + 1 // advertised only
		}
		b.cfg.HAListenPort = port
		b.repl.haPort.Store(int32(port))
		return nil
	}
	hl, err := net.Listen("tcp", net.JoinHostPort(b.repl.haHost, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("broker: HA port (haListenPort %d): %w", port, err)
	}
	b.haLn = hl
	b.cfg.HAListenPort = hl.Addr().(*net.TCPAddr).Port
	b.repl.haPort.Store(int32(b.cfg.HAListenPort))
	return nil
}

// bindHA binds the HA port for a broker that becomes master at run time:
// the port it advertises, or, when that was an ephemeral choice and is
// taken, any free one (which it then advertises).
func (b *Broker) bindHA() (net.Listener, error) {
	port := int(b.repl.haPort.Load())
	hl, err := net.Listen("tcp", net.JoinHostPort(b.repl.haHost, strconv.Itoa(port)))
	if err != nil && b.repl.haEphemeral {
		hl, err = net.Listen("tcp", net.JoinHostPort(b.repl.haHost, "0"))
	}
	if err != nil {
		return nil, fmt.Errorf("broker: HA port (haListenPort %d): %w", port, err)
	}
	b.repl.haPort.Store(int32(hl.Addr().(*net.TCPAddr).Port))
	return hl, nil
}

// startReplication starts the HA side of the configured role.
func (b *Broker) startReplication() error {
	if b.role().pending {
		return nil // BecomeMaster binds the HA port when it needs it
	}
	if b.cfg.IsSlave() {
		b.startSlaveHA()
		return nil
	}
	if len(b.cfg.NameServers()) == 0 {
		b.log.Warn("no name servers: every peer on the HA port counts as a slave of this broker")
	}
	ln := b.haLn
	b.haLn = nil // the service owns it now, or it is closed
	return b.startMasterHA(ln, b.cfg.BrokerRole == config.SyncMaster)
}

// startSlaveHA starts following the master.
func (b *Broker) startSlaveHA() {
	if b.cm != nil {
		b.cm.startSlave()
		return
	}
	// The HA client keeps dialling the last master it knew while the name
	// servers name none (as RocketMQ's does): a master that restarts is
	// followed again at once, not at the slave's next registration, up
	// to registerNameServerPeriod later.
	var last string
	var lastMu sync.Mutex
	s := ha.NewSlave(ha.SlaveOptions{
		MasterAddr: func() string {
			_, addr := b.MasterAddrs()
			lastMu.Lock()
			defer lastMu.Unlock()
			if addr != "" {
				last = addr
			}
			return last
		},
		Log: b.store, Heartbeat: b.cfg.HASendHeartbeatInterval, Housekeeping: b.cfg.HAHousekeepingInterval,
		Logger: b.log, TLS: b.tls.client,
	})
	b.repl.slave.Store(s)
	s.Start()
}

// stopSlaveHA stops following; when it returns nothing more is appended
// by replication. Bytes of a record cut by a frame end are only in the HA
// client's memory and go with it: the log holds whole records only.
func (b *Broker) stopSlaveHA() {
	if b.cm != nil {
		b.cm.stopSlave()
	}
	if s := b.repl.slave.Swap(nil); s != nil {
		s.Close()
	}
}

// startMasterHA serves slaves on ln (bindHA's when nil); syncMaster makes
// sends wait for a slave.
func (b *Broker) startMasterHA(ln net.Listener, syncMaster bool) error {
	if ln == nil {
		var err error
		if ln, err = b.bindHA(); err != nil {
			return err
		}
	}
	ln = b.tls.ha.Listen(ln)
	if b.cm != nil {
		if err := b.cm.startMaster(ln); err != nil {
			return err
		}
		b.repl.syncMaster.Store(b.cfg.AllAckInSyncStateSet)
		return nil
	}
	cfg := b.cfg
	m, err := ha.NewMaster(ha.MasterOptions{
		Listener: ln, Log: b.store,
		Heartbeat: cfg.HASendHeartbeatInterval, Housekeeping: cfg.HAHousekeepingInterval,
		BatchSize: cfg.HATransferBatchSize, CatchUpBatchSize: cfg.HACatchUpBatchSize, MaxGap: cfg.HAMaxGapNotInSync, FromLastFile: cfg.SyncFromLastFile,
		MaxHold: cfg.HAMaxHold(),
		Trusted: b.repl.slaves.listed, TrustedOnly: cfg.AclEnable, Logger: b.log,
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("broker: %w", err)
	}
	b.repl.syncMaster.Store(syncMaster)
	b.repl.master.Store(m)
	return nil
}

// stopMasterHA closes the HA port and every slave connection; sends
// waiting for a slave are answered at once (replicaCode).
func (b *Broker) stopMasterHA() {
	b.repl.syncMaster.Store(false)
	if b.cm != nil {
		b.cm.stopMaster()
	}
	if m := b.repl.master.Swap(nil); m != nil {
		m.Close()
	}
}

// stopReplication stops what startReplication and role changes started.
func (b *Broker) stopReplication() {
	if b.haLn != nil {
		b.haLn.Close() // bound in New, never started
	}
	b.stopMasterHA()
	b.stopSlaveHA()
	b.repl.slaves.client.Close()
}

// waitsForSlave says whether a send with these properties waits for a
// slave: under SYNC_MASTER, unless the producer asked not to wait for the
// store (WAIT=false), as RocketMQ does.
func (b *Broker) waitsForSlave(props string) bool {
	if !b.repl.syncMaster.Load() {
		return false
	}
	v, ok := msg.Property(props, msg.PropWait)
	return !ok || v != "false"
}

// replicaCode waits until a slave holds the CommitLog up to end and says
// how to answer a SYNC_MASTER send: SUCCESS, SLAVE_NOT_AVAILABLE (11) at
// once when no slave is in sync, or FLUSH_SLAVE_TIMEOUT (12) after
// slaveTimeout. The message is stored either way, as in RocketMQ (the
// producer sees a result, not a failure). A broker demoted meanwhile
// answers SERVICE_NOT_AVAILABLE (14): the client retries on the new
// master.
func (b *Broker) replicaCode(end int64) (int16, string) {
	return b.replicaCodeWithin(end, b.repl.slaveTimeout)
}

// replicatedStore is the store as the broker's own writers (the delay
// scheduler, the transaction checker) see it: under SYNC_MASTER (or
// allAckInSyncStateSet) WaitDurable also waits for the slaves. Each
// stores its progress only after WaitDurable of what it wrote, and the
// progress reaches the slaves apart from the log (SlaveSynchronize): a
// slave promoted after its master's death would otherwise resume past
// records it never received.
type replicatedStore struct {
	*engine.Store
	b *Broker
}

// WaitDurable waits until the log up to end is durable and, under
// SYNC_MASTER, held by a slave; it fails otherwise, and the caller keeps
// its progress back (it may deliver again, never lose).
func (s replicatedStore) WaitDurable(end int64) error {
	if err := s.Store.WaitDurable(end); err != nil {
		return err
	}
	if code, remark := s.b.slaveHolds(end); code != remoting.RespSuccess {
		return fmt.Errorf("broker: not replicated (code %d): %s", code, remark)
	}
	return nil
}

// slaveHolds is replicaCode for the broker's own writes: SUCCESS at once
// unless the broker waits for slaves (SYNC_MASTER, allAckInSyncStateSet).
func (b *Broker) slaveHolds(end int64) (int16, string) {
	if !b.repl.syncMaster.Load() {
		return remoting.RespSuccess, ""
	}
	return b.replicaCode(end)
}

// replicaCodeWithin is replicaCode waiting at most timeout.
func (b *Broker) replicaCodeWithin(end int64, timeout time.Duration) (int16, string) {
	w := b.replicaWaiter()
	if w == nil {
		return remoting.RespServiceNotAvailable, notMasterRemark
	}
	return b.replicaAnswer(ha.Wait(w, end, timeout))
}

// replicaWaiter is what a SYNC_MASTER send waits on: the classic master
// (a slave holds it), or in controller mode AutoSwitch's master (every
// member of the SyncStateSet holds it); nil when this broker runs no
// master (demoted).
func (b *Broker) replicaWaiter() ha.Notifier {
	if b.cm != nil {
		if m := b.cm.master.Load(); m != nil {
			return m
		}
		return nil
	}
	if m := b.repl.master.Load(); m != nil {
		return m
	}
	return nil
}

// notMasterRemark answers a SYNC_MASTER send on a broker demoted before
// its wait began.
const notMasterRemark = "stored here but not acknowledged: this broker is no longer master"

// replyWhenReplicated answers a SYNC_MASTER send once a slave holds its
// record (replicaCode's answer) without blocking the caller, so the
// connection's reader goes back to reading: the reply leaves from the
// goroutine that read the slave's report, which answers every send the
// report covers and waits for none of their connections (ReplyNoWait).
// start is when the request was read (its latency is observed at the
// reply). It returns false when no master is running (demoted meanwhile), or
// for a oneway send (no reply; its reader waits, which holds the sender
// back): the caller then waits with replicaCode.
func (b *Broker) replyWhenReplicated(conn *remoting.Conn, req, resp *remoting.Command, end int64, start time.Time) bool {
	if req.IsOneway() {
		return false
	}
	w := b.replicaWaiter()
	if w == nil {
		return false
	}
	w.Notify(end, b.repl.slaveTimeout, func(err error) {
		resp.Code, resp.Remark = b.replicaAnswer(err)
		resp = b.finalAck(req, resp)
		b.traffic.rpc.observe(req.Code, resp.Code, time.Since(start))
		if err := conn.ReplyNoWait(resp); err != nil {
			b.log.Debug("SYNC_MASTER reply not sent", "remote", conn.RemoteAddr(), "err", err)
		}
	})
	return true
}

// replicaAnswer is the code and remark for a SYNC_MASTER send whose wait
// for the slaves ended with err.
func (b *Broker) replicaAnswer(err error) (int16, string) {
	who := "no slave confirmed"
	if b.cm != nil {
		who = fmt.Sprintf("the SyncStateSet %v did not all confirm", b.cm.syncStateSet())
	}
	switch err {
	case nil:
		return remoting.RespSuccess, ""
	case ha.ErrNoSlave:
		return remoting.RespSlaveNotAvailable, "stored on the master only: no slave is in sync"
	case ha.ErrSlaveTimeout:
		return remoting.RespFlushSlaveTimeout, fmt.Sprintf("stored on the master; %s it within slaveTimeout %s", who, b.repl.slaveTimeout)
	default:
		if b.isSlave() {
			return remoting.RespServiceNotAvailable, "stored here but not acknowledged: this broker stopped being master"
		}
		return remoting.RespFlushSlaveTimeout, "stored on the master; the broker is stopping: " + err.Error()
	}
}

// slaveList answers the HA port's question "is this peer a slave of this
// broker?" from the name servers' GET_BROKER_CLUSTER_INFO: the IP of an
// address registered under this broker name with brokerId > 0 (in
// controller mode a replica registers under its replica id, which
// replica checks too). Answers are cached for a second.
type slaveList struct {
	b      *Broker
	client *remoting.Client

	mu      sync.Mutex
	fetched time.Time
	ips     map[netip.Addr][]int64 // the brokerIds registered at each IP
}

func newSlaveList(b *Broker) *slaveList {
	return &slaveList{b: b, client: remoting.NewClient(b.clientOptions())}
}

// listed reports whether ip belongs to a registered slave of this broker.
func (l *slaveList) listed(ip netip.Addr) bool { return l.replica(-1, ip) }

// replica reports whether the name servers list brokerId id (any id > 0
// when id is -1) of this broker name at ip: the AutoSwitch HA port's
// check of the id a peer's handshake claims.
func (l *slaveList) replica(id int64, ip netip.Addr) bool {
	if len(l.b.cfg.NameServers()) == 0 {
		return true // nobody to ask (a broker without name servers); Start says so
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.fetched) >= time.Second {
		// A failure is remembered for the second too (the last list
		// stays): every peer connecting to the HA port asks, and while
		// the name servers do not answer each ask would otherwise wait
		// out their timeout in turn, and log.
		ips, err := l.fetch()
		l.fetched = time.Now()
		if err == nil {
			l.ips = ips
		} else {
			l.b.log.Warn("cannot read this broker's slaves from the name servers; keeping the last list", "err", err)
		}
	}
	ids := l.ips[ip.Unmap()]
	return len(ids) > 0 && (id < 0 || slices.Contains(ids, id))
}

// fetch asks every name server; an address any of them lists counts.
func (l *slaveList) fetch() (map[netip.Addr][]int64, error) {
	ips := map[netip.Addr][]int64{}
	var lastErr error
	ok := false
	for _, ns := range l.b.cfg.NameServers() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		resp, err := l.client.Invoke(ctx, ns, remoting.NewRequest(remoting.CodeGetBrokerClusterInfo, nil, nil))
		cancel()
		if err == nil && resp.Code != remoting.RespSuccess {
			err = fmt.Errorf("name server %s: code %d %s", ns, resp.Code, resp.Remark)
		}
		var ci body.ClusterInfo
		if err == nil {
			err = json.Unmarshal(resp.Body, &ci)
		}
		if err != nil {
			lastErr = err
			continue
		}
		ok = true
		for id, addr := range ci.BrokerAddrTable[l.b.cfg.BrokerName].BrokerAddrs {
			if id == 0 {
				continue
			}
			if ap, err := netip.ParseAddrPort(addr); err == nil {
				ip := ap.Addr().Unmap()
				if !slices.Contains(ips[ip], id) {
					ips[ip] = append(ips[ip], id)
				}
			}
		}
	}
	if !ok && lastErr != nil {
		return nil, lastErr
	}
	return ips, nil
}

// addReplicationInfo adds the state of replication to the runtime table
// (GET_BROKER_RUNTIME_INFO), under Wharf's own keys: on a master
// haSlaveCount (the connected peers the name servers list as slaves),
// haUntrustedPeerCount (the others, when there are any) and, per
// connection, haSlave.ADDR = "acked=OFFSET lagBytes=N lagMillis=N
// trusted=BOOL frames=N" (frames: with bytes, sent on this connection);
// on a slave haConnected, haEnd (its CommitLog end) and haLastError.
func (b *Broker) addReplicationInfo(t map[string]string) {
	if b.cm != nil {
		b.cm.addInfo(t)
	}
	if m := b.repl.master.Load(); m != nil {
		slaves := m.Slaves()
		trusted := 0
		for _, s := range slaves {
			if s.Trusted {
				trusted++
			}
		}
		t["haSlaveCount"] = strconv.Itoa(trusted)
		if n := len(slaves) - trusted; n > 0 {
			t["haUntrustedPeerCount"] = strconv.Itoa(n)
		}
		for _, s := range slaves {
			t["haSlave."+s.Addr] = fmt.Sprintf("acked=%d lagBytes=%d lagMillis=%d trusted=%t frames=%d",
				s.Acked, s.LagBytes, s.Lag.Milliseconds(), s.Trusted, s.Frames)
		}
	}
	if s := b.repl.slave.Load(); s != nil {
		st := s.State()
		t["haConnected"] = strconv.FormatBool(st.Connected)
		t["haEnd"] = strconv.FormatInt(st.End, 10)
		t["haLastError"] = st.LastError
	}
}
