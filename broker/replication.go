package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/ha"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// replication connects the broker to package ha: a master listens on the
// HA port and, under SYNC_MASTER, answers a send only once a slave holds
// it; a slave follows its master's CommitLog.
type replication struct {
	master *ha.Master // nil on a slave
	slave  *ha.Slave  // nil on a master

	syncMaster   bool
	slaveTimeout time.Duration
	slaves       *slaveList // the name servers' slaves of this broker name
}

// listenHA binds a master's HA port (haListenPort; RocketMQ's
// listenPort+1 when unset) on the broker's listening host, so a port
// conflict is a start error, and records the port bound in the config,
// which registration advertises (haServerAddr). A broker listening on an
// ephemeral port (tests) gets an ephemeral HA port too, unless one is set.
// A slave binds nothing: it dials its master.
func (b *Broker) listenHA(ln net.Listener) error {
	la := ln.Addr().(*net.TCPAddr)
	host := ""
	if !la.IP.IsUnspecified() {
		host = la.IP.String()
	}
	port := b.cfg.HAListenPort
	ephemeral := b.cfg.Listen != "" && strings.HasSuffix(b.cfg.Listen, ":0")
	switch {
	case port > 0:
	case ephemeral:
		port = 0
	case la.Port >= 65535:
		return fmt.Errorf("broker: listening on port 65535 leaves no port for the HA listener: set haListenPort")
	default:
		port = la.Port + 1
	}
	if b.cfg.IsSlave() {
		if port == 0 {
			port = la.Port + 1 // advertised only
		}
		b.cfg.HAListenPort = port
		return nil
	}
	hl, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("broker: HA port (haListenPort %d): %w", port, err)
	}
	b.haLn = hl
	b.cfg.HAListenPort = hl.Addr().(*net.TCPAddr).Port
	return nil
}

// startReplication starts the HA side of the broker's role.
func (b *Broker) startReplication() error {
	cfg := b.cfg
	if cfg.IsSlave() {
		// SlaveSynchronize follows the master the name servers name, and
		// pauses while they name none (as RocketMQ's does).
		b.OnMasterChange(func(addr, _ string) { b.setSyncMaster(addr) })
		// The HA client keeps dialling the last master it knew while the
		// name servers name none (as RocketMQ's does): a master that
		// restarts is followed again at once, not at the slave's next
		// registration, up to registerNameServerPeriod later.
		var last string
		var lastMu sync.Mutex
		b.repl.slave = ha.NewSlave(ha.SlaveOptions{
			MasterAddr: func() string {
				_, addr := b.MasterAddrs()
				lastMu.Lock()
				defer lastMu.Unlock()
				if addr != "" {
					last = addr
				}
				return last
			},
			Log: b.store, Heartbeat: cfg.HASendHeartbeatInterval, Housekeeping: cfg.HAHousekeepingInterval,
			Logger: b.log,
		})
		b.repl.slave.Start()
		return nil
	}
	b.repl.syncMaster = cfg.BrokerRole == config.SyncMaster
	b.repl.slaveTimeout = cfg.SlaveTimeout
	b.repl.slaves = newSlaveList(b)
	m, err := ha.NewMaster(ha.MasterOptions{
		Listener: b.haLn, Log: b.store,
		Heartbeat: cfg.HASendHeartbeatInterval, Housekeeping: cfg.HAHousekeepingInterval,
		BatchSize: cfg.HATransferBatchSize, MaxGap: cfg.HAMaxGapNotInSync, FromLastFile: cfg.SyncFromLastFile,
		Trusted: b.repl.slaves.listed, Logger: b.log,
	})
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.haLn = nil // the service closes it now
	b.repl.master = m
	if len(cfg.NameServers()) == 0 {
		b.log.Warn("no name servers: every peer on the HA port counts as a slave of this broker")
	}
	return nil
}

// stopReplication stops what startReplication started.
func (b *Broker) stopReplication() {
	if b.haLn != nil {
		b.haLn.Close() // bound in New, never started
	}
	if b.repl.master != nil {
		b.repl.master.Close()
	}
	if b.repl.slave != nil {
		b.repl.slave.Close()
	}
	if b.repl.slaves != nil {
		b.repl.slaves.client.Close()
	}
}

// waitsForSlave says whether a send with these properties waits for a
// slave: under SYNC_MASTER, unless the producer asked not to wait for the
// store (WAIT=false), as RocketMQ does.
func (b *Broker) waitsForSlave(props string) bool {
	if !b.repl.syncMaster {
		return false
	}
	v, ok := msg.Property(props, msg.PropWait)
	return !ok || v != "false"
}

// replicaCode waits until a slave holds the CommitLog up to end and says
// how to answer a SYNC_MASTER send: SUCCESS, SLAVE_NOT_AVAILABLE (11) at
// once when no slave is in sync, or FLUSH_SLAVE_TIMEOUT (12) after
// slaveTimeout. The message is stored either way, as in RocketMQ (the
// producer sees a result, not a failure).
func (b *Broker) replicaCode(end int64) (int16, string) {
	switch err := b.repl.master.WaitReplicated(end, b.repl.slaveTimeout); err {
	case nil:
		return remoting.RespSuccess, ""
	case ha.ErrNoSlave:
		return remoting.RespSlaveNotAvailable, "stored on the master only: no slave is in sync"
	case ha.ErrSlaveTimeout:
		return remoting.RespFlushSlaveTimeout, fmt.Sprintf("stored on the master; no slave confirmed it within slaveTimeout %s", b.repl.slaveTimeout)
	default:
		return remoting.RespFlushSlaveTimeout, "stored on the master; the broker is stopping: " + err.Error()
	}
}

// slaveList answers the HA port's question "is this peer a slave of this
// broker?" from the name servers' GET_BROKER_CLUSTER_INFO: the IP of an
// address registered under this broker name with brokerId > 0. Answers
// are cached for a second.
type slaveList struct {
	b      *Broker
	client *remoting.Client

	mu      sync.Mutex
	fetched time.Time
	ips     map[netip.Addr]bool
}

func newSlaveList(b *Broker) *slaveList {
	return &slaveList{b: b, client: remoting.NewClient(remoting.ClientOptions{Logger: b.log})}
}

// listed reports whether ip belongs to a registered slave of this broker.
func (l *slaveList) listed(ip netip.Addr) bool {
	if len(l.b.cfg.NameServers()) == 0 {
		return true // nobody to ask (a broker without name servers); Start says so
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.fetched) >= time.Second || l.ips == nil {
		if ips, err := l.fetch(); err == nil {
			l.ips, l.fetched = ips, time.Now()
		} else {
			l.b.log.Warn("cannot read this broker's slaves from the name servers", "err", err)
		}
	}
	return l.ips[ip.Unmap()]
}

// fetch asks every name server; an address any of them lists counts.
func (l *slaveList) fetch() (map[netip.Addr]bool, error) {
	ips := map[netip.Addr]bool{}
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
				ips[ap.Addr().Unmap()] = true
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
// haSlaveCount and, per connected slave, haSlave.ADDR =
// "acked=OFFSET lagBytes=N lagMillis=N trusted=BOOL"; on a slave
// haConnected, haEnd (its CommitLog end) and haLastError.
func (b *Broker) addReplicationInfo(t map[string]string) {
	if m := b.repl.master; m != nil {
		slaves := m.Slaves()
		t["haSlaveCount"] = strconv.Itoa(len(slaves))
		for _, s := range slaves {
			t["haSlave."+s.Addr] = fmt.Sprintf("acked=%d lagBytes=%d lagMillis=%d trusted=%t",
				s.Acked, s.LagBytes, s.Lag.Milliseconds(), s.Trusted)
		}
	}
	if s := b.repl.slave; s != nil {
		st := s.State()
		t["haConnected"] = strconv.FormatBool(st.Connected)
		t["haEnd"] = strconv.FormatInt(st.End, 10)
		t["haLastError"] = st.LastError
	}
}
