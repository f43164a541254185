package body

import "strconv"

// The values of the MessageQueue-keyed tables of the admin replies. The
// broker writes them with the Append functions (a table can have tens of
// thousands of entries); readers use encoding/json on each value that
// DecodeMQTable hands them. Both follow the struct tags below.

// TopicOffset is one queue of Java's TopicStatsTable (GET_TOPIC_STATS_INFO).
type TopicOffset struct {
	// LastUpdateTimestamp is the store time (ms) of the queue's last
	// message, 0 when it holds none.
	LastUpdateTimestamp int64 `json:"lastUpdateTimestamp"`
	MaxOffset           int64 `json:"maxOffset"`
	MinOffset           int64 `json:"minOffset"`
}

// OffsetWrapper is one queue of Java's ConsumeStats (GET_CONSUME_STATS).
type OffsetWrapper struct {
	BrokerOffset   int64 `json:"brokerOffset"`
	ConsumerOffset int64 `json:"consumerOffset"`
	// LastTimestamp is the store time (ms) of the last consumed message,
	// 0 when none.
	LastTimestamp int64 `json:"lastTimestamp"`
}

// AppendTopicOffset appends o as encoding/json (and fastjson) writes it.
func AppendTopicOffset(dst []byte, o TopicOffset) []byte {
	dst = append(dst, `{"lastUpdateTimestamp":`...)
	dst = strconv.AppendInt(dst, o.LastUpdateTimestamp, 10)
	dst = append(dst, `,"maxOffset":`...)
	dst = strconv.AppendInt(dst, o.MaxOffset, 10)
	dst = append(dst, `,"minOffset":`...)
	dst = strconv.AppendInt(dst, o.MinOffset, 10)
	return append(dst, '}')
}

// AppendOffsetWrapper appends o as encoding/json (and fastjson) writes it.
func AppendOffsetWrapper(dst []byte, o OffsetWrapper) []byte {
	dst = append(dst, `{"brokerOffset":`...)
	dst = strconv.AppendInt(dst, o.BrokerOffset, 10)
	dst = append(dst, `,"consumerOffset":`...)
	dst = strconv.AppendInt(dst, o.ConsumerOffset, 10)
	dst = append(dst, `,"lastTimestamp":`...)
	dst = strconv.AppendInt(dst, o.LastTimestamp, 10)
	return append(dst, '}')
}
