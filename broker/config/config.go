// Package config is the broker's configuration: Config with RocketMQ
// 4.9.8's defaults, Validate, and the broker.conf loader (Java properties).
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wharfmq/wharf/broker/failover"
	"github.com/wharfmq/wharf/broker/ha"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/internal/wiretls"
)

// Metrics exporter types (broker.conf metricsExporterType), and the
// defaults of the metrics keys.
const (
	MetricsDisable                 = "DISABLE"
	MetricsProm                    = "PROM"
	DefaultMetricsPromExporterPort = 5557
	DefaultMetricsMaxKeys          = 1000
)

// Flush disk types (broker.conf flushDiskType).
const (
	AsyncFlush = "ASYNC_FLUSH"
	SyncFlush  = "SYNC_FLUSH"
)

// Broker roles (broker.conf brokerRole, RocketMQ's BrokerRole).
const (
	AsyncMaster = "ASYNC_MASTER"
	SyncMaster  = "SYNC_MASTER"
	Slave       = "SLAVE"
)

// Config is the broker configuration. Field names follow RocketMQ's
// broker.conf property names (the property is given in each comment), so a
// RocketMQ user can bring their file; see Load.
type Config struct {
	BrokerClusterName string // brokerClusterName, "DefaultCluster"
	BrokerName        string // brokerName, "broker-a"
	BrokerID          int64  // brokerId, 0 = master, > 0 = a slave
	// BrokerRole is ASYNC_MASTER, SYNC_MASTER or SLAVE (brokerRole,
	// ASYNC_MASTER). It must agree with BrokerID: 0 for a master, > 0 for
	// a slave.
	BrokerRole string
	// NamesrvAddr lists name servers separated by ';' (namesrvAddr).
	NamesrvAddr string
	// ListenPort is the port to listen on (listenPort, 10911).
	ListenPort int
	// BrokerIP1 is the address advertised to clients (brokerIP1). Empty
	// means the listening address, or the first non-loopback IPv4 address
	// of the host when listening on all interfaces.
	BrokerIP1 string
	// BrokerIP2 is the IP this broker advertises for its HA port
	// (brokerIP2): replicas dial it to follow this broker when it is
	// master. Empty means brokerIP1's address.
	BrokerIP2 string
	// Listen, when set, is the exact "host:port" to listen on and
	// overrides ListenPort (Wharf only: --listen; tests use 127.0.0.1:0).
	Listen string

	StorePathRootDir        string        // storePathRootDir, ~/store
	MappedFileSizeCommitLog int64         // mappedFileSizeCommitLog, 1 GiB
	FlushDiskType           string        // flushDiskType, ASYNC_FLUSH or SYNC_FLUSH
	FlushIntervalCommitLog  time.Duration // flushIntervalCommitLog (ms), 500 ms
	FileReservedTime        time.Duration // fileReservedTime (hours), 72 h
	// DiskMaxUsedSpaceRatio (percent): over it, retention removes young
	// segments whose messages every group has consumed; segments with
	// unconsumed messages stay until fileReservedTime (diskMaxUsedSpaceRatio, 75).
	DiskMaxUsedSpaceRatio int
	// CleanFileForciblyEnable removes the oldest segments, unconsumed
	// messages and all, while the disk is fuller than
	// DiskSpaceCleanForciblyRatio (cleanFileForciblyEnable; true in
	// RocketMQ, false in Wharf, which refuses sends instead).
	CleanFileForciblyEnable bool
	// DiskSpaceCleanForciblyRatio, see CleanFileForciblyEnable
	// (diskSpaceCleanForciblyRatio, 0.85; a JVM property in RocketMQ).
	DiskSpaceCleanForciblyRatio float64
	// DiskSpaceWarningLevelRatio refuses sends while the disk is fuller
	// (diskSpaceWarningLevelRatio, 0.90; a JVM property in RocketMQ).
	DiskSpaceWarningLevelRatio float64

	MaxHashSlotNum int // maxHashSlotNum, slots per key-index file (0: the index default, 5,000,000)
	MaxIndexNum    int // maxIndexNum, entries per key-index file (0: the index default, 20,000,000)

	AutoCreateTopicEnable       bool  // autoCreateTopicEnable, true
	AutoCreateSubscriptionGroup bool  // autoCreateSubscriptionGroup, true
	DefaultTopicQueueNums       int32 // defaultTopicQueueNums, 8
	MaxMessageSize              int   // maxMessageSize (bytes), 4 MiB

	RegisterNameServerPeriod time.Duration // registerNameServerPeriod (ms), 30 s, clamped to 10..60 s
	// CompressedRegister sends REGISTER_BROKER bodies in RocketMQ's
	// compressed form (compressedRegister; true in Wharf, false in RocketMQ).
	CompressedRegister bool
	// SplitRegistrationSize is the most topics one REGISTER_BROKER carries;
	// a larger table goes in several (splitRegistrationSize, 10,000; RocketMQ
	// splits only with enableSplitRegistration, at 800).
	SplitRegistrationSize int
	// MaxTopicNums caps the topics of the broker: creating one more is
	// refused with a remark (maxTopicNums, Wharf only, 200,000).
	MaxTopicNums          int
	LongPollingEnable     bool          // longPollingEnable, true
	ShortPollingTimeMills time.Duration // shortPollingTimeMills (ms), 1 s
	TraceOn               bool          // traceOn, true (sent back as TRACE_ON)
	RegionID              string        // regionId, "DefaultRegion" (sent back as MSG_REGION)
	// TraceTopicEnable creates the message trace topic MsgTraceTopicName
	// (1 queue) at start, so clients built WithTrace have somewhere to send
	// their traces (traceTopicEnable, false, as in RocketMQ).
	TraceTopicEnable  bool
	MsgTraceTopicName string // msgTraceTopicName, "RMQ_SYS_TRACE_TOPIC"
	// MetricsExporterType turns the metrics listener on: "PROM" serves
	// Prometheus /metrics with /healthz and /readyz on
	// MetricsPromExporterHost:MetricsPromExporterPort; "DISABLE" (the
	// default, as RocketMQ 5) serves nothing. RocketMQ's OTLP_GRPC and LOG
	// exporters are not supported (metricsExporterType).
	MetricsExporterType string
	// MetricsPromExporterHost is the metrics listener's host
	// (metricsPromExporterHost); "" means brokerIP1, else all interfaces.
	MetricsPromExporterHost string
	// MetricsPromExporterPort is its port (metricsPromExporterPort, 5557).
	MetricsPromExporterPort int
	// MetricsMaxKeys bounds the topics, and the topic and consumer group
	// pairs, that metrics and traffic statistics keep apart; traffic of
	// any beyond is counted under "%OTHER%" (Wharf only: metricsMaxKeys,
	// 1000).
	MetricsMaxKeys int
	// EnablePropertyFilter serves SQL92 subscriptions (consumer
	// MessageSelector of type SQL92) by filtering on message properties
	// (enablePropertyFilter, false, as in RocketMQ: pulls of a SQL92
	// subscription then fail with SYSTEM_ERROR).
	EnablePropertyFilter bool
	// StoreReplyMessageEnable also stores request-reply replies in the
	// reply topic after pushing them (storeReplyMessageEnable, true).
	StoreReplyMessageEnable bool
	// MessageDelayLevel lists the delay of each level, 1 first
	// (messageDelayLevel, engine.DefaultMessageDelayLevel); units ms, s, m, h, d.
	MessageDelayLevel string

	// TransactionTimeOut is how old a half message must be before its
	// first check-back (transactionTimeOut (ms), 6 s).
	TransactionTimeOut time.Duration
	// TransactionCheckInterval is the period of the check-back scan
	// (transactionCheckInterval (ms), 60 s).
	TransactionCheckInterval time.Duration
	// TransactionCheckMax is the number of check-backs after which a half
	// message is moved to TRANS_CHECK_MAX_TIME_TOPIC
	// (transactionCheckMax, 15).
	TransactionCheckMax int
	// RejectTransactionMessage refuses TRAN_MSG sends with 16
	// (rejectTransactionMessage, false).
	RejectTransactionMessage bool

	// ACL: RocketMQ 4.x plain ACL (package acl).

	// AclEnable checks every request against the accounts of AclFile
	// (aclEnable, false).
	AclEnable bool
	// AclFile is the plain_acl.yml (aclFile, Wharf only). With aclEnable,
	// Load makes it plain_acl.yml beside the broker.conf it reads when
	// unset (as RocketMQ's conf/plain_acl.yml sits beside conf/broker.conf)
	// and resolves a relative one against that file's directory.
	AclFile string
	// AccessKey and SecretKey sign the broker's own requests to name
	// servers and to its master (accessKey, secretKey; Wharf's choice of
	// keys), so a name server or master with ACL on lets it in.
	AccessKey string
	SecretKey string

	// Classic master-slave replication (RocketMQ 4.9's HA keys, package
	// broker/ha). Defaults are ha's Default* constants.

	// HAListenPort is the port of the HA listener (haListenPort). 0 means
	// the listening port + 1, which broker.New resolves to the port it
	// actually listens on + 1; RocketMQ 4.9 always uses listenPort + 1,
	// Wharf honours an explicit value as RocketMQ 5 does.
	HAListenPort int
	// HAAdvertisedAddress is the "host:port" this broker advertises as
	// its HA address (haServerAddr, which replicas dial to follow it),
	// for a broker reached through NAT, a container's port mapping or a
	// proxy (Wharf only: haAdvertisedAddress, like Kafka's
	// advertised.listeners). Empty means brokerIP2:haListenPort.
	HAAdvertisedAddress string
	// HASendHeartbeatInterval: a quiet HA connection sends a report or an
	// empty frame this often (haSendHeartbeatInterval (ms), 5 s).
	HASendHeartbeatInterval time.Duration
	// HAHousekeepingInterval: an HA connection with nothing read for this
	// long is closed (haHousekeepingInterval (ms), 20 s).
	HAHousekeepingInterval time.Duration
	// HATransferBatchSize is the largest frame body a master sends
	// (haTransferBatchSize, 32 KiB; at most ha.MaxBodySize).
	HATransferBatchSize int
	// HACatchUpBatchSize is the largest frame body a master sends a
	// replica that is a batch or more behind (haCatchUpBatchSize, a Wharf
	// key; 1 MiB; at most ha.MaxBodySize; a value up to
	// haTransferBatchSize keeps RocketMQ's frames).
	HACatchUpBatchSize int
	// HAFrameHold bounds how long a master holds a frame shorter than a
	// batch while the slave has not reported the frames before it, so
	// that the sends of one replication round trip share a frame
	// (haFrameHoldMicros, a Wharf key; 1 ms; 0 sends every frame at once,
	// as RocketMQ does).
	HAFrameHold time.Duration
	// HAMaxGapNotInSync: a slave this many bytes or more behind the
	// master's end is not in sync (haMaxGapNotInSync, RocketMQ 5's name,
	// or haSlaveFallbehindMax, 4.9's; 256 MiB).
	HAMaxGapNotInSync int64
	// SlaveTimeout is how long a SYNC_MASTER send waits for a slave's
	// acknowledgement (slaveTimeout (ms), 3 s).
	SlaveTimeout time.Duration
	// SlaveReadEnable lets consumers read from slaves: pull replies
	// suggest the group's whichBrokerWhenConsumeSlowly to a consumer far
	// behind (slaveReadEnable, false).
	SlaveReadEnable bool
	// HAMasterAddress, on a slave, is the master's HA address
	// ("host:port"); empty means the one the name servers reply with to
	// REGISTER_BROKER (haMasterAddress).
	HAMasterAddress string
	// SyncFromLastFile makes an empty slave start copying at the master's
	// last CommitLog file, as RocketMQ does, instead of its oldest
	// (syncFromLastFile, false).
	SyncFromLastFile bool

	// Controller mode (RocketMQ 5's keys, package broker/failover): the
	// controller group assigns the replica id and the role; brokerId and
	// brokerRole are ignored.

	// EnableControllerMode turns it on (enableControllerMode, false).
	EnableControllerMode bool
	// ControllerAddr lists the controllers, "host:port;host:port"
	// (controllerAddr): name servers hosting one, or their peer ports.
	// ControllerAddrs splits it.
	ControllerAddr string
	// AllAckInSyncStateSet: a send is acknowledged only once every member
	// of the SyncStateSet holds it (allAckInSyncStateSet; RocketMQ false,
	// Wharf true).
	AllAckInSyncStateSet bool
	// MinInSyncReplicas: under allAckInSyncStateSet a send is refused
	// before it is stored while the SyncStateSet has fewer members than
	// this (minInSyncReplicas, 1: never; RocketMQ's
	// IN_SYNC_REPLICAS_NOT_ENOUGH, code 1 to the client).
	MinInSyncReplicas int
	// HAMaxTimeSlaveNotCatchup: a member that has not caught up for this
	// long leaves the SyncStateSet (haMaxTimeSlaveNotCatchup (ms), 15 s).
	HAMaxTimeSlaveNotCatchup time.Duration
	// EnableElectUncleanMaster: the controllers may elect a replica
	// outside the SyncStateSet (enableElectUncleanMaster, false). The
	// broker needs it too: it then fences on a lapsed lease.
	EnableElectUncleanMaster bool
	// BrokerElectionPriority: lower is preferred among equally fresh
	// replicas (brokerElectionPriority, the largest int32).
	BrokerElectionPriority int32
	// ControllerHeartBeatTimeout is how long the controllers wait for a
	// heartbeat before they count the broker dead
	// (controllerHeartBeatTimeoutMills; RocketMQ 10 s, Wharf 3 s).
	ControllerHeartBeatTimeout time.Duration
	// BrokerHeartbeatInterval: heartbeats to the controllers
	// (brokerHeartbeatInterval (ms), 1 s).
	BrokerHeartbeatInterval time.Duration
	// BrokerLease is how long a master acknowledges writes after a
	// renewal (brokerLeaseMillis, Wharf, 2 s; the controllers' value).
	BrokerLease time.Duration
	// SyncBrokerMetadataPeriod: how often the broker reads its group from
	// the controller (syncBrokerMetadataPeriod (ms); RocketMQ 5 s, Wharf
	// 1 s).
	SyncBrokerMetadataPeriod time.Duration
	// CheckSyncStateSetPeriod: how often a master checks its SyncStateSet
	// (checkSyncStateSetPeriod (ms); RocketMQ 5 s, Wharf 1 s).
	CheckSyncStateSetPeriod time.Duration

	// TLS holds RocketMQ's tls.* keys (JVM properties in RocketMQ, taken
	// from broker.conf here): the server mode of the remoting and HA
	// ports, and whether the broker's own connections (name servers,
	// master, controllers) use TLS (tls.enable).
	TLS wiretls.Settings
}

// Defaults of the registration and topic-count settings.
const (
	DefaultSplitRegistrationSize = 10_000
	DefaultMaxTopicNums          = 200_000
)

// Defaults of the transaction settings (Java BrokerConfig).
const (
	DefaultTransactionTimeOut       = 6 * time.Second
	DefaultTransactionCheckInterval = 60 * time.Second
	DefaultTransactionCheckMax      = 15
)

// Default returns RocketMQ 4.9.8's defaults.
func Default() Config {
	home, _ := os.UserHomeDir()
	return Config{
		BrokerClusterName:           "DefaultCluster",
		BrokerName:                  "broker-a",
		ListenPort:                  10911,
		StorePathRootDir:            home + string(os.PathSeparator) + "store",
		MappedFileSizeCommitLog:     1 << 30,
		FlushDiskType:               AsyncFlush,
		BrokerRole:                  AsyncMaster,
		FlushIntervalCommitLog:      500 * time.Millisecond,
		FileReservedTime:            72 * time.Hour,
		DiskMaxUsedSpaceRatio:       75,
		DiskSpaceWarningLevelRatio:  0.90,
		DiskSpaceCleanForciblyRatio: 0.85,
		AutoCreateTopicEnable:       true,
		AutoCreateSubscriptionGroup: true,
		DefaultTopicQueueNums:       8,
		MaxMessageSize:              4 << 20,
		RegisterNameServerPeriod:    30 * time.Second,
		CompressedRegister:          true,
		SplitRegistrationSize:       DefaultSplitRegistrationSize,
		MaxTopicNums:                DefaultMaxTopicNums,
		LongPollingEnable:           true,
		ShortPollingTimeMills:       time.Second,
		TraceOn:                     true,
		RegionID:                    "DefaultRegion",
		StoreReplyMessageEnable:     true,
		MsgTraceTopicName:           "RMQ_SYS_TRACE_TOPIC",
		MetricsExporterType:         MetricsDisable,
		MetricsPromExporterPort:     DefaultMetricsPromExporterPort,
		MetricsMaxKeys:              DefaultMetricsMaxKeys,
		MessageDelayLevel:           engine.DefaultMessageDelayLevel,
		TransactionTimeOut:          DefaultTransactionTimeOut,
		TransactionCheckInterval:    DefaultTransactionCheckInterval,
		TransactionCheckMax:         DefaultTransactionCheckMax,
		HASendHeartbeatInterval:     ha.DefaultHeartbeatInterval,
		HAHousekeepingInterval:      ha.DefaultHousekeepingInterval,
		HATransferBatchSize:         ha.DefaultTransferBatchSize,
		HACatchUpBatchSize:          ha.DefaultCatchUpBatchSize,
		HAFrameHold:                 ha.DefaultMaxHold,
		HAMaxGapNotInSync:           ha.DefaultSlaveFallbehindMax,
		SlaveTimeout:                ha.DefaultSlaveTimeout,
		AllAckInSyncStateSet:        true,
		MinInSyncReplicas:           1,
		HAMaxTimeSlaveNotCatchup:    failover.DefaultMaxNotCatchup,
		BrokerElectionPriority:      math.MaxInt32,
		ControllerHeartBeatTimeout:  failover.DefaultHeartbeatTimeout,
		BrokerHeartbeatInterval:     failover.DefaultHeartbeatInterval,
		BrokerLease:                 failover.DefaultLease,
		SyncBrokerMetadataPeriod:    failover.DefaultPoll,
		CheckSyncStateSetPeriod:     failover.DefaultCheckSyncStateSet,
	}
}

// Validate checks values that would make the broker misbehave.
func (c *Config) Validate() error {
	switch {
	case c.BrokerName == "":
		return fmt.Errorf("broker: brokerName is empty")
	case c.BrokerClusterName == "":
		return fmt.Errorf("broker: brokerClusterName is empty")
	case c.MetricsExporterType != "" && c.MetricsExporterType != MetricsDisable && c.MetricsExporterType != MetricsProm:
		return fmt.Errorf("broker: metricsExporterType %q is not supported (want %s or %s)", c.MetricsExporterType, MetricsProm, MetricsDisable)
	case c.MetricsExporterType == MetricsProm && (c.MetricsPromExporterPort < 0 || c.MetricsPromExporterPort > 65535):
		return fmt.Errorf("broker: metricsPromExporterPort %d is out of range", c.MetricsPromExporterPort)
	case c.TraceTopicEnable && c.MsgTraceTopicName == "":
		return fmt.Errorf("broker: traceTopicEnable is set but msgTraceTopicName is empty")
	case c.BrokerRole != AsyncMaster && c.BrokerRole != SyncMaster && c.BrokerRole != Slave:
		return fmt.Errorf("broker: brokerRole %q: want %s, %s or %s", c.BrokerRole, AsyncMaster, SyncMaster, Slave)
	case c.EnableControllerMode:
		// The controller assigns id and role.
	case c.BrokerRole == Slave && c.BrokerID == 0:
		return fmt.Errorf("broker: brokerRole=SLAVE with brokerId=0: a slave needs a brokerId above 0 (0 is the master's)")
	case c.BrokerRole != Slave && c.BrokerID != 0:
		return fmt.Errorf("broker: brokerRole=%s with brokerId=%d: a master has brokerId=0", c.BrokerRole, c.BrokerID)
	case c.FlushDiskType != AsyncFlush && c.FlushDiskType != SyncFlush:
		return fmt.Errorf("broker: flushDiskType %q: want %s or %s", c.FlushDiskType, AsyncFlush, SyncFlush)
	case c.DefaultTopicQueueNums <= 0 || c.DefaultTopicQueueNums > 1024:
		return fmt.Errorf("broker: defaultTopicQueueNums %d out of range 1..1024", c.DefaultTopicQueueNums)
	case c.SplitRegistrationSize <= 0:
		return fmt.Errorf("broker: splitRegistrationSize %d must be positive", c.SplitRegistrationSize)
	case c.MaxTopicNums <= 0:
		return fmt.Errorf("broker: maxTopicNums %d must be positive", c.MaxTopicNums)
	case c.MaxMessageSize <= 0:
		return fmt.Errorf("broker: maxMessageSize %d must be positive", c.MaxMessageSize)
	case (c.AccessKey == "") != (c.SecretKey == ""):
		return fmt.Errorf("broker: accessKey and secretKey go together: set both or neither")
	case c.AclEnable && c.AclFile == "":
		return fmt.Errorf("broker: aclEnable=true needs aclFile (or a broker.conf given with -c, beside which plain_acl.yml is read)")
	case c.DiskMaxUsedSpaceRatio < 10 || c.DiskMaxUsedSpaceRatio > 95:
		return fmt.Errorf("broker: diskMaxUsedSpaceRatio %d out of range 10..95", c.DiskMaxUsedSpaceRatio)
	case c.DiskSpaceWarningLevelRatio < 0.10 || c.DiskSpaceWarningLevelRatio > 0.99:
		return fmt.Errorf("broker: diskSpaceWarningLevelRatio %v out of range 0.10..0.99", c.DiskSpaceWarningLevelRatio)
	case c.DiskSpaceCleanForciblyRatio < 0.10 || c.DiskSpaceCleanForciblyRatio > 0.99:
		return fmt.Errorf("broker: diskSpaceCleanForciblyRatio %v out of range 0.10..0.99", c.DiskSpaceCleanForciblyRatio)
	case c.MappedFileSizeCommitLog != 0 &&
		(c.MappedFileSizeCommitLog < engine.MinSegmentSize || c.MappedFileSizeCommitLog > engine.MaxSegmentSize):
		return fmt.Errorf("broker: mappedFileSizeCommitLog %d outside 4 KiB..1 TiB", c.MappedFileSizeCommitLog)
	case c.MaxHashSlotNum < 0 || c.MaxIndexNum < 0:
		return fmt.Errorf("broker: maxHashSlotNum %d / maxIndexNum %d must not be negative", c.MaxHashSlotNum, c.MaxIndexNum)
	case c.StorePathRootDir == "":
		return fmt.Errorf("broker: storePathRootDir is empty")
	case c.Listen == "" && (c.ListenPort < 0 || c.ListenPort > 65535):
		return fmt.Errorf("broker: listenPort %d out of range", c.ListenPort)
	case c.TransactionTimeOut < 0:
		return fmt.Errorf("broker: transactionTimeOut %v is negative", c.TransactionTimeOut)
	case c.TransactionCheckInterval < time.Millisecond:
		return fmt.Errorf("broker: transactionCheckInterval %v: want at least 1 ms", c.TransactionCheckInterval)
	case c.TransactionCheckMax < 1:
		return fmt.Errorf("broker: transactionCheckMax %d: want at least 1", c.TransactionCheckMax)
	}
	if _, err := engine.ParseDelayLevels(c.MessageDelayLevel); err != nil {
		return fmt.Errorf("broker: messageDelayLevel: %w", err)
	}
	if err := c.validateHA(); err != nil {
		return err
	}
	if err := c.TLS.Validate(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	return c.validateController()
}

// validateController checks the controller-mode keys.
func (c *Config) validateController() error {
	if !c.EnableControllerMode {
		return nil
	}
	if len(c.ControllerAddrs()) == 0 {
		return errors.New("broker: enableControllerMode=true needs controllerAddr (host:port;host:port)")
	}
	for _, a := range c.ControllerAddrs() {
		if err := checkHostPort(a); err != nil {
			return fmt.Errorf("broker: controllerAddr %q: %v", a, err)
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"haMaxTimeSlaveNotCatchup", c.HAMaxTimeSlaveNotCatchup}, {"controllerHeartBeatTimeoutMills", c.ControllerHeartBeatTimeout},
		{"brokerHeartbeatInterval", c.BrokerHeartbeatInterval}, {"brokerLeaseMillis", c.BrokerLease},
		{"syncBrokerMetadataPeriod", c.SyncBrokerMetadataPeriod}, {"checkSyncStateSetPeriod", c.CheckSyncStateSetPeriod},
	} {
		if d.v < time.Millisecond {
			return fmt.Errorf("broker: %s %v: want at least 1 ms", d.key, d.v)
		}
	}
	if c.BrokerLease >= c.ControllerHeartBeatTimeout {
		return fmt.Errorf("broker: brokerLeaseMillis %v must be shorter than controllerHeartBeatTimeoutMills %v", c.BrokerLease, c.ControllerHeartBeatTimeout)
	}
	return nil
}

// validateHA checks the replication keys.
func (c *Config) validateHA() error {
	switch {
	case c.HAListenPort < 0 || c.HAListenPort > 65535:
		return fmt.Errorf("broker: haListenPort %d out of range 0..65535 (0: listenPort+1)", c.HAListenPort)
	case c.HAListenPort == 0 && c.Listen == "" && c.ListenPort == 65535:
		return fmt.Errorf("broker: listenPort 65535 leaves no port for the HA listener (listenPort+1): set haListenPort")
	case c.HAListenPort > 0 && c.HAListenPort == c.listenPort():
		return fmt.Errorf("broker: haListenPort %d is the listenPort: the HA listener needs a port of its own (0: listenPort+1)", c.HAListenPort)
	case c.HASendHeartbeatInterval < time.Millisecond:
		return fmt.Errorf("broker: haSendHeartbeatInterval %v: want at least 1 ms", c.HASendHeartbeatInterval)
	case c.HAHousekeepingInterval < time.Millisecond:
		return fmt.Errorf("broker: haHousekeepingInterval %v: want at least 1 ms", c.HAHousekeepingInterval)
	case c.HATransferBatchSize < 1 || c.HATransferBatchSize > ha.MaxBodySize:
		return fmt.Errorf("broker: haTransferBatchSize %d out of range 1..%d", c.HATransferBatchSize, ha.MaxBodySize)
	case c.HACatchUpBatchSize < 1 || c.HACatchUpBatchSize > ha.MaxBodySize:
		return fmt.Errorf("broker: haCatchUpBatchSize %d out of range 1..%d", c.HACatchUpBatchSize, ha.MaxBodySize)
	case c.HAFrameHold < 0 || c.HAFrameHold > time.Second:
		return fmt.Errorf("broker: haFrameHoldMicros %d out of range 0..1000000 (0: no hold)", c.HAFrameHold.Microseconds())
	case c.HAMaxGapNotInSync < 1:
		return fmt.Errorf("broker: haMaxGapNotInSync (haSlaveFallbehindMax) %d: want at least 1 byte", c.HAMaxGapNotInSync)
	case c.SlaveTimeout < time.Millisecond:
		return fmt.Errorf("broker: slaveTimeout %v: want at least 1 ms", c.SlaveTimeout)
	}
	if c.HAMasterAddress != "" {
		if err := checkHostPort(c.HAMasterAddress); err != nil {
			return fmt.Errorf("broker: haMasterAddress %q: %v", c.HAMasterAddress, err)
		}
	}
	if c.HAAdvertisedAddress != "" {
		if err := checkHostPort(c.HAAdvertisedAddress); err != nil {
			return fmt.Errorf("broker: haAdvertisedAddress %q: %v", c.HAAdvertisedAddress, err)
		}
	}
	if c.BrokerIP2 != "" {
		if _, err := netip.ParseAddr(c.BrokerIP2); err != nil {
			return fmt.Errorf("broker: brokerIP2 %q: want an IP address", c.BrokerIP2)
		}
	}
	return nil
}

// listenPort is the port the broker listens on for clients: Listen's
// when set, else listenPort; 0 when Listen names none (or an ephemeral
// one).
func (c *Config) listenPort() int {
	if c.Listen == "" {
		return c.ListenPort
	}
	_, p, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return 0
	}
	return n
}

// checkHostPort accepts "host:port" with a non-empty host and a port in
// 1..65535.
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port")
	}
	p, err := strconv.Atoi(port)
	switch {
	case host == "":
		return errors.New("want host:port, the host is empty")
	case err != nil || p < 1 || p > 65535:
		return fmt.Errorf("port %q: want 1..65535", port)
	}
	return nil
}

// ControllerAddrs is controllerAddr split at ';', blanks dropped.
func (c *Config) ControllerAddrs() []string {
	var out []string
	for _, a := range strings.Split(c.ControllerAddr, ";") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// IsSlave reports whether the broker is configured as a slave
// (brokerRole=SLAVE): it takes every CommitLog byte from its master and
// appends nothing itself.
func (c *Config) IsSlave() bool { return c.BrokerRole == Slave }

// NameServers returns the name server addresses of NamesrvAddr.
func (c *Config) NameServers() []string {
	var out []string
	for _, a := range strings.Split(c.NamesrvAddr, ";") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// HAMaxHold is HAFrameHold as the HA services take it (ha.MasterOptions.
// MaxHold): negative for no hold.
func (c *Config) HAMaxHold() time.Duration {
	if c.HAFrameHold <= 0 {
		return -1
	}
	return c.HAFrameHold
}
