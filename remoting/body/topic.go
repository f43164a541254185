package body

import "fmt"

// Topic permission bits (Java PermName).
const (
	PermPriority = 0x8
	PermRead     = 0x4
	PermWrite    = 0x2
	PermInherit  = 0x1
)

// DefaultTopicFilterType is the filter type every Wharf topic has; Java
// parses the field as an enum, so it is never sent empty in a register body.
const DefaultTopicFilterType = "SINGLE_TAG"

// TopicConfig is Java's TopicConfig: a topic's queue numbers and
// permission on one broker.
type TopicConfig struct {
	Order           bool   `json:"order"`
	Perm            int    `json:"perm"`
	ReadQueueNums   int32  `json:"readQueueNums"`
	TopicFilterType string `json:"topicFilterType"`
	TopicName       string `json:"topicName"`
	TopicSysFlag    int    `json:"topicSysFlag"`
	WriteQueueNums  int32  `json:"writeQueueNums"`
}

// MaxQueueNums bounds a topic's read and write queue numbers on a Wharf
// broker: what CREATE_TOPIC accepts and what a slave takes from its
// master's table. RocketMQ sets no bound; a table that claims 2^31 queues
// would make every per-queue loop of the broker run as long.
const MaxQueueNums = 1024

// CheckQueueNums refuses queue numbers that are negative, both zero, or
// above MaxQueueNums.
func (t TopicConfig) CheckQueueNums() error {
	if t.ReadQueueNums < 0 || t.WriteQueueNums < 0 || t.QueueNums() == 0 || t.QueueNums() > MaxQueueNums {
		return fmt.Errorf("queue numbers read %d / write %d out of range 1..%d", t.ReadQueueNums, t.WriteQueueNums, MaxQueueNums)
	}
	return nil
}

// QueueNums is the number of queues that exist: max(read, write).
func (t TopicConfig) QueueNums() int32 { return max(t.ReadQueueNums, t.WriteQueueNums) }

// DataVersion is Java's DataVersion: a broker bumps it whenever its topic
// table changes, and a name server re-reads the table only when it did.
// StateVersion is RocketMQ 5's: a broker sets it to its master epoch when
// its role changes, and a name server refuses a brokerId claim whose
// stateVersion is below the live holder's. Left out of the JSON when 0,
// so a classic broker's bodies stay RocketMQ 4's.
type DataVersion struct {
	StateVersion int64 `json:"stateVersion,omitempty"`
	Counter      int64 `json:"counter"`
	Timestamp    int64 `json:"timestamp"`
}

// TopicConfigWrapper is Java's TopicConfigSerializeWrapper, the
// GET_ALL_TOPIC_CONFIG reply. The table comes first, as Wharf has always
// written it (fastjson would write dataVersion first; readers do not care).
type TopicConfigWrapper struct {
	TopicConfigTable map[string]TopicConfig `json:"topicConfigTable"`
	DataVersion      DataVersion            `json:"dataVersion"`
}

// SubscriptionGroupConfig is Java's SubscriptionGroupConfig: a consumer
// group's settings on one broker.
type SubscriptionGroupConfig struct {
	BrokerID                       int64  `json:"brokerId"`
	ConsumeBroadcastEnable         bool   `json:"consumeBroadcastEnable"`
	ConsumeEnable                  bool   `json:"consumeEnable"`
	ConsumeFromMinEnable           bool   `json:"consumeFromMinEnable"`
	GroupName                      string `json:"groupName"`
	NotifyConsumerIDsChangedEnable bool   `json:"notifyConsumerIdsChangedEnable"`
	RetryMaxTimes                  int    `json:"retryMaxTimes"`
	RetryQueueNums                 int32  `json:"retryQueueNums"`
	WhichBrokerWhenConsumeSlowly   int64  `json:"whichBrokerWhenConsumeSlowly"`
}

// SubscriptionGroupWrapper is Java's SubscriptionGroupWrapper, the
// GET_ALL_SUBSCRIPTIONGROUP_CONFIG reply (table first, as for topics).
type SubscriptionGroupWrapper struct {
	SubscriptionGroupTable map[string]SubscriptionGroupConfig `json:"subscriptionGroupTable"`
	DataVersion            DataVersion                        `json:"dataVersion"`
}

// KVTable is Java's KVTable, e.g. the GET_BROKER_RUNTIME_INFO reply: every
// value a string.
type KVTable struct {
	Table map[string]string `json:"table"`
}
