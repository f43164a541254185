package broker

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
)

// A slave's CommitLog is a byte-for-byte copy of its master's: every byte
// comes from the master over the HA connection, at the master's offsets. So
// a slave must never append anything of its own. What that means for each
// part of the broker:
//
//   - Requests that append (sends, send-back, end-transaction, replies)
//     are refused with SERVICE_NOT_AVAILABLE (14), which clients retry on
//     another broker (slaveRefusals).
//   - Admin requests that change metadata the slave takes from its master
//     (topic and subscription group create/update/delete, offset reset)
//     are refused too. Consumer offset commits (UPDATE_CONSUMER_OFFSET,
//     15) are accepted: they go to the metadata store, not the CommitLog,
//     and Java's clients fall back to a slave while the master is down.
//   - Background services that append are not started: the schedule
//     (delay-level) delivery service, which re-puts due messages, and the
//     transaction check-back service, which writes op and check-max
//     records (Broker.Start). The master runs both; the slave gets their
//     records through replication.
//   - Topics are not created implicitly: no auto-creation by a send (sends
//     are refused) and no retry topic created by a consumer's heartbeat.
//     Subscription group configs are still created on demand, as Java's
//     slave does, so a pull can be served before the group is synced.
//   - Retention keeps running: it only removes expired segments, it never
//     appends.
//
// The role can change while the broker runs (roleswitch.go), so every
// check above reads the run-time role (Broker.role), never cfg.

// slaveRefusals maps each request code a slave refuses to the reason in
// its remark.
var slaveRefusals = map[int16]string{
	remoting.CodeSendMessage:                      "sends",
	remoting.CodeSendMessageV2:                    "sends",
	remoting.CodeSendBatchMessage:                 "sends",
	remoting.CodeConsumerSendMsgBack:              "consumer send-back",
	remoting.CodeEndTransaction:                   "transaction commit and rollback",
	remoting.CodeSendReplyMessage:                 "reply messages",
	remoting.CodeSendReplyMessageV2:               "reply messages",
	remoting.CodeUpdateAndCreateTopic:             "topic creation and updates (topics come from the master)",
	remoting.CodeDeleteTopicInBroker:              "topic deletion (topics come from the master)",
	remoting.CodeInvokeBrokerToResetOffset:        "offset resets (send them to the master)",
	remoting.CodeUpdateAndCreateSubscriptionGroup: "subscription group changes (groups come from the master)",
	remoting.CodeDeleteSubscriptionGroup:          "subscription group deletion (groups come from the master)",
}

// roleState is the broker's role at run time. It starts as the
// configuration says (epoch 0) and changes only through BecomeMaster and
// BecomeSlave (roleswitch.go); cfg stays the user's file. A roleState is
// never modified once published: a change stores a new one.
type roleState struct {
	slave bool
	// pending: no role yet (WithPendingRole); slave is set too, so
	// everything a slave refuses is refused, but it neither follows nor
	// registers.
	pending  bool
	brokerID int64 // 0 on a master; -1 while pending
	// epoch is the master epoch of the last role change (RocketMQ 5's
	// masterEpoch), registered as dataVersion.stateVersion; 0 for the
	// configured role.
	epoch int32
	// brokerRole is what status shows: ASYNC_MASTER, SYNC_MASTER or
	// SLAVE.
	brokerRole string
	// masterAddr is the master (ip:listenPort) BecomeSlave named; "" for
	// a configured slave, which follows whichever master the name
	// servers name.
	masterAddr string
}

// rolePending is the brokerRole status shows for a broker with no role
// yet.
const rolePending = "PENDING"

// role returns the current role; safe for concurrent use.
func (b *Broker) role() *roleState { return b.roleNow.Load() }

// isSlave reports whether the broker is a slave now.
func (b *Broker) isSlave() bool { return b.role().slave }

// guardRole returns the handler to register for code: a code that would
// append or change master-owned metadata is refused (14) on a slave and on
// a master whose write fence is up, checked on every request, since the
// role can change at run time. Except for sends (which hold it only
// around their append, send.go), the handler runs inside the append gate,
// so a demotion waits for it. A SUCCESS reply of a broker that stopped
// being a writable master while it ran becomes 14 (finalAck).
func (b *Broker) guardRole(code int16, h remoting.Handler) remoting.Handler {
	what, refused := slaveRefusals[code]
	if !refused {
		return h
	}
	send := code == remoting.CodeSendMessage || code == remoting.CodeSendMessageV2 || code == remoting.CodeSendBatchMessage
	return func(ctx context.Context, c *remoting.Conn, req *remoting.Command) *remoting.Command {
		if remark := b.refusal(what); remark != "" {
			return remoting.NewResponse(req, remoting.RespServiceNotAvailable, remark)
		}
		if !send {
			if !b.appends.enter() {
				return remoting.NewResponse(req, remoting.RespServiceNotAvailable, b.refusalOr(what))
			}
			defer b.appends.leave()
		}
		return b.finalAck(req, h(ctx, c, req))
	}
}

// refusal is why the broker takes no what now ("" when it does): it is a
// slave, or a master whose write fence is up.
func (b *Broker) refusal(what string) string {
	r := b.role()
	if r.pending {
		return fmt.Sprintf("broker %s has no role yet (the controller has not named it master or slave of %s): it takes no %s",
			b.addr, b.cfg.BrokerName, what)
	}
	if r.slave {
		return fmt.Sprintf("broker %s (brokerId %d) is a slave: it takes no %s; send to the master of %s",
			b.addr, r.brokerID, what, b.cfg.BrokerName)
	}
	if b.fenced() {
		return fmt.Sprintf("broker %s, master of %s, has lost its write lease: it takes no %s until it is renewed",
			b.addr, b.cfg.BrokerName, what)
	}
	return ""
}

// refusalOr is refusal, or a generic remark when the state changed back
// in between.
func (b *Broker) refusalOr(what string) string {
	if r := b.refusal(what); r != "" {
		return r
	}
	return fmt.Sprintf("broker %s is changing role: it takes no %s now", b.addr, what)
}

// finalAck turns a SUCCESS reply to an appending request into 14 when
// the broker is no longer a master whose writes count: it was demoted, or
// its fence went up, while the request ran. The record may be stored
// here, but it is not acknowledged: the client retries elsewhere.
func (b *Broker) finalAck(req, resp *remoting.Command) *remoting.Command {
	if resp == nil || resp.Code != remoting.RespSuccess {
		return resp
	}
	if why := b.refusal("acknowledged writes"); why != "" {
		return remoting.NewResponse(req, remoting.RespServiceNotAvailable, "stored here but not acknowledged: "+why)
	}
	return resp
}

// masterState is what a slave knows of its master, from the name servers'
// REGISTER_BROKER replies (or haMasterAddress for the HA address).
type masterState struct {
	mu        sync.Mutex
	addr, ha  string // guarded by mu
	known     bool   // a round of replies has been seen; guarded by mu
	listeners []func(masterAddr, haServerAddr string)
	// notify serializes listener calls, so they see changes in order.
	notify sync.Mutex
}

// MasterAddrs returns the address of this broker's master (ip:listenPort)
// and its HA address, as the name servers last told this slave; both are
// empty when no master of this broker name is registered (or on a
// master). haServerAddr is haMasterAddress when that is configured, even
// while no master is registered. After BecomeSlave, masterAddr is the
// master it named, and haServerAddr is that master's HA address once a
// name server registers it as brokerId 0 ("" until then; haMasterAddress
// no longer applies). Safe for concurrent use.
func (b *Broker) MasterAddrs() (masterAddr, haServerAddr string) {
	r := b.role()
	if !r.slave {
		return "", ""
	}
	m := &b.master
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.masterAddr != "" {
		if m.addr == r.masterAddr {
			return r.masterAddr, m.ha
		}
		return r.masterAddr, ""
	}
	return m.addr, b.haAddrLocked()
}

// haAddrLocked is the HA address to follow: haMasterAddress while the
// broker has its configured role. REQUIRES: b.master.mu held.
func (b *Broker) haAddrLocked() string {
	if b.cfg.HAMasterAddress != "" && b.role().epoch == 0 {
		return b.cfg.HAMasterAddress
	}
	return b.master.ha
}

// resetMaster forgets what the name servers said of the master (a role
// change: the next round of replies says it again).
func (b *Broker) resetMaster() {
	m := &b.master
	m.notify.Lock()
	defer m.notify.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.addr, m.ha, m.known = "", "", false
}

// awaitingMaster reports whether the broker is a slave whose master
// (named by BecomeSlave) the name servers do not name yet: the registrar
// then polls them often, as the HA client needs the master's HA address
// from their replies.
func (b *Broker) awaitingMaster() bool {
	r := b.role()
	if !r.slave || r.masterAddr == "" {
		return false
	}
	b.master.mu.Lock()
	defer b.master.mu.Unlock()
	return b.master.addr != r.masterAddr
}

// OnMasterChange calls fn (on the registrar's goroutine; fn must not
// block for long) each time MasterAddrs' answer changes: the master
// registers, moves, or is dropped by the name servers (then both are
// empty, unless haMasterAddress is set). fn is not called for the state
// at the time of the call: read MasterAddrs after registering fn.
func (b *Broker) OnMasterChange(fn func(masterAddr, haServerAddr string)) {
	b.master.mu.Lock()
	defer b.master.mu.Unlock()
	b.master.listeners = append(b.master.listeners, fn)
}

// setMaster records what a round of REGISTER_BROKER replies said of the
// master; it logs and notifies only on a change (and the first time, when
// no master is registered yet).
func (b *Broker) setMaster(addr, ha string) {
	m := &b.master
	m.notify.Lock()
	defer m.notify.Unlock()
	m.mu.Lock()
	oldAddr, oldHA := m.addr, b.haAddrLocked()
	first := !m.known
	m.addr, m.ha, m.known = addr, ha, true
	newHA := b.haAddrLocked()
	listeners := m.listeners
	m.mu.Unlock()
	if !first && oldAddr == addr && oldHA == newHA {
		return
	}
	if addr == "" {
		b.log.Info(fmt.Sprintf("slave of %s: master not registered yet, waiting", b.cfg.BrokerName), "haMasterAddress", b.cfg.HAMasterAddress)
	} else {
		b.log.Info(fmt.Sprintf("slave of %s: master is %s", b.cfg.BrokerName, addr), "haServerAddr", newHA)
	}
	if oldAddr == addr && oldHA == newHA {
		return // the first round only confirmed "no master"
	}
	for _, fn := range listeners {
		fn(addr, newHA)
	}
}

// movesOffset reports whether a Get status makes a master correct the
// consumer's offset (the statuses Java passes through
// nextOffsetCorrection).
func movesOffset(st engine.GetStatus) bool {
	switch st {
	case engine.NoMatchedLogicQueue, engine.NoMessageInQueue, engine.OffsetTooSmall,
		engine.OffsetOverflowBadly, engine.OffsetOverflowOne, engine.OffsetFoundNull:
		return true
	}
	return false
}

// suggestBroker is a pull reply's suggestWhichBrokerId (Java
// PullMessageProcessor): 0 (the master) unless slaveReadEnable; with it,
// the group's whichBrokerWhenConsumeSlowly for a consumer far behind and
// the group's brokerId otherwise.
func (b *Broker) suggestBroker(p *pullRequest, res *engine.GetResult) int64 {
	if !b.cfg.SlaveReadEnable {
		return 0
	}
	if res.Status == engine.Found && b.behind(res.Data) > b.farBehind {
		return p.slowBrokerID
	}
	return p.groupBrokerID
}

// behind is how many CommitLog bytes lie after the start of the last
// record of data (Java: maxOffsetPy - maxPhyOffsetPulling).
func (b *Broker) behind(data []byte) int64 {
	last := -1
	for i := 0; i < len(data); {
		size, _, err := msg.PeekHeader(data[i:])
		if err != nil || size <= 0 {
			break
		}
		last, i = i, i+size
	}
	if last < 0 {
		return 0
	}
	r, err := msg.Decode(data[last:])
	if err != nil {
		return 0
	}
	return b.store.MaxPhysOffset() - r.PhysOffset
}

// farBehindBytes is RocketMQ's bound for "the consumer is far behind, its
// messages are probably out of the page cache": 40 % of physical memory
// (accessMessageInMemoryMaxRatio). Where the memory size cannot be read
// (not Linux), 40 % of 8 GiB.
func farBehindBytes() int64 {
	const ratio, fallback = 40, 8 << 30
	mem := int64(fallback)
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil && kb > 0 {
					mem = kb << 10
				}
				break
			}
		}
	}
	return mem / 100 * ratio
}

// addRoleInfo adds the replication keys of the runtime table (Wharf's
// own; `wharf admin broker status` prints them): brokerRole, brokerId,
// masterEpoch (0 until a role change), writeFenced, haServerAddr (this
// broker's HA listener), and on a slave masterAddr and masterHaServerAddr
// ("" while no master is registered).
//
// The HA service adds its figures after these: on a master each slave's
// acknowledged offset and lag in bytes and seconds, on a slave its own
// replicated offset.
func (b *Broker) addRoleInfo(t map[string]string) {
	r := b.role()
	t["brokerRole"] = r.brokerRole
	t["brokerId"] = strconv.FormatInt(r.brokerID, 10)
	t["masterEpoch"] = strconv.FormatInt(int64(r.epoch), 10)
	t["writeFenced"] = strconv.FormatBool(b.fenced())
	t["haServerAddr"] = b.HAServerAddr()
	if r.slave {
		t["masterAddr"], t["masterHaServerAddr"] = b.MasterAddrs()
	}
	b.addReplicationInfo(t)
}
