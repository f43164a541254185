package config

import (
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SecretKeys are the broker.conf keys whose values Properties never
// shows: GET_BROKER_CONFIG must not hand out a secret.
var SecretKeys = []string{"secretKey"}

// Properties returns c as broker.conf keys and values, one for every key
// Parse takes but SecretKeys (durations in the key's unit), so Parse reads
// it back to c but for the secrets. GET_BROKER_CONFIG answers with it.
func (c *Config) Properties() map[string]string {
	millis := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	hours := func(d time.Duration) string { return strconv.FormatInt(int64(d/time.Hour), 10) }
	return map[string]string{
		"brokerClusterName":               c.BrokerClusterName,
		"brokerName":                      c.BrokerName,
		"brokerId":                        strconv.FormatInt(int64(c.BrokerID), 10),
		"namesrvAddr":                     c.NamesrvAddr,
		"listenPort":                      strconv.Itoa(c.ListenPort),
		"brokerIP1":                       c.BrokerIP1,
		"brokerIP2":                       c.BrokerIP2,
		"storePathRootDir":                c.StorePathRootDir,
		"mappedFileSizeCommitLog":         strconv.FormatInt(int64(c.MappedFileSizeCommitLog), 10),
		"brokerRole":                      c.BrokerRole,
		"flushDiskType":                   c.FlushDiskType,
		"flushIntervalCommitLog":          millis(c.FlushIntervalCommitLog),
		"fileReservedTime":                hours(c.FileReservedTime),
		"diskMaxUsedSpaceRatio":           strconv.Itoa(c.DiskMaxUsedSpaceRatio),
		"diskSpaceWarningLevelRatio":      strconv.FormatFloat(c.DiskSpaceWarningLevelRatio, 'g', -1, 64),
		"diskSpaceCleanForciblyRatio":     strconv.FormatFloat(c.DiskSpaceCleanForciblyRatio, 'g', -1, 64),
		"cleanFileForciblyEnable":         strconv.FormatBool(c.CleanFileForciblyEnable),
		"maxHashSlotNum":                  strconv.Itoa(c.MaxHashSlotNum),
		"maxIndexNum":                     strconv.Itoa(c.MaxIndexNum),
		"autoCreateTopicEnable":           strconv.FormatBool(c.AutoCreateTopicEnable),
		"autoCreateSubscriptionGroup":     strconv.FormatBool(c.AutoCreateSubscriptionGroup),
		"defaultTopicQueueNums":           strconv.FormatInt(int64(c.DefaultTopicQueueNums), 10),
		"maxMessageSize":                  strconv.Itoa(c.MaxMessageSize),
		"registerNameServerPeriod":        millis(c.RegisterNameServerPeriod),
		"compressedRegister":              strconv.FormatBool(c.CompressedRegister),
		"splitRegistrationSize":           strconv.Itoa(c.SplitRegistrationSize),
		"maxTopicNums":                    strconv.Itoa(c.MaxTopicNums),
		"longPollingEnable":               strconv.FormatBool(c.LongPollingEnable),
		"shortPollingTimeMills":           millis(c.ShortPollingTimeMills),
		"traceOn":                         strconv.FormatBool(c.TraceOn),
		"enablePropertyFilter":            strconv.FormatBool(c.EnablePropertyFilter),
		"storeReplyMessageEnable":         strconv.FormatBool(c.StoreReplyMessageEnable),
		"regionId":                        c.RegionID,
		"traceTopicEnable":                strconv.FormatBool(c.TraceTopicEnable),
		"msgTraceTopicName":               c.MsgTraceTopicName,
		"metricsExporterType":             c.MetricsExporterType,
		"metricsPromExporterHost":         c.MetricsPromExporterHost,
		"metricsPromExporterPort":         strconv.Itoa(c.MetricsPromExporterPort),
		"metricsMaxKeys":                  strconv.Itoa(c.MetricsMaxKeys),
		"transactionTimeOut":              millis(c.TransactionTimeOut),
		"transactionCheckInterval":        millis(c.TransactionCheckInterval),
		"transactionCheckMax":             strconv.Itoa(c.TransactionCheckMax),
		"rejectTransactionMessage":        strconv.FormatBool(c.RejectTransactionMessage),
		"haListenPort":                    strconv.Itoa(c.HAListenPort),
		"haSendHeartbeatInterval":         millis(c.HASendHeartbeatInterval),
		"haHousekeepingInterval":          millis(c.HAHousekeepingInterval),
		"haTransferBatchSize":             strconv.Itoa(c.HATransferBatchSize),
		"haCatchUpBatchSize":              strconv.Itoa(c.HACatchUpBatchSize),
		"haFrameHoldMicros":               strconv.FormatInt(c.HAFrameHold.Microseconds(), 10),
		"haMaxGapNotInSync":               strconv.FormatInt(int64(c.HAMaxGapNotInSync), 10),
		"haSlaveFallbehindMax":            strconv.FormatInt(int64(c.HAMaxGapNotInSync), 10),
		"slaveTimeout":                    millis(c.SlaveTimeout),
		"slaveReadEnable":                 strconv.FormatBool(c.SlaveReadEnable),
		"haMasterAddress":                 c.HAMasterAddress,
		"haAdvertisedAddress":             c.HAAdvertisedAddress,
		"syncFromLastFile":                strconv.FormatBool(c.SyncFromLastFile),
		"enableControllerMode":            strconv.FormatBool(c.EnableControllerMode),
		"controllerAddr":                  c.ControllerAddr,
		"allAckInSyncStateSet":            strconv.FormatBool(c.AllAckInSyncStateSet),
		"minInSyncReplicas":               strconv.Itoa(c.MinInSyncReplicas),
		"haMaxTimeSlaveNotCatchup":        millis(c.HAMaxTimeSlaveNotCatchup),
		"enableElectUncleanMaster":        strconv.FormatBool(c.EnableElectUncleanMaster),
		"brokerElectionPriority":          strconv.FormatInt(int64(c.BrokerElectionPriority), 10),
		"controllerHeartBeatTimeoutMills": millis(c.ControllerHeartBeatTimeout),
		"brokerHeartbeatInterval":         millis(c.BrokerHeartbeatInterval),
		"brokerLeaseMillis":               millis(c.BrokerLease),
		"syncBrokerMetadataPeriod":        millis(c.SyncBrokerMetadataPeriod),
		"checkSyncStateSetPeriod":         millis(c.CheckSyncStateSetPeriod),
		"messageDelayLevel":               c.MessageDelayLevel,
		"aclEnable":                       strconv.FormatBool(c.AclEnable),
		"aclFile":                         c.AclFile,
		"accessKey":                       c.AccessKey,
	}
}

// PropertiesText is Properties as Java's MixAll.properties2String writes
// it: "key=value" lines, sorted by key.
func (c *Config) PropertiesText() string {
	p := c.Properties()
	var sb strings.Builder
	for _, k := range slices.Sorted(maps.Keys(p)) {
		sb.WriteString(k)
		sb.WriteByte('=')
		sb.WriteString(escapeValue(p[k]))
		sb.WriteByte('\n')
	}
	return sb.String()
}

// escapeValue escapes what readProperties would otherwise read differently:
// backslashes, line breaks and leading blanks.
func escapeValue(v string) string {
	var sb strings.Builder
	for i, r := range v {
		switch {
		case r == '\\':
			sb.WriteString(`\\`)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\r':
			sb.WriteString(`\r`)
		case i == 0 && (r == ' ' || r == '\t' || r == '\f'):
			sb.WriteByte('\\')
			sb.WriteRune(r)
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// ReadProperties reads Java properties text (a broker.conf, or the body of
// GET_BROKER_CONFIG) into a map; a later key replaces an earlier one.
func ReadProperties(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	err := readProperties(r, func(_ int, key, value string) error {
		out[key] = value
		return nil
	})
	return out, err
}
