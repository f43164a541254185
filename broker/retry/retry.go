// Package retry owns the send-back rules of a consumer group: the names of
// its retry and dead-letter topics (%RETRY%<group>, %DLQ%<group>), and where
// a message the group failed to consume goes next: back to the retry topic
// behind a delay level, or to the dead-letter topic once it has been
// reconsumed maxReconsumeTimes times.
//
// It decides only, from plain values; package broker decodes the request,
// creates the topics, builds the message and stores it. It has no state and
// no locks.
package retry

import (
	"math"
	"math/rand/v2"
	"strings"
)

// Topic name prefixes (Java MixAll.RETRY_GROUP_TOPIC_PREFIX,
// DLQ_GROUP_TOPIC_PREFIX).
const (
	TopicPrefix = "%RETRY%"
	DLQPrefix   = "%DLQ%"
)

// DLQQueueNums is the queue count of a dead-letter topic (Java
// DLQ_NUMS_PER_GROUP); a message sent to the DLQ goes to queue 0.
const DLQQueueNums = 1

// Topic names a group's retry topic (Java MixAll.getRetryTopic).
func Topic(group string) string { return TopicPrefix + group }

// DLQTopic names a group's dead-letter topic (Java MixAll.getDLQTopic).
func DLQTopic(group string) string { return DLQPrefix + group }

// GroupOf returns the group of a retry topic; ok is false for any other
// topic.
func GroupOf(topic string) (group string, ok bool) { return strings.CutPrefix(topic, TopicPrefix) }

// Drops reports whether a group with retryQueueNums retry queues drops the
// messages it gives back (Java: a group without retry queues does).
func Drops(retryQueueNums int32) bool { return retryQueueNums <= 0 }

// Exhausted reports whether a message reconsumed reconsumeTimes times has
// used up its retries and belongs in the dead-letter topic.
func Exhausted(reconsumeTimes, maxReconsumeTimes int32) bool {
	return reconsumeTimes >= maxReconsumeTimes
}

// Back is a message a consumer gives back (CONSUMER_SEND_MSG_BACK).
type Back struct {
	Group string
	// ReconsumeTimes is how often the message given back was reconsumed.
	ReconsumeTimes int32
	// MaxReconsumeTimes is the request's, else the group's retryMaxTimes.
	MaxReconsumeTimes int32
	// DelayLevel is the requested one: 0 lets the broker choose from the
	// reconsume count, < 0 sends the message to the DLQ at once.
	DelayLevel int32
	// RetryQueueNums is the group's retry queue count, RetryWriteQueues
	// the write queue count of its retry topic; the retry queue is chosen
	// at random below both.
	RetryQueueNums, RetryWriteQueues int32
}

// Decision is where a message given back goes.
type Decision struct {
	// DLQ is true when the message goes to the dead-letter topic.
	DLQ bool
	// Topic and QueueID are where it is stored.
	Topic   string
	QueueID int32
	// DelayLevel is the delay level of the retry; 0 for the DLQ.
	DelayLevel int32
	// ReconsumeTimes is the reconsume count of the new message.
	ReconsumeTimes int32
}

// SendBack decides where a message given back goes: the DLQ when its
// retries are exhausted or a negative delay level asks for it, else the
// retry topic behind the requested delay level or, for level 0, level
// 3 + reconsumeTimes (Java SendMessageProcessor.asyncConsumerSendMsgBack).
func SendBack(b Back) Decision {
	d := Decision{ReconsumeTimes: nextReconsumeTimes(b.ReconsumeTimes)}
	if Exhausted(b.ReconsumeTimes, b.MaxReconsumeTimes) || b.DelayLevel < 0 {
		d.DLQ, d.Topic, d.QueueID = true, DLQTopic(b.Group), 0
		return d
	}
	d.Topic = Topic(b.Group)
	d.QueueID = rand.Int32N(max(min(b.RetryQueueNums, b.RetryWriteQueues), 1))
	d.DelayLevel = b.DelayLevel
	if d.DelayLevel == 0 {
		d.DelayLevel = 3 + min(b.ReconsumeTimes, math.MaxInt32-3)
	}
	return d
}

// nextReconsumeTimes is n + 1, without overflow.
func nextReconsumeTimes(n int32) int32 {
	if n < math.MaxInt32 {
		return n + 1
	}
	return n
}
