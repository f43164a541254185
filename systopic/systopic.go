// Package systopic is the one definition of a RocketMQ system topic, shared
// by the broker and the name server: the fixed names of Java's
// TopicValidator, anything starting with "rmq_sys_", and the names a
// deployment adds (each cluster name, each broker name and each cluster's
// reply topic, as a Java broker adds them at start). System topics cannot
// be deleted through DELETE_TOPIC_IN_BROKER or DELETE_TOPIC_IN_NAMESRV.
package systopic

import "strings"

// Fixed system topic names (Java TopicValidator).
const (
	AutoCreate  = "TBW102"
	Schedule    = "SCHEDULE_TOPIC_XXXX"
	ScheduleV2  = "SCHEDULE_TOPIC_XXXX_V2"
	Benchmark   = "BenchmarkTest"
	TransHalf   = "RMQ_SYS_TRANS_HALF_TOPIC"
	Trace       = "RMQ_SYS_TRACE_TOPIC"
	TransOpHalf = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
	TransCheck  = "TRANS_CHECK_MAX_TIME_TOPIC"
	SelfTest    = "SELF_TEST_TOPIC"
	OffsetMoved = "OFFSET_MOVED_EVENT"
	Prefix      = "rmq_sys_"
	ReplySuffix = "_REPLY_TOPIC"
)

var fixed = map[string]bool{
	AutoCreate: true, Schedule: true, ScheduleV2: true, Benchmark: true, TransHalf: true, Trace: true,
	TransOpHalf: true, TransCheck: true, SelfTest: true, OffsetMoved: true,
}

// Names tells which cluster and broker names a deployment has; each is a
// system topic, as is "<cluster>_REPLY_TOPIC".
type Names interface {
	IsCluster(name string) bool
	IsBroker(name string) bool
}

// Is reports whether topic is a system topic. names may be nil (fixed
// names and the prefix only). extra lists further system topics of the
// caller, such as a configured trace topic.
func Is(topic string, names Names, extra ...string) bool {
	if fixed[topic] || strings.HasPrefix(topic, Prefix) {
		return true
	}
	for _, e := range extra {
		if topic == e {
			return true
		}
	}
	if names == nil {
		return false
	}
	if names.IsCluster(topic) || names.IsBroker(topic) {
		return true
	}
	cluster, ok := strings.CutSuffix(topic, ReplySuffix)
	return ok && names.IsCluster(cluster)
}

// Remark is the refusal for an attempt to delete a system topic.
func Remark(topic string) string {
	return "The topic[" + topic + "] is a system topic and cannot be deleted."
}
