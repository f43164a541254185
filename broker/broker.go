package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/acl"
	"github.com/wharfmq/wharf/broker/client"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/longpoll"
	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/broker/offsets"
	"github.com/wharfmq/wharf/broker/schedule"
	"github.com/wharfmq/wharf/broker/slavesync"
	"github.com/wharfmq/wharf/broker/transaction"
	"github.com/wharfmq/wharf/controller/api"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/internal/loglimit"
	"github.com/wharfmq/wharf/internal/metricsrv"
	"github.com/wharfmq/wharf/remoting"
)

// Option adjusts how New builds a broker.
type Option func(*options)

type options struct {
	logger  *slog.Logger
	fs      vfs.FS
	pending bool
}

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithFS sets the file system of the store; the default is vfs.Default.
func WithFS(fs vfs.FS) Option { return func(o *options) { o.fs = fs } }

// WithPendingRole starts the broker with no role, whatever brokerRole and
// brokerId say: it refuses appends as a slave does (14), follows no
// master, runs neither the schedule nor the transaction service and does
// not register with the name servers, until BecomeMaster or BecomeSlave
// gives it a role. enableControllerMode=true implies it: the controller
// assigns the role (RocketMQ 5), and brokerId and brokerRole are ignored.
func WithPendingRole() Option { return func(o *options) { o.pending = true } }

// Broker is a RocketMQ-compatible broker: an engine.Store, a remoting server
// with the request processors, and the registration with name servers.
type Broker struct {
	cfg       config.Config
	log       *slog.Logger
	addr      string // advertised "ip:port"
	storeHost netip.AddrPort

	ln      *onceCloseListener
	srv     *remoting.Server
	acl     *acl.Checker // nil: aclEnable off
	store   *engine.Store
	topics  *meta.Topics
	groups  *meta.Groups
	clients *client.Registry[*remoting.Conn]
	locks   *client.Locks
	hold    *longpoll.Hold[*pullRequest]
	ackers  sync.Map // *remoting.Conn -> *syncAcker (syncack.go)
	sched   *schedule.Service
	txn     *transaction.Service
	offsets *offsets.Service
	reg     *registrar
	stats   runtimeStats
	traffic *traffic          // counters behind metrics, rates and VIEW_BROKER_STATS_DATA (traffic.go)
	metrics *metricsrv.Server // the Prometheus listener (metrics.go); nil when off
	repl    replication
	haLn    net.Listener // a master's HA port, bound in New; the HA service owns it after Start
	master  masterState  // a slave's master, from the name servers (role.go)

	// The role at run time (role.go, roleswitch.go): roleNow is read on
	// every request that depends on it; roleMu serializes changes (and
	// Close's stop of what they start); appends counts the appending
	// requests under way; fence is the write fence (nil: none).
	roleNow     atomic.Pointer[roleState]
	roleMu      sync.Mutex
	promoteHook func(epoch int32) error // guarded by roleMu
	cm          *controllerMode         // controller mode (enableControllerMode); nil otherwise
	appends     appendGate
	fence       atomic.Pointer[func() bool]
	// farBehind is how many bytes behind the CommitLog's end a pull must
	// read for the consumer to count as far behind (suggestPullingFromSlave).
	farBehind int64

	// A slave's metadata sync (slavesync.go): the master's listen address,
	// and the Syncer and its client once setSyncMaster started them (under mu).
	syncMaster atomic.Pointer[string]
	syncer     *slavesync.Syncer
	syncClient *remoting.Client

	clientExpiry time.Duration
	scanInterval time.Duration

	// contested limits the log of replies not pushed because their client
	// id is claimed under two ACL accounts (reply.go).
	contested loglimit.Limit

	// tls is the TLS of the broker's ports (tls.server.*) and of its own
	// connections (tls.enable, tls.client.*).
	tls brokerTLS

	// mu guards state and goroutine starts (goAsync).
	mu      sync.Mutex
	started bool
	closed  bool
	quit    chan struct{}
	wg      sync.WaitGroup
}

// New opens the store and the listening socket; Start begins serving.
func New(cfg config.Config, opts ...Option) (_ *Broker, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{logger: slog.Default(), fs: vfs.Default}
	for _, f := range opts {
		f(&o)
	}
	// A local, not the named result: "return nil, err" must not clear
	// what the deferred cleanup closes.
	b := &Broker{
		cfg: cfg, log: o.logger.With("component", "broker", "broker", cfg.BrokerName),
		clients: client.New[*remoting.Conn](client.Options{}), locks: client.NewLocks(client.LockMaxLive, nil),
		clientExpiry: client.DefaultExpiry, scanInterval: client.DefaultScanInterval,
		quit: make(chan struct{}), farBehind: farBehindBytes(),
		traffic: newTraffic(cfg.MetricsMaxKeys),
	}
	b.hold = newPullHold(b)
	// First: the clients made below take the TLS configuration.
	if b.tls, err = newBrokerTLS(&b.cfg, o.logger); err != nil {
		return nil, err
	}
	// In controller mode the controller gives the role.
	if o.pending || cfg.EnableControllerMode {
		b.roleNow.Store(&roleState{slave: true, pending: true, brokerID: -1, brokerRole: rolePending})
	} else {
		b.roleNow.Store(&roleState{slave: cfg.IsSlave(), brokerID: cfg.BrokerID, brokerRole: cfg.BrokerRole})
	}
	b.appends.shut.Store(b.isSlave())
	b.repl.slaveTimeout = cfg.SlaveTimeout
	b.repl.slaves = newSlaveList(b)
	// A configured slave pulls its metadata from whichever master the
	// name servers name, and pauses while they name none (as RocketMQ's
	// does); one made by BecomeSlave from the master it was given.
	b.OnMasterChange(func(addr, _ string) {
		if r := b.role(); r.slave && r.masterAddr == "" {
			b.setSyncMaster(addr)
		}
	})
	levels, err := engine.ParseDelayLevels(cfg.MessageDelayLevel)
	if err != nil {
		return nil, fmt.Errorf("broker: messageDelayLevel: %w", err)
	}
	listen := cfg.Listen
	if listen == "" {
		listen = ":" + strconv.Itoa(cfg.ListenPort)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("broker: listen: %w", err)
	}
	b.ln = &onceCloseListener{Listener: b.tls.remoting.Listen(ln)}
	defer func() {
		if err != nil {
			b.ln.Close()
			b.repl.slaves.client.Close()
			if b.haLn != nil {
				b.haLn.Close()
			}
			if b.store != nil {
				b.store.Close()
			}
			if b.acl != nil {
				b.acl.Close()
			}
		}
	}()
	if b.addr, b.storeHost, err = advertised(cfg.BrokerIP1, ln.Addr()); err != nil {
		return nil, err
	}
	if err := b.listenHA(ln); err != nil {
		return nil, err
	}
	b.sched = schedule.New(levels, b.storeHost, b.log)
	flush := engine.AsyncFlush
	if cfg.FlushDiskType == config.SyncFlush {
		flush = engine.SyncFlush
	}
	b.store, err = engine.Open(engine.Options{
		FS: o.fs, Dir: cfg.StorePathRootDir, SegmentSize: cfg.MappedFileSizeCommitLog,
		FlushMode: flush, FlushInterval: cfg.FlushIntervalCommitLog, MaxMessageSize: cfg.MaxMessageSize,
		FileReservedTime: cfg.FileReservedTime, IndexSlots: cfg.MaxHashSlotNum, IndexEntriesPerFile: cfg.MaxIndexNum,
		DiskMaxUsedRatio: float64(cfg.DiskMaxUsedSpaceRatio) / 100, DiskFullRatio: cfg.DiskSpaceWarningLevelRatio,
		DiskCleanForciblyRatio: cfg.DiskSpaceCleanForciblyRatio, CleanFileForcibly: cfg.CleanFileForciblyEnable,
		StoreHost: b.storeHost, Logger: o.logger,
		OnDispatch: func(topic string, queueID int32, maxOffset int64) {
			b.hold.Notify(topic, queueID, maxOffset)
			b.sched.Notify(topic, queueID)
		},
		DelayLevels: levels,
		// In controller mode consumers see only what the SyncStateSet
		// confirmed, from the first dispatch after a restart on.
		HoldUnconfirmed: cfg.EnableControllerMode,
	})
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	b.sched.SetStore(replicatedStore{b.store, b})
	b.txn = newTxnService(b)
	// OnChange rings only after the built-in topics exist, and b.reg is
	// set before New returns.
	if b.topics, err = meta.OpenTopics(b.store, meta.TopicsOptions{
		Builtins: b.system().Builtins(), Max: cfg.MaxTopicNums, OnChange: func() { b.reg.ring() },
	}, b.log); err != nil {
		return nil, err
	}
	if b.groups, err = meta.OpenGroups(b.store, b.log); err != nil {
		return nil, err
	}
	b.offsets = offsets.New(b.store, resetGroups{b.groups}, b.log)
	b.reg = newRegistrar(b)
	b.restoreTopicsOfStoredQueues() // rings b.reg
	if b.acl, err = openACL(configACL{enable: cfg.AclEnable, file: cfg.AclFile}, &o); err != nil {
		return nil, err
	}
	srvOpts := remoting.ServerOptions{Logger: o.logger, OnClose: b.onConnClose}
	if b.acl != nil {
		srvOpts.Authorize = ACLHook(b.acl)
	}
	b.srv = remoting.NewServer(srvOpts)
	b.registerProcessors()
	if cfg.EnableControllerMode {
		if b.cm, err = newControllerMode(b, o.fs); err != nil {
			return nil, err
		}
		b.srv.Handle(api.CodeNotifyBrokerRoleChanged, b.cm.handleNotify)
	}
	return b, nil
}

// system describes the broker's system topics: its names and the
// configuration that adds or sizes a built-in topic.
func (b *Broker) system() meta.System {
	s := meta.System{Cluster: b.cfg.BrokerClusterName, Broker: b.cfg.BrokerName, ScheduleQueues: b.sched.QueueNums(),
		AutoCreate: b.cfg.AutoCreateTopicEnable, DefaultQueueNums: b.cfg.DefaultTopicQueueNums}
	if b.cfg.TraceTopicEnable {
		s.TraceTopic = b.cfg.MsgTraceTopicName
	}
	return s
}

func (b *Broker) registerProcessors() {
	b.stats.start(b.store)
	handlers := map[int16]remoting.Handler{
		remoting.CodeSendMessage:                      b.handleSend,
		remoting.CodeSendMessageV2:                    b.handleSend,
		remoting.CodeSendBatchMessage:                 b.handleSend,
		remoting.CodePullMessage:                      b.handlePull,
		remoting.CodeQueryConsumerOffset:              b.handleQueryConsumerOffset,
		remoting.CodeUpdateConsumerOffset:             b.handleUpdateConsumerOffset,
		remoting.CodeGetMaxOffset:                     b.handleGetMaxOffset,
		remoting.CodeGetMinOffset:                     b.handleGetMinOffset,
		remoting.CodeSearchOffsetByTimestamp:          b.handleSearchOffset,
		remoting.CodeGetEarliestMsgStoreTime:          b.handleEarliestStoreTime,
		remoting.CodeHeartBeat:                        b.handleHeartbeat,
		remoting.CodeUnregisterClient:                 b.handleUnregisterClient,
		remoting.CodeGetConsumerListByGroup:           b.handleGetConsumerList,
		remoting.CodeLockBatchMQ:                      b.handleLockBatch,
		remoting.CodeUnlockBatchMQ:                    b.handleUnlockBatch,
		remoting.CodeUpdateAndCreateTopic:             b.handleUpdateTopic,
		remoting.CodeDeleteTopicInBroker:              b.handleDeleteTopic,
		remoting.CodeGetAllTopicConfig:                b.handleGetAllTopicConfig,
		remoting.CodeGetAllSubscriptionGroupConfig:    b.handleGetAllGroupConfig,
		remoting.CodeUpdateAndCreateSubscriptionGroup: b.handleUpdateGroup,
		remoting.CodeDeleteSubscriptionGroup:          b.handleDeleteGroup,
		remoting.CodeGetBrokerConfig:                  b.handleGetBrokerConfig,
		remoting.CodeGetConsumerConnectionList:        b.handleConsumerConnections,
		remoting.CodeGetProducerConnectionList:        b.handleProducerConnections,
		remoting.CodeGetConsumerRunningInfo:           b.handleConsumerRunningInfo,
		remoting.CodeGetAllConsumerOffset:             b.handleGetAllConsumerOffset,
		remoting.CodeGetAllDelayOffset:                b.handleGetAllDelayOffset,
		remoting.CodeQueryMessage:                     b.handleQueryMessage,
		remoting.CodeViewMessageByID:                  b.handleViewMessage,
		remoting.CodeConsumerSendMsgBack:              b.handleConsumerSendMsgBack,
		remoting.CodeEndTransaction:                   b.handleEndTransaction,
		remoting.CodeGetTopicStatsInfo:                b.handleGetTopicStats,
		remoting.CodeGetConsumeStats:                  b.handleGetConsumeStats,
		remoting.CodeGetBrokerRuntimeInfo:             b.handleGetRuntimeInfo,
		remoting.CodeViewBrokerStatsData:              b.handleViewBrokerStatsData,
		remoting.CodeSendReplyMessage:                 b.handleSendReply,
		remoting.CodeInvokeBrokerToResetOffset:        b.handleResetOffset,
		remoting.CodeSendReplyMessageV2:               b.handleSendReply,
	}
	for code, h := range handlers {
		handlers[code] = b.timed(b.guardRole(code, h))
		b.srv.Handle(code, handlers[code])
	}
	// A send only appends (ASYNC_FLUSH: into the page cache) and returns;
	// under SYNC_FLUSH a lone send waits for its fsync in place and a
	// pipelined one is answered by the connection's acker after the fsync
	// (syncack.go). So sends run on the reader, without a goroutine per
	// message, and a pipelined burst shares one group commit.
	for _, code := range []int16{remoting.CodeSendMessage, remoting.CodeSendMessageV2, remoting.CodeSendBatchMessage} {
		b.srv.HandleInline(code, handlers[code])
	}
	// Offset commits apply in the order a connection sent them: the Go
	// client sends them oneway, and after a reset the old and the new
	// offset of a queue go back to back; served by concurrent goroutines
	// the old one could land last and undo the reset.
	b.srv.HandleInline(remoting.CodeUpdateConsumerOffset, handlers[remoting.CodeUpdateConsumerOffset])
}

// advertised picks the address clients are told: brokerIP1 if set, else
// the listening IP, else (listening on all interfaces) the first
// non-loopback IPv4 address of the host.
func advertised(brokerIP1 string, la net.Addr) (string, netip.AddrPort, error) {
	tcp, ok := la.(*net.TCPAddr)
	if !ok {
		return "", netip.AddrPort{}, fmt.Errorf("broker: listener address %v is not TCP", la)
	}
	port := uint16(tcp.Port)
	var ip netip.Addr
	switch {
	case brokerIP1 != "":
		a, err := netip.ParseAddr(brokerIP1)
		if err != nil {
			return "", netip.AddrPort{}, fmt.Errorf("broker: brokerIP1 %q: %w", brokerIP1, err)
		}
		ip = a
	case !tcp.IP.IsUnspecified():
		ip, _ = netip.AddrFromSlice(tcp.IP)
	default:
		ip = hostIPv4()
	}
	ap := netip.AddrPortFrom(ip.Unmap(), port)
	return ap.String(), ap, nil
}

func hostIPv4() netip.Addr {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			ip, _ := netip.AddrFromSlice(n.IP.To4())
			return ip
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// Addr returns the advertised "ip:port" clients connect to.
func (b *Broker) Addr() string { return b.addr }

// Config returns the configuration the broker runs with.
func (b *Broker) Config() config.Config { return b.cfg }

// Store exposes the message store (tools and tests).
func (b *Broker) Store() *engine.Store { return b.store }

// Start serves requests, starts the client expiry scan and registers with
// the name servers (at once, then every registerNameServerPeriod).
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("broker: closed")
	}
	if b.started {
		return errors.New("broker: already started")
	}
	if err := b.startMetrics(); err != nil {
		return err
	}
	if err := b.srv.StartListener(b.ln); err != nil {
		b.stopMetrics()
		return fmt.Errorf("broker: %w", err)
	}
	if err := b.startReplication(); err != nil {
		b.srv.Close()
		b.stopMetrics()
		return err
	}
	b.started = true
	b.traffic.sampler.Start()
	b.clients.Start(b.clientExpiry, b.scanInterval, b.onClientsExpired)
	b.reg.start()
	if b.cm != nil {
		if err := b.cm.start(); err != nil {
			b.stopReplication()
			b.srv.Close()
			b.stopMetrics()
			b.traffic.sampler.Close()
			b.reg.stop()
			b.started = false
			return err
		}
	}
	if !b.isSlave() {
		// Both append to the CommitLog, which a slave never does
		// (role.go): its master runs them and replicates their records.
		b.sched.Start()
		b.txn.Start()
	}
	r := b.role()
	b.log.Info("broker started", "addr", b.addr, "cluster", b.cfg.BrokerClusterName, "role", r.brokerRole,
		"brokerId", r.brokerID, "namesrv", b.cfg.NamesrvAddr, "store", b.cfg.StorePathRootDir, "flush", b.cfg.FlushDiskType)
	return nil
}

// goAsync runs fn in a goroutine the broker owns and waits for in Close.
// It reports false (and does not run fn) once Close has begun.
func (b *Broker) goAsync(fn func()) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn()
	}()
	return true
}

// Close stops accepting connections, unregisters from the name servers,
// serves what connections already sent (until each is quiet,
// remoting.DefaultDrainTimeout in all: a stopping consumer's last oneway
// offset commits may still be in its socket buffer), answers every held
// pull, closes the server and finally the store.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.quit)
	b.mu.Unlock()
	if b.cm != nil {
		b.cm.close() // no role change starts after this
	}

	b.ln.Close()
	b.stopSync()
	b.reg.stop()
	// Drain before answering held pulls: a reply to a client that has just
	// sent its last requests and closed makes its kernel answer with a
	// reset, and the write error closes the connection, dropping whatever
	// of those requests was still unread.
	b.srv.Drain(context.Background())
	b.hold.Close()
	b.srv.Close()
	b.wg.Wait()
	b.stopMetrics()
	b.traffic.sampler.Close()
	// A role change under way finishes first; none starts after this
	// (checkSwitch), so what is stopped here stays stopped.
	b.roleMu.Lock()
	b.stopReplication()
	b.clients.Close()
	b.sched.Close()
	b.txn.Close()
	b.roleMu.Unlock()
	err := b.store.Close()
	if b.acl != nil {
		b.acl.Close()
	}
	b.log.Info("broker stopped", "addr", b.addr)
	return err
}

// onceCloseListener lets the broker stop accepting before the server, which
// owns the listener, closes it again.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}
