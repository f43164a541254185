package meta

import (
	"fmt"
	"strings"

	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
)

// Name length limits.
const (
	// MaxTopicLength is Java's TopicValidator.TOPIC_MAX_LENGTH.
	MaxTopicLength = 127
	// MaxGroupLength is Java's Validators.CHARACTER_MAX_LENGTH.
	MaxGroupLength = 255
)

// topicChars marks the bytes a topic name may hold: Java's pattern
// ^[%|a-zA-Z0-9_-]+$, as a table, since every send checks its topic.
var topicChars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "%|_-" {
		t[c] = true
	}
	return t
}()

// legalTopicChars reports whether topic is non-empty and matches
// ^[%|a-zA-Z0-9_-]+$.
func legalTopicChars(topic string) bool {
	for i := 0; i < len(topic); i++ {
		if !topicChars[topic[i]] {
			return false
		}
	}
	return topic != ""
}

// notAllowedSend lists the topics clients may not write (Java
// TopicValidator.isNotAllowedSendTopic).
var notAllowedSend = map[string]bool{
	systopic.Schedule: true, systopic.TransHalf: true, systopic.TransOpHalf: true, systopic.TransCheck: true,
}

// NotAllowedSend reports whether clients may not send to topic.
func NotAllowedSend(topic string) bool { return notAllowedSend[topic] }

// ValidateTopic applies Java's TopicValidator.validateTopic rules and
// returns the remark to send when the name is refused.
func ValidateTopic(topic string) (remark string, ok bool) {
	switch {
	case strings.TrimSpace(topic) == "":
		return "The specified topic is blank.", false
	case len(topic) > MaxTopicLength:
		return fmt.Sprintf("The specified topic is longer than topic max length %d.", MaxTopicLength), false
	case !legalTopicChars(topic):
		return fmt.Sprintf("The specified topic[%s] contains illegal characters, allowing only ^[%%|a-zA-Z0-9_-]+$", topic), false
	}
	return "", true
}

// ReservedGroupPrefix starts the consumer group names under which the
// broker stores its own progress as offsets: the scheduler's
// (schedule.OffsetGroup), the transaction checker's
// (transaction.OffsetGroup) and a slave's merge state
// (slavesync.StateGroupPrefix). Every such name is built from it, and
// ValidateGroup refuses it, so a client cannot overwrite that progress.
const ReservedGroupPrefix = "wharf:"

// ValidateGroup refuses group names that are blank, longer than 255 bytes,
// hold control characters or begin with ReservedGroupPrefix. It is looser
// than Java's client-side pattern on purpose: Java brokers accept any name,
// and Go clients send names with '.' or ':' that must keep working.
func ValidateGroup(group string) (remark string, ok bool) {
	switch {
	case strings.TrimSpace(group) == "":
		return "The specified group is blank.", false
	case len(group) > MaxGroupLength:
		return fmt.Sprintf("The specified group is longer than group max length %d.", MaxGroupLength), false
	case strings.ContainsFunc(group, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Sprintf("The specified group %q contains control characters.", group), false
	case strings.HasPrefix(group, ReservedGroupPrefix):
		return fmt.Sprintf("The specified group %q begins with %q, reserved for the broker's own records.", group, ReservedGroupPrefix), false
	}
	return "", true
}

// ReplyTopic is the topic replies of a cluster are sent to
// ("<cluster>_REPLY_TOPIC"); each broker creates it with one queue.
func ReplyTopic(cluster string) string { return cluster + systopic.ReplySuffix }

// System is what a broker's system topics depend on: its names and the
// parts of its configuration that add or size a built-in topic.
type System struct {
	Cluster, Broker string
	// ScheduleQueues is the number of delay levels (one queue each).
	ScheduleQueues int32
	// TraceTopic is the message trace topic; "" when tracing is off.
	TraceTopic string
	// AutoCreate creates the default topic TBW102 with DefaultQueueNums
	// queues (autoCreateTopicEnable, defaultTopicQueueNums).
	AutoCreate       bool
	DefaultQueueNums int32
}

// Builtins returns the topics a 4.9.8 broker always has.
func (s System) Builtins() []body.TopicConfig {
	const rw, rwi = body.PermRead | body.PermWrite, body.PermRead | body.PermWrite | body.PermInherit
	builtins := []body.TopicConfig{
		NewTopicConfig(systopic.SelfTest, 1, rw),
		NewTopicConfig(systopic.OffsetMoved, 1, rw),
		NewTopicConfig(s.Cluster, 16, rwi),
		NewTopicConfig(s.Broker, 1, rwi),
		NewTopicConfig(systopic.Schedule, s.ScheduleQueues, rw),
		NewTopicConfig(ReplyTopic(s.Cluster), 1, rw),
	}
	if s.TraceTopic != "" {
		builtins = append(builtins, NewTopicConfig(s.TraceTopic, 1, rw))
	}
	if s.AutoCreate {
		builtins = append(builtins, NewTopicConfig(systopic.AutoCreate, s.DefaultQueueNums, rwi))
	}
	return builtins
}

// IsSystem reports whether topic is a system topic of this broker: the
// fixed names, its cluster and broker names, the reply topic and the trace
// topic.
func (s System) IsSystem(topic string) bool {
	return systopic.Is(topic, s, s.TraceTopic)
}

// IsCluster reports whether name is the broker's cluster (systopic.Names).
func (s System) IsCluster(name string) bool { return name == s.Cluster }

// IsBroker reports whether name is the broker's name (systopic.Names).
func (s System) IsBroker(name string) bool { return name == s.Broker }
