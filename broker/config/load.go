package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/internal/confval"
)

// configKeys maps each supported broker.conf property to its setter.
var configKeys = map[string]func(c *Config, v string) error{
	"brokerClusterName": func(c *Config, v string) error { c.BrokerClusterName = v; return nil },
	"brokerName":        func(c *Config, v string) error { c.BrokerName = v; return nil },
	"brokerId":          func(c *Config, v string) (err error) { c.BrokerID, err = strconv.ParseInt(v, 10, 64); return },
	"namesrvAddr":       func(c *Config, v string) error { c.NamesrvAddr = v; return nil },
	"listenPort":        func(c *Config, v string) (err error) { c.ListenPort, err = strconv.Atoi(v); return },
	"brokerIP1":         func(c *Config, v string) error { c.BrokerIP1 = v; return nil },
	"brokerIP2":         func(c *Config, v string) error { c.BrokerIP2 = v; return nil },
	"storePathRootDir":  func(c *Config, v string) error { c.StorePathRootDir = v; return nil },
	"mappedFileSizeCommitLog": func(c *Config, v string) (err error) {
		c.MappedFileSizeCommitLog, err = strconv.ParseInt(v, 10, 64)
		if err == nil && (c.MappedFileSizeCommitLog < engine.MinSegmentSize || c.MappedFileSizeCommitLog > engine.MaxSegmentSize) {
			err = errors.New("outside 4 KiB..1 TiB")
		}
		return
	},
	"brokerRole": func(c *Config, v string) error {
		if v != AsyncMaster && v != SyncMaster && v != Slave {
			return fmt.Errorf("want %s, %s or %s", AsyncMaster, SyncMaster, Slave)
		}
		c.BrokerRole = v
		return nil
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
	"metricsExporterType":      func(c *Config, v string) error { c.MetricsExporterType = strings.ToUpper(v); return nil },
	"metricsPromExporterHost":  func(c *Config, v string) error { c.MetricsPromExporterHost = v; return nil },
	"metricsPromExporterPort":  func(c *Config, v string) (err error) { c.MetricsPromExporterPort, err = strconv.Atoi(v); return },
	"metricsMaxKeys":           func(c *Config, v string) (err error) { c.MetricsMaxKeys, err = strconv.Atoi(v); return },
	"msgTraceTopicName":        func(c *Config, v string) error { c.MsgTraceTopicName = v; return nil },
	"transactionTimeOut":       msSetter(func(c *Config) *time.Duration { return &c.TransactionTimeOut }, time.Millisecond),
	"transactionCheckInterval": msSetter(func(c *Config) *time.Duration { return &c.TransactionCheckInterval }, time.Millisecond),
	"transactionCheckMax": func(c *Config, v string) (err error) {
		c.TransactionCheckMax, err = strconv.Atoi(v)
		return
	},
	"rejectTransactionMessage": boolSetter(func(c *Config) *bool { return &c.RejectTransactionMessage }),
	"aclEnable":                boolSetter(func(c *Config) *bool { return &c.AclEnable }),
	"aclFile":                  func(c *Config, v string) error { c.AclFile = v; return nil },
	"accessKey":                func(c *Config, v string) error { c.AccessKey = v; return nil },
	"secretKey":                func(c *Config, v string) error { c.SecretKey = v; return nil },
	"haListenPort":             func(c *Config, v string) (err error) { c.HAListenPort, err = strconv.Atoi(v); return },
	"haSendHeartbeatInterval":  msSetter(func(c *Config) *time.Duration { return &c.HASendHeartbeatInterval }, time.Millisecond),
	"haHousekeepingInterval":   msSetter(func(c *Config) *time.Duration { return &c.HAHousekeepingInterval }, time.Millisecond),
	"haTransferBatchSize":      func(c *Config, v string) (err error) { c.HATransferBatchSize, err = strconv.Atoi(v); return },
	"haCatchUpBatchSize":       func(c *Config, v string) (err error) { c.HACatchUpBatchSize, err = strconv.Atoi(v); return },
	"haFrameHoldMicros":        msSetter(func(c *Config) *time.Duration { return &c.HAFrameHold }, time.Microsecond),
	// RocketMQ 4.9 calls it haSlaveFallbehindMax, 5.x haMaxGapNotInSync.
	"haMaxGapNotInSync":    func(c *Config, v string) (err error) { c.HAMaxGapNotInSync, err = strconv.ParseInt(v, 10, 64); return },
	"haSlaveFallbehindMax": func(c *Config, v string) (err error) { c.HAMaxGapNotInSync, err = strconv.ParseInt(v, 10, 64); return },
	"slaveTimeout":         msSetter(func(c *Config) *time.Duration { return &c.SlaveTimeout }, time.Millisecond),
	"slaveReadEnable":      boolSetter(func(c *Config) *bool { return &c.SlaveReadEnable }),
	"haMasterAddress": func(c *Config, v string) error {
		if v != "" {
			if err := checkHostPort(v); err != nil {
				return err
			}
		}
		c.HAMasterAddress = v
		return nil
	},
	"haAdvertisedAddress": func(c *Config, v string) error {
		if v != "" {
			if err := checkHostPort(v); err != nil {
				return err
			}
		}
		c.HAAdvertisedAddress = v
		return nil
	},
	"syncFromLastFile":     boolSetter(func(c *Config) *bool { return &c.SyncFromLastFile }),
	"enableControllerMode": boolSetter(func(c *Config) *bool { return &c.EnableControllerMode }),
	"controllerAddr":       func(c *Config, v string) error { c.ControllerAddr = v; return nil },
	"allAckInSyncStateSet": boolSetter(func(c *Config) *bool { return &c.AllAckInSyncStateSet }),
	"minInSyncReplicas": func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err == nil && n < 1 {
			err = fmt.Errorf("%d: at least 1 (the master itself)", n)
		}
		c.MinInSyncReplicas = n
		return err
	},
	"haMaxTimeSlaveNotCatchup": msSetter(func(c *Config) *time.Duration { return &c.HAMaxTimeSlaveNotCatchup }, time.Millisecond),
	"enableElectUncleanMaster": boolSetter(func(c *Config) *bool { return &c.EnableElectUncleanMaster }),
	"brokerElectionPriority": func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		c.BrokerElectionPriority = int32(n)
		return err
	},
	"controllerHeartBeatTimeoutMills": msSetter(func(c *Config) *time.Duration { return &c.ControllerHeartBeatTimeout }, time.Millisecond),
	"brokerHeartbeatInterval":         msSetter(func(c *Config) *time.Duration { return &c.BrokerHeartbeatInterval }, time.Millisecond),
	"brokerLeaseMillis":               msSetter(func(c *Config) *time.Duration { return &c.BrokerLease }, time.Millisecond),
	"syncBrokerMetadataPeriod":        msSetter(func(c *Config) *time.Duration { return &c.SyncBrokerMetadataPeriod }, time.Millisecond),
	"checkSyncStateSetPeriod":         msSetter(func(c *Config) *time.Duration { return &c.CheckSyncStateSetPeriod }, time.Millisecond),
	"messageDelayLevel": func(c *Config, v string) error {
		_, err := engine.ParseDelayLevels(v)
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
	return func(c *Config, v string) (err error) {
		// Not Java's Boolean.parseBoolean, which reads a typo as false:
		// see confval.ParseBool.
		*field(c), err = confval.ParseBool(v)
		return err
	}
}

// Load reads a broker.conf file (Java properties) over Default.
// Unknown keys are logged once each and otherwise ignored; a malformed value
// of a known key is an error naming the line.
func Load(path string, logger *slog.Logger) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("broker: config: %w", err)
	}
	defer f.Close()
	cfg := Default()
	if err := Parse(f, &cfg, logger); err != nil {
		return Config{}, fmt.Errorf("broker: config %s: %w", path, err)
	}
	switch {
	case !cfg.AclEnable:
	case cfg.AclFile == "":
		cfg.AclFile = filepath.Join(filepath.Dir(path), "plain_acl.yml")
	case !filepath.IsAbs(cfg.AclFile):
		// Relative to the broker.conf, not to wherever the broker starts.
		cfg.AclFile = filepath.Join(filepath.Dir(path), cfg.AclFile)
	}
	return cfg, nil
}

// Parse applies the Java properties read from r to cfg ("key=value",
// "key: value" or "key value" lines, comments, continued lines and escapes:
// see readProperties). logger may be nil (slog.Default()).
func Parse(r io.Reader, cfg *Config, logger *slog.Logger) error {
	unknown := NewUnknownKeys("broker.conf", logger)
	return readProperties(r, func(lineNo int, key, value string) error {
		if known, err := cfg.TLS.Set(key, value); known {
			if err != nil {
				return fmt.Errorf("line %d: %s=%q: %v", lineNo, key, value, err)
			}
			return nil
		}
		set, ok := configKeys[key]
		if !ok {
			unknown.Report(lineNo, key)
			return nil
		}
		if err := set(cfg, value); err != nil {
			return fmt.Errorf("line %d: %s=%q: %v", lineNo, key, value, err)
		}
		return nil
	})
}
