package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharfmq/wharf/broker/config"
)

// Role changes at run time (issue 12). A broker starts in the role its
// file gives (roleState, epoch 0); BecomeMaster and BecomeSlave change it
// while it serves, as RocketMQ 5's ReplicasManager.changeToMaster and
// changeToSlave do when the controller elects a new master. Everything
// that differs between the roles is stopped and started here, in an order
// that keeps the CommitLog a single writer's:
//
//   - master to slave: the role flips first, so every new appending
//     request is refused (14); the append gate then waits for the appends
//     already under way; the schedule and transaction services stop; the
//     HA port closes, dropping the slaves (a send still waiting for one is
//     answered 14); only then does the HA client start following the new
//     master, with SlaveSynchronize pulling its metadata.
//   - slave to master: SlaveSynchronize and the HA client stop (when the
//     client has returned, nothing more is appended by replication, and a
//     record cut by a frame end was only in its memory); the promote hook
//     runs (SetPromoteHook: truncation, the epoch entry); the dispatcher
//     catches up with the log (unless a confirm offset holds it back),
//     and each queue's next offset continues the log's
//     (engine.Store.ResumeQueueOffsets: replication carried the master's);
//     the HA port opens; the schedule and transaction services start; the
//     role flips and the gate opens.
//
// A broker started WithPendingRole has no role until the first of them
// (controller mode): it behaves as a slave that follows nobody and does
// not register.
//
// Both end by registering with every name server at once, under brokerId
// 0 (master) or the broker's own id (slave), with dataVersion.stateVersion
// set to the epoch (RocketMQ 5: topicConfigManager.dataVersion
// .nextVersion(epoch)), so name servers keep the newest master's claim to
// brokerId 0. Changes are serialized (roleMu) and idempotent: the same
// change at the same epoch again does nothing; an older epoch is refused.
//
// The write fence (SetWriteFence) is separate: a master whose fence
// reports true stays master but answers appending requests as a slave
// does, and never answers SEND_OK, until the fence reports false.

// promoteDispatchWait bounds how long BecomeMaster waits for the
// dispatcher to index what replication appended, when its context has no
// earlier deadline.
const promoteDispatchWait = 30 * time.Second

// demoteAppendWait is how often a demotion that waits for appends under
// way logs that it still waits.
const demoteAppendWait = 5 * time.Second

// ErrStaleEpoch refuses a role change to an epoch older than the
// broker's, or a conflicting change at the same epoch.
var ErrStaleEpoch = errors.New("broker: stale epoch")

// appendGate counts the appending requests under way, so a demotion can
// wait for them to finish before the broker starts taking its master's
// bytes. Shut, it admits none. The send path passes it on every send, so
// entering and leaving are two atomic adds: an entrant counts itself
// before it looks at shut, and close sets shut before it looks at the
// count, so (the atomics being sequentially consistent) either the
// entrant sees shut or close sees the entrant.
type appendGate struct {
	n    atomic.Int64
	shut atomic.Bool

	mu      sync.Mutex
	drained chan struct{} // close's channel while appends are under way; guarded by mu
}

// enter admits an append unless the gate is shut; leave must follow.
func (g *appendGate) enter() bool {
	g.n.Add(1)
	if g.shut.Load() {
		g.leave()
		return false
	}
	return true
}

func (g *appendGate) leave() {
	if g.n.Add(-1) == 0 && g.shut.Load() {
		g.mu.Lock()
		if g.drained != nil && g.n.Load() == 0 {
			close(g.drained)
			g.drained = nil
		}
		g.mu.Unlock()
	}
}

// close shuts the gate and returns a channel closed once no append is
// under way.
func (g *appendGate) close() <-chan struct{} {
	g.shut.Store(true)
	g.mu.Lock()
	defer g.mu.Unlock()
	ch := make(chan struct{})
	if g.n.Load() == 0 {
		close(ch)
		return ch
	}
	g.drained = ch
	return ch
}

func (g *appendGate) open() { g.shut.Store(false) }

// SetWriteFence installs the write fence: while fenced() reports true the
// broker, master or not, refuses sends and every other appending request
// with SERVICE_NOT_AVAILABLE (14), as a slave does, and a send already
// stored is answered 14 instead of SEND_OK (so is one waiting for a
// SYNC_MASTER slave, when it finishes waiting). The failover driver
// reports true once the master's controller lease has lapsed. nil removes
// the fence. fenced is called on every appending request: it must be
// cheap and safe for concurrent use.
func (b *Broker) SetWriteFence(fenced func() bool) {
	if fenced == nil {
		b.fence.Store(nil)
		return
	}
	b.fence.Store(&fenced)
}

// fenced reports whether the write fence is up.
func (b *Broker) fenced() bool {
	f := b.fence.Load()
	return f != nil && (*f)()
}

// SetPromoteHook installs fn, which BecomeMaster calls after replication
// has stopped and before the broker serves as master: the place to
// truncate a divergent tail and append the epoch entry (failover mode).
// An error aborts the promotion (the broker follows its master again).
// The dispatcher's catch-up runs after fn.
func (b *Broker) SetPromoteHook(fn func(epoch int32) error) {
	b.roleMu.Lock()
	defer b.roleMu.Unlock()
	b.promoteHook = fn
}

// Role describes the broker's role now: whether it is a slave, its
// brokerId (0 on a master), the epoch of its last role change (0 while it
// has its configured role) and, on a slave made by BecomeSlave, its
// master's address.
func (b *Broker) Role() (slave bool, brokerID int64, epoch int32, masterAddr string) {
	r := b.role()
	return r.slave, r.brokerID, r.epoch, r.masterAddr
}

// checkSwitch refuses a role change before Start or once Close has begun.
// REQUIRES: b.roleMu held.
func (b *Broker) checkSwitch() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return errors.New("broker: closed")
	case !b.started:
		return errors.New("broker: not started")
	}
	return nil
}

// masterRole is the role to take as master: the configured one when the
// file makes this broker a master, else (a configured slave, a broker
// whose role the controller gives, in controller mode always) SYNC_MASTER, as RocketMQ 5's
// changeToMaster sets.
func (b *Broker) masterRole(cur *roleState) string {
	if b.cfg.IsSlave() || cur.pending || b.cfg.EnableControllerMode {
		return config.SyncMaster
	}
	return b.cfg.BrokerRole
}

// BecomeMaster makes the broker the master of its broker name from epoch
// on (see the top of this file for the order). A master that becomes
// master at a newer epoch only re-registers with it; the same epoch again
// does nothing. It returns once every name server has answered the new
// registration (or failed to, each within registerTimeout), or when ctx
// ends; ctx also bounds the dispatcher's catch-up. The signature is
// failover.Node's, less the SyncStateSet.
func (b *Broker) BecomeMaster(ctx context.Context, epoch int32) error {
	b.roleMu.Lock()
	defer b.roleMu.Unlock()
	if err := b.checkSwitch(); err != nil {
		return err
	}
	cur := b.role()
	switch {
	case epoch < cur.epoch:
		return fmt.Errorf("%w: become master at epoch %d, broker is at epoch %d", ErrStaleEpoch, epoch, cur.epoch)
	case !cur.slave && epoch == cur.epoch:
		return nil
	case cur.slave && epoch == cur.epoch && epoch != 0:
		return fmt.Errorf("%w: become master at epoch %d, broker is a slave at that epoch", ErrStaleEpoch, epoch)
	}
	next := &roleState{brokerID: 0, epoch: epoch, brokerRole: cur.brokerRole}
	if !cur.slave {
		b.roleNow.Store(next)
		b.log.Info("master epoch advances", "epoch", epoch)
		b.reg.roleChanged(ctx)
		return nil
	}
	next.brokerRole = b.masterRole(cur)
	b.log.Info("becoming master", "epoch", epoch, "brokerIdWas", cur.brokerID, "role", next.brokerRole)

	b.stopSync()
	b.stopSlaveHA()
	resume := func(err error) error {
		if cur.pending {
			b.log.Error("promotion to master failed; the broker still has no role", "epoch", epoch, "err", err)
			return err
		}
		b.log.Error("promotion to master failed; following the master again", "epoch", epoch, "err", err)
		b.startSlaveHA()
		if cur.masterAddr != "" {
			b.setSyncMaster(cur.masterAddr)
		} else if addr, _ := b.MasterAddrs(); addr != "" {
			b.setSyncMaster(addr)
		}
		return err
	}
	if b.promoteHook != nil {
		if err := b.promoteHook(epoch); err != nil {
			return resume(fmt.Errorf("broker: promote hook at epoch %d: %w", epoch, err))
		}
	}
	// Consume queues, the schedule and transaction services and pulls
	// read only what is dispatched: let the dispatcher catch up with the
	// log, as RocketMQ's changeToMaster does. Not while a confirm offset
	// holds dispatch back (failover mode): there the hook decides.
	if _, limited := b.store.ConfirmOffset(); !limited {
		wait := promoteDispatchWait
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl))
		}
		if err := b.store.WaitDispatched(wait); err != nil {
			return resume(fmt.Errorf("broker: the dispatcher did not catch up with the log: %w", err))
		}
	}
	// Replication carried the master's queue offsets; puts continue them.
	if err := b.store.ResumeQueueOffsets(); err != nil {
		return resume(fmt.Errorf("broker: %w", err))
	}
	if err := b.startMasterHA(nil, next.brokerRole == config.SyncMaster); err != nil {
		return resume(err)
	}
	b.sched.Start()
	b.txn.Start()
	b.roleNow.Store(next)
	b.resetMaster()
	b.appends.open()
	b.log.Info("now master", "epoch", epoch, "haServerAddr", b.HAServerAddr())
	b.reg.roleChanged(ctx)
	return nil
}

// BecomeSlave makes the broker a slave, with brokerID, of the master at
// masterAddr (ip:listenPort) from epoch on (see the top of this file for
// the order). Its HA client dials the master's HA address, which the name
// servers' REGISTER_BROKER replies give once the master has registered as
// brokerId 0; SlaveSynchronize pulls from masterAddr at once. A slave told
// of another master (or id) at a newer epoch follows it; the same change
// again does nothing. It returns once every name server has answered the
// new registration, or when ctx ends. If ctx ends while appends are still
// under way on a master, the demotion is undone (the broker stays master)
// and ctx's error returned. The signature is failover.Node's.
func (b *Broker) BecomeSlave(ctx context.Context, masterAddr string, brokerID int64, epoch int32) error {
	if brokerID <= 0 {
		return fmt.Errorf("broker: become slave with brokerId %d: a slave's id is > 0", brokerID)
	}
	if masterAddr == "" || masterAddr == b.addr {
		return fmt.Errorf("broker: become slave of %q: not another broker's address", masterAddr)
	}
	b.roleMu.Lock()
	defer b.roleMu.Unlock()
	if err := b.checkSwitch(); err != nil {
		return err
	}
	cur := b.role()
	switch {
	case epoch < cur.epoch:
		return fmt.Errorf("%w: become slave at epoch %d, broker is at epoch %d", ErrStaleEpoch, epoch, cur.epoch)
	case cur.slave && epoch == cur.epoch && cur.masterAddr == masterAddr && cur.brokerID == brokerID:
		return nil
	case !cur.slave && epoch == cur.epoch && epoch != 0:
		return fmt.Errorf("%w: become slave at epoch %d, broker is master at that epoch", ErrStaleEpoch, epoch)
	}
	next := &roleState{slave: true, brokerID: brokerID, epoch: epoch, brokerRole: config.Slave, masterAddr: masterAddr}
	b.log.Info("becoming slave", "epoch", epoch, "master", masterAddr, "brokerId", brokerID, "wasSlave", cur.slave)
	if cur.slave {
		// Another master: follow it from scratch (its HA address comes
		// from the name servers again).
		b.stopSync()
		b.stopSlaveHA()
		b.roleNow.Store(next)
		b.resetMaster()
		b.startSlaveHA()
		b.setSyncMaster(masterAddr)
		b.reg.roleChanged(ctx)
		return nil
	}
	// From here on, new appending requests are refused (guardRole).
	b.roleNow.Store(next)
	if err := b.waitAppends(ctx); err != nil {
		b.appends.open()
		b.roleNow.Store(cur)
		b.log.Warn("demotion abandoned: appends still under way", "epoch", epoch, "err", err)
		return fmt.Errorf("broker: become slave at epoch %d: %w", epoch, err)
	}
	b.sched.Stop()
	b.txn.Stop()
	b.stopMasterHA()
	b.resetMaster()
	b.startSlaveHA()
	b.setSyncMaster(masterAddr)
	b.log.Info("now slave", "epoch", epoch, "master", masterAddr, "brokerId", brokerID)
	b.reg.roleChanged(ctx)
	return nil
}

// waitAppends shuts the append gate and waits for the appends under way
// (each bounded by its own wait: an fsync, a transaction state load),
// logging while it waits, until ctx ends: following a master while an
// append of its own is still to come would fork the log.
func (b *Broker) waitAppends(ctx context.Context) error {
	done := b.appends.close()
	t := time.NewTicker(demoteAppendWait)
	defer t.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			b.log.Warn("demotion waits for appending requests under way")
		}
	}
}
