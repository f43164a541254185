package broker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wharfmq/wharf/engine"
)

// Flush disk types (broker.conf flushDiskType).
const (
	AsyncFlush = "ASYNC_FLUSH"
	SyncFlush  = "SYNC_FLUSH"
)

// Config is the broker configuration. Field names follow RocketMQ's
// broker.conf property names (the property is given in each comment), so a
// RocketMQ user can bring their file; see LoadConfig.
type Config struct {
	BrokerClusterName string // brokerClusterName, "DefaultCluster"
	BrokerName        string // brokerName, "broker-a"
	BrokerID          int64  // brokerId, 0 = master (the only role served)
	// NamesrvAddr lists name servers separated by ';' (namesrvAddr).
	NamesrvAddr string
	// ListenPort is the port to listen on (listenPort, 10911).
	ListenPort int
	// BrokerIP1 is the address advertised to clients (brokerIP1). Empty
	// means the listening address, or the first non-loopback IPv4 address
	// of the host when listening on all interfaces.
	BrokerIP1 string
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
	// EnablePropertyFilter serves SQL92 subscriptions (consumer
	// MessageSelector of type SQL92) by filtering on message properties
	// (enablePropertyFilter, false, as in RocketMQ: pulls of a SQL92
	// subscription then fail with SYSTEM_ERROR).
	EnablePropertyFilter bool
	// StoreReplyMessageEnable also stores request-reply replies in the
	// reply topic after pushing them (storeReplyMessageEnable, true).
	StoreReplyMessageEnable bool
	// MessageDelayLevel lists the delay of each level, 1 first
	// (messageDelayLevel, DefaultMessageDelayLevel); units ms, s, m, h, d.
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
}

// Defaults of the registration and topic-count settings.
const (
	DefaultSplitRegistrationSize = 10_000
	DefaultMaxTopicNums          = 200_000
)

// DefaultConfig returns RocketMQ 4.9.8's defaults.
func DefaultConfig() Config {
	home, _ := os.UserHomeDir()
	return Config{
		BrokerClusterName:           "DefaultCluster",
		BrokerName:                  "broker-a",
		ListenPort:                  10911,
		StorePathRootDir:            home + string(os.PathSeparator) + "store",
		MappedFileSizeCommitLog:     1 << 30,
		FlushDiskType:               AsyncFlush,
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
		MessageDelayLevel:           DefaultMessageDelayLevel,
		TransactionTimeOut:          DefaultTransactionTimeOut,
		TransactionCheckInterval:    DefaultTransactionCheckInterval,
		TransactionCheckMax:         DefaultTransactionCheckMax,
	}
}

// Validate checks values that would make the broker misbehave.
func (c *Config) Validate() error {
	switch {
	case c.BrokerName == "":
		return fmt.Errorf("broker: brokerName is empty")
	case c.BrokerClusterName == "":
		return fmt.Errorf("broker: brokerClusterName is empty")
	case c.TraceTopicEnable && c.MsgTraceTopicName == "":
		return fmt.Errorf("broker: traceTopicEnable is set but msgTraceTopicName is empty")
	case c.BrokerID != 0:
		return fmt.Errorf("broker: brokerId %d: only a master (brokerId=0) is supported", c.BrokerID)
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
	if _, err := ParseDelayLevels(c.MessageDelayLevel); err != nil {
		return fmt.Errorf("broker: messageDelayLevel: %w", err)
	}
	return nil
}

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

// configKeys maps each supported broker.conf property to its setter.
var configKeys = map[string]func(c *Config, v string) error{
	"brokerClusterName": func(c *Config, v string) error { c.BrokerClusterName = v; return nil },
	"brokerName":        func(c *Config, v string) error { c.BrokerName = v; return nil },
	"brokerId":          func(c *Config, v string) (err error) { c.BrokerID, err = strconv.ParseInt(v, 10, 64); return },
	"namesrvAddr":       func(c *Config, v string) error { c.NamesrvAddr = v; return nil },
	"listenPort":        func(c *Config, v string) (err error) { c.ListenPort, err = strconv.Atoi(v); return },
	"brokerIP1":         func(c *Config, v string) error { c.BrokerIP1 = v; return nil },
	"storePathRootDir":  func(c *Config, v string) error { c.StorePathRootDir = v; return nil },
	"mappedFileSizeCommitLog": func(c *Config, v string) (err error) {
		c.MappedFileSizeCommitLog, err = strconv.ParseInt(v, 10, 64)
		if err == nil && (c.MappedFileSizeCommitLog < engine.MinSegmentSize || c.MappedFileSizeCommitLog > engine.MaxSegmentSize) {
			err = errors.New("outside 4 KiB..1 TiB")
		}
		return
	},
	"flushDiskType": func(c *Config, v string) error {
		if v != AsyncFlush && v != SyncFlush {
			return fmt.Errorf("want %s or %s", AsyncFlush, SyncFlush)
		}
		c.FlushDiskType = v
		return nil
	},
	"flushIntervalCommitLog": msSetter(func(c *Config) *time.Duration { return &c.FlushIntervalCommitLog }, time.Millisecond),
	"fileReservedTime":       msSetter(func(c *Config) *time.Duration { return &c.FileReservedTime }, time.Hour),
	"diskMaxUsedSpaceRatio": func(c *Config, v string) (err error) {
		c.DiskMaxUsedSpaceRatio, err = strconv.Atoi(v)
		return
	},
	"diskSpaceWarningLevelRatio": func(c *Config, v string) (err error) {
		c.DiskSpaceWarningLevelRatio, err = strconv.ParseFloat(v, 64)
		return
	},
	"diskSpaceCleanForciblyRatio": func(c *Config, v string) (err error) {
		c.DiskSpaceCleanForciblyRatio, err = strconv.ParseFloat(v, 64)
		return
	},
	"cleanFileForciblyEnable":     boolSetter(func(c *Config) *bool { return &c.CleanFileForciblyEnable }),
	"maxHashSlotNum":              func(c *Config, v string) (err error) { c.MaxHashSlotNum, err = strconv.Atoi(v); return },
	"maxIndexNum":                 func(c *Config, v string) (err error) { c.MaxIndexNum, err = strconv.Atoi(v); return },
	"autoCreateTopicEnable":       boolSetter(func(c *Config) *bool { return &c.AutoCreateTopicEnable }),
	"autoCreateSubscriptionGroup": boolSetter(func(c *Config) *bool { return &c.AutoCreateSubscriptionGroup }),
	"defaultTopicQueueNums": func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		c.DefaultTopicQueueNums = int32(n)
		return err
	},
	"maxMessageSize":           func(c *Config, v string) (err error) { c.MaxMessageSize, err = strconv.Atoi(v); return },
	"registerNameServerPeriod": msSetter(func(c *Config) *time.Duration { return &c.RegisterNameServerPeriod }, time.Millisecond),
	"compressedRegister":       boolSetter(func(c *Config) *bool { return &c.CompressedRegister }),
	"splitRegistrationSize":    func(c *Config, v string) (err error) { c.SplitRegistrationSize, err = strconv.Atoi(v); return },
	"maxTopicNums":             func(c *Config, v string) (err error) { c.MaxTopicNums, err = strconv.Atoi(v); return },
	"longPollingEnable":        boolSetter(func(c *Config) *bool { return &c.LongPollingEnable }),
	"shortPollingTimeMills":    msSetter(func(c *Config) *time.Duration { return &c.ShortPollingTimeMills }, time.Millisecond),
	"traceOn":                  boolSetter(func(c *Config) *bool { return &c.TraceOn }),
	"enablePropertyFilter":     boolSetter(func(c *Config) *bool { return &c.EnablePropertyFilter }),
	"storeReplyMessageEnable":  boolSetter(func(c *Config) *bool { return &c.StoreReplyMessageEnable }),
	"regionId":                 func(c *Config, v string) error { c.RegionID = v; return nil },
	"traceTopicEnable":         boolSetter(func(c *Config) *bool { return &c.TraceTopicEnable }),
	"msgTraceTopicName":        func(c *Config, v string) error { c.MsgTraceTopicName = v; return nil },
	"transactionTimeOut":       msSetter(func(c *Config) *time.Duration { return &c.TransactionTimeOut }, time.Millisecond),
	"transactionCheckInterval": msSetter(func(c *Config) *time.Duration { return &c.TransactionCheckInterval }, time.Millisecond),
	"transactionCheckMax": func(c *Config, v string) (err error) {
		c.TransactionCheckMax, err = strconv.Atoi(v)
		return
	},
	"rejectTransactionMessage": boolSetter(func(c *Config) *bool { return &c.RejectTransactionMessage }),
	"messageDelayLevel": func(c *Config, v string) error {
		_, err := ParseDelayLevels(v)
		c.MessageDelayLevel = v
		return err
	},
}

func msSetter(field func(*Config) *time.Duration, unit time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return err
		}
		*field(c) = time.Duration(n) * unit
		return nil
	}
}

func boolSetter(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		// Java's Boolean.parseBoolean: "true" in any case, else false.
		*field(c) = strings.EqualFold(v, "true")
		return nil
	}
}

// LoadConfig reads a broker.conf file (Java properties) over DefaultConfig.
// Unknown keys are logged once each and otherwise ignored; a malformed value
// of a known key is an error naming the line.
func LoadConfig(path string, logger *slog.Logger) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("broker: config: %w", err)
	}
	defer f.Close()
	cfg := DefaultConfig()
	if err := ParseConfig(f, &cfg, logger); err != nil {
		return Config{}, fmt.Errorf("broker: config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig applies the Java properties read from r to cfg: "key=value",
// "key: value" or "key value" lines, '#' and '!' comments, blank lines, and a
// trailing '\' continuing a line. logger may be nil (slog.Default()).
func ParseConfig(r io.Reader, cfg *Config, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.Default()
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	seen := map[string]bool{}
	lineNo, pending := 0, ""
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if pending == "" && (line == "" || line[0] == '#' || line[0] == '!') {
			continue
		}
		if strings.HasSuffix(line, `\`) && !strings.HasSuffix(line, `\\`) {
			pending += strings.TrimSuffix(line, `\`)
			continue
		}
		line, pending = pending+line, ""
		key, value := splitProperty(line)
		set, ok := configKeys[key]
		if !ok {
			if !seen[key] {
				seen[key] = true
				logger.Warn("broker.conf: unknown or unsupported key ignored", "key", key, "line", lineNo)
			}
			continue
		}
		if err := set(cfg, value); err != nil {
			return fmt.Errorf("line %d: %s=%q: %v", lineNo, key, value, err)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return nil
}

// splitProperty splits a properties line at the first unescaped '=', ':'
// or whitespace.
func splitProperty(line string) (key, value string) {
	i := strings.IndexAny(line, "=: \t")
	if i < 0 {
		return line, ""
	}
	key = line[:i]
	rest := strings.TrimLeft(line[i:], " \t")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = rest[1:]
	}
	return key, strings.TrimSpace(rest)
}
