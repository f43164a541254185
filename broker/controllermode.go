package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/wharfmq/wharf/broker/failover"
	"github.com/wharfmq/wharf/broker/ha/autoswitch"
	"github.com/wharfmq/wharf/broker/ha/epoch"
	"github.com/wharfmq/wharf/remoting"
)

// controllerMode runs the broker in RocketMQ 5's controller mode
// (enableControllerMode): the broker starts with no role, and the
// failover driver makes it master or slave as the controller group
// decides. Replication is AutoSwitch HA (package broker/ha/autoswitch)
// instead of the classic protocol: it carries epochs, truncates a
// returning replica's divergent tail, and confirms a record once every
// member of the SyncStateSet holds it; consumers see only confirmed
// records (engine.Options.HoldUnconfirmed, SetConfirmOffset).
//
// A send under allAckInSyncStateSet (Wharf's default) is answered
// SEND_OK only once confirmed, FLUSH_SLAVE_TIMEOUT (12) after slaveTimeout
// otherwise. The failover driver fences a master whose lease lapsed only
// where acknowledgements cannot (package failover's doc): with
// allAckInSyncStateSet=false or enableElectUncleanMaster=true.
type controllerMode struct {
	b      *Broker
	epochs *epoch.File
	remote *controllerRemote
	driver *failover.Driver

	ackSet atomic.Pointer[[]int64] // the SyncStateSet the master waits for
	master atomic.Pointer[autoswitch.Master]
	slave  atomic.Pointer[autoswitch.Slave]
}

// newControllerMode opens the epoch file and prepares the driver; Start
// runs it.
func newControllerMode(b *Broker, fs vfs.FS) (*controllerMode, error) {
	if err := failover.CheckIdentity(b.cfg.StorePathRootDir, b.cfg.BrokerClusterName, b.cfg.BrokerName); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	path := filepath.Join(b.cfg.StorePathRootDir, epoch.FileName)
	eps, err := epoch.Open(fs, path)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if bak, why := eps.FromBak(); bak {
		// The .bak is the previous version: it may lack the newest
		// epochs, which checkEpochsCover then finds.
		b.log.Warn("epoch file refused, using its backup (the previous version)", "file", path, "backup", path+".bak",
			"reason", why, "epochs", eps.Entries())
	}
	if err := checkEpochsCover(eps, b.store.MinPhysOffset(), b.store.MaxPhysOffset(), b.cfg.StorePathRootDir); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	cm := &controllerMode{b: b, epochs: eps}
	cfg := b.cfg
	opts := b.clientOptions()
	opts.DialTimeout = time.Second
	cm.remote = newControllerRemote(cfg.ControllerAddrs(), func() { cm.driver.Notify() }, opts)
	cm.driver = failover.New(failover.Options{
		Cluster: cfg.BrokerClusterName, BrokerName: cfg.BrokerName, Addr: b.addr, Dir: cfg.StorePathRootDir,
		Controller: cm.remote, Node: cm,
		HeartbeatInterval: cfg.BrokerHeartbeatInterval, HeartbeatTimeout: cfg.ControllerHeartBeatTimeout,
		Lease: cfg.BrokerLease, Poll: cfg.SyncBrokerMetadataPeriod, CheckSyncStateSet: cfg.CheckSyncStateSetPeriod,
		MaxNotCatchup: cfg.HAMaxTimeSlaveNotCatchup, ElectionPriority: cfg.BrokerElectionPriority,
		FenceOnLeaseLoss: !cfg.AllAckInSyncStateSet || cfg.EnableElectUncleanMaster,
		Logger:           b.log,
	})
	b.SetWriteFence(cm.driver.Fenced)
	b.SetPromoteHook(cm.promote)
	// NOTIFY_BROKER_ROLE_CHANGED may also come to the broker's own port.
	return cm, nil
}

// start runs the driver (after the broker serves, so its address
// answers); New checked the identity file, the only cause of an error.
func (cm *controllerMode) start() error { return cm.driver.Start() }

// close stops the driver first: no role change starts after it.
func (cm *controllerMode) close() {
	cm.driver.Close()
	cm.remote.Close()
}

// handleNotify serves NOTIFY_BROKER_ROLE_CHANGED (1008) sent to the
// broker's port: the driver reads the group at once.
func (cm *controllerMode) handleNotify(context.Context, *remoting.Conn, *remoting.Command) *remoting.Command {
	cm.driver.Notify()
	return nil
}

// promote runs in BecomeMaster once replication has stopped: the new
// epoch starts at the end of the log (an empty epoch left at that offset
// by an earlier promotion is replaced, as RocketMQ's changeToMaster trims
// it), and, when the SyncStateSet holds only this replica (aloneInAckSet),
// the log up to there is confirmed, so the dispatcher catches up before
// the broker serves. Topics the old master created after the last
// metadata sync come from the name servers (topicrecover.go).
//
// A master that restarts before the controllers declared it gone is
// named master again at the epoch it had: its epoch file already ends
// with that epoch (no other replica can hold one: each election takes a
// new epoch), which then goes on where it stopped. Appending it again
// was refused (ErrNotAfter), and the broker stayed without a role.
func (cm *controllerMode) promote(ep int32) error {
	end := cm.b.store.MaxPhysOffset()
	if err := cm.epochs.TruncateFrom(end); err != nil {
		return err
	}
	// New refused such a log; checked again, since a new epoch at the end
	// of a log it does not cover would make the gap permanent.
	if err := checkEpochsCover(cm.epochs, cm.b.store.MinPhysOffset(), end, cm.b.cfg.StorePathRootDir); err != nil {
		return err
	}
	if last, ok := cm.epochs.Last(); ok && last.Epoch == ep {
		cm.b.log.Info("master again at the epoch it had before a restart", "epoch", ep, "epochStart", last.Start, "end", end)
	} else if err := cm.epochs.Append(ep, end); err != nil {
		return err
	}
	if cm.aloneInAckSet() {
		cm.b.store.SetConfirmOffset(end)
	}
	cm.b.recoverTopics(context.Background())
	return nil
}

// checkEpochsCover refuses a CommitLog holding bytes in [min, max) that
// no epoch holds: no epochs at all, or a first epoch starting above lo
// (a stale or lost epoch file, or a store from classic mode). Such bytes
// cannot be checked against another replica's nor sent to one (the
// master refuses "no epoch holds offset"), and as master the replica
// would append its new epoch at the log's end, making the gap permanent:
// the same refusal a following replica gets at the handshake
// (autoswitch.ErrNoEpochs).
func checkEpochsCover(eps *epoch.File, lo, hi int64, storeDir string) error {
	if hi <= lo {
		return nil // no bytes
	}
	remedy := fmt.Sprintf("restore %s from a copy, or move the store %s aside so this broker copies the master's log", eps.Path(), storeDir)
	es := eps.Entries()
	if len(es) == 0 {
		return fmt.Errorf("%w: the CommitLog holds [%d, %d) but %s has no epochs to cover it: %s",
			autoswitch.ErrNoEpochs, lo, hi, eps.Path(), remedy)
	}
	if first := es[0]; first.Start > lo {
		return fmt.Errorf("%w: the CommitLog holds [%d, %d) but the first epoch in %s (%d) starts at %d: bytes [%d, %d) belong to no epoch: %s",
			autoswitch.ErrNoEpochs, lo, hi, eps.Path(), first.Epoch, first.Start, lo, min(first.Start, hi), remedy)
	}
	return nil
}

// BecomeMaster implements failover.Node.
func (cm *controllerMode) BecomeMaster(ctx context.Context, ep int32, set failover.SyncStateSet) error {
	cm.SetAckSet(set.IDs)
	if slave, _, cur, _ := cm.b.Role(); !slave && ep > cur {
		// Master again at a newer epoch (re-elected): the new epoch
		// starts here; BecomeMaster only re-registers.
		if err := cm.epochs.Append(ep, cm.b.store.MaxPhysOffset()); err != nil && !errors.Is(err, epoch.ErrNotAfter) {
			return err
		}
	}
	return cm.b.BecomeMaster(ctx, ep)
}

// BecomeSlave implements failover.Node.
func (cm *controllerMode) BecomeSlave(ctx context.Context, masterAddr string, id int64, ep int32) error {
	return cm.b.BecomeSlave(ctx, masterAddr, id, ep)
}

// SetAckSet implements failover.Node.
func (cm *controllerMode) SetAckSet(ids []int64) {
	ids = slices.Clone(ids)
	cm.ackSet.Store(&ids)
	if m := cm.master.Load(); m != nil {
		m.ConfirmOffset() // a smaller set may confirm more at once
	}
}

// checkInSyncReplicas refuses a send that waits for the SyncStateSet,
// before it is stored, while the set has fewer members than
// minInSyncReplicas: RocketMQ's IN_SYNC_REPLICAS_NOT_ENOUGH, which its
// broker answers SYSTEM_ERROR (1) with this remark. Not in controller
// mode, or with the default of 1, it never refuses.
func (b *Broker) checkInSyncReplicas(req *remoting.Command, props string) *remoting.Command {
	if b.cm == nil || b.cfg.MinInSyncReplicas <= 1 || !b.waitsForSlave(props) {
		return nil
	}
	set := b.cm.syncStateSet()
	if len(set) >= b.cfg.MinInSyncReplicas {
		return nil
	}
	return remoting.NewResponse(req, remoting.RespSystemError, fmt.Sprintf(
		"in-sync replicas not enough: the SyncStateSet %v has %d, minInSyncReplicas is %d; not stored",
		set, len(set), b.cfg.MinInSyncReplicas))
}

// aloneInAckSet says whether the SyncStateSet holds no replica but this
// one: then this master's whole log is confirmed (RocketMQ's election
// leaves the new master alone in it). A master named again at its epoch
// after a restart keeps the set it had: the others confirm its tail by
// acknowledging it, as for any send; until then its consumers see only
// what the store held back at Open (HoldUnconfirmed).
func (cm *controllerMode) aloneInAckSet() bool {
	self := cm.driver.Status().ID
	for _, id := range cm.syncStateSet() {
		if id != self {
			return false
		}
	}
	return true
}

func (cm *controllerMode) syncStateSet() []int64 {
	if p := cm.ackSet.Load(); p != nil {
		return *p
	}
	return nil
}

// Progress implements failover.Node.
func (cm *controllerMode) Progress() failover.Progress {
	p := failover.Progress{Epoch: -1, MaxOffset: cm.b.store.MaxPhysOffset()}
	if e, ok := cm.epochs.Last(); ok {
		p.Epoch, p.EpochStart = e.Epoch, e.Start
	}
	if m := cm.master.Load(); m != nil {
		p.ConfirmOffset = m.ConfirmOffset()
	} else if off, ok := cm.b.store.ConfirmOffset(); ok {
		p.ConfirmOffset = off
	}
	return p
}

// Followers implements failover.Node.
func (cm *controllerMode) Followers() []failover.Follower {
	m := cm.master.Load()
	if m == nil {
		return nil
	}
	var out []failover.Follower
	for _, s := range m.Slaves() {
		if s.Learner || !s.Trusted {
			// An async learner never joins the SyncStateSet, nor does a
			// peer the name servers do not list under the id it claims.
			continue
		}
		f := failover.Follower{ID: s.ID, Acked: s.Acked, Connected: true}
		if !s.CaughtUp.IsZero() {
			f.CaughtUp = s.CaughtUp.UnixNano()
		}
		out = append(out, f)
	}
	return out
}

// startMaster serves AutoSwitch slaves on ln.
func (cm *controllerMode) startMaster(ln net.Listener) error {
	cfg := cm.b.cfg
	// A master's brokerId is 0; its replica id is the driver's.
	m, err := autoswitch.NewMaster(autoswitch.MasterOptions{
		Listener: ln, Log: cm.b.store, Epochs: cm.epochs, BrokerID: cm.driver.Status().ID,
		SyncStateSet: cm.syncStateSet, OnConfirm: cm.b.store.SetConfirmOffset,
		Heartbeat: cfg.HASendHeartbeatInterval, Housekeeping: cfg.HAHousekeepingInterval, BatchSize: cfg.HATransferBatchSize, CatchUpBatchSize: cfg.HACatchUpBatchSize,
		MaxHold: cfg.HAMaxHold(), Trusted: cm.b.repl.slaves.replica, TrustedOnly: cfg.AclEnable, Logger: cm.b.log,
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("broker: %w", err)
	}
	cm.master.Store(m)
	return nil
}

func (cm *controllerMode) stopMaster() {
	if m := cm.master.Swap(nil); m != nil {
		m.Close()
	}
}

// startSlave follows the master whose HA address the name servers give.
func (cm *controllerMode) startSlave() {
	_, id, _, _ := cm.b.Role()
	cfg := cm.b.cfg
	s, err := autoswitch.NewSlave(autoswitch.SlaveOptions{
		MasterAddr: func() string { _, ha := cm.b.MasterAddrs(); return ha },
		Log:        cm.b.store, Epochs: cm.epochs, BrokerID: id, SyncFromLastFile: cfg.SyncFromLastFile,
		Heartbeat: cfg.HASendHeartbeatInterval, Housekeeping: cfg.HAHousekeepingInterval, Logger: cm.b.log,
		TLS: cm.b.tls.client,
	})
	if err != nil { // only for missing options: a programming error
		cm.b.log.Error("cannot start following the master", "err", err)
		return
	}
	cm.slave.Store(s)
	s.Start()
}

func (cm *controllerMode) stopSlave() {
	if s := cm.slave.Swap(nil); s != nil {
		s.Close()
	}
}

// addInfo adds the controller-mode keys to GET_BROKER_RUNTIME_INFO
// (masterEpoch and writeFenced are the role's, role.go).
func (cm *controllerMode) addInfo(t map[string]string) {
	st := cm.driver.Status()
	t["controllerBrokerId"] = strconv.FormatInt(st.ID, 10)
	t["controllerRole"] = st.Role.String()
	t["syncStateSet"] = formatIDs(st.Sync.IDs)
	t["syncStateSetEpoch"] = strconv.Itoa(int(st.Sync.Epoch))
	if st.Role == failover.RoleMaster {
		t["leaseLeftMillis"] = strconv.FormatInt(st.LeaseLeft.Milliseconds(), 10)
	}
	t["controllerLastError"] = st.LastError
	p := cm.Progress()
	t["confirmOffset"] = strconv.FormatInt(p.ConfirmOffset, 10)
	if m := cm.master.Load(); m != nil {
		for _, s := range m.Slaves() {
			t["haReplica."+strconv.FormatInt(s.ID, 10)] = fmt.Sprintf("acked=%d learner=%t trusted=%t", s.Acked, s.Learner, s.Trusted)
		}
	}
	if s := cm.slave.Load(); s != nil {
		t["haConnected"] = strconv.FormatBool(s.Connected())
		t["haLastError"] = s.LastError()
	}
}

func formatIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}
