package broker

import (
	"github.com/wharfmq/wharf/broker/retry"
	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
)

// The topic and group tables live in package meta; these are the names
// this package exported before, kept for its users (tools, fuzz).

// Topic permission bits (Java PermName).
const (
	PermPriority = body.PermPriority
	PermRead     = body.PermRead
	PermWrite    = body.PermWrite
	PermInherit  = body.PermInherit
)

// Names of built-in and system topics (Java TopicValidator, MixAll; the
// system topics are defined in package systopic).
const (
	AutoCreateTopicKey  = systopic.AutoCreate
	SelfTestTopic       = systopic.SelfTest
	OffsetMovedEvent    = systopic.OffsetMoved
	ScheduleTopic       = systopic.Schedule
	TransHalfTopic      = systopic.TransHalf
	TransOpHalfTopic    = systopic.TransOpHalf
	TransCheckMaxTime   = systopic.TransCheck
	RetryGroupTopicPref = retry.TopicPrefix
	DLQGroupTopicPrefix = retry.DLQPrefix
)

// TopicConfig, DataVersion and SubscriptionGroupConfig are the wire types
// of remoting/body; the broker keeps no field beside them.
type (
	TopicConfig             = body.TopicConfig
	DataVersion             = body.DataVersion
	SubscriptionGroupConfig = body.SubscriptionGroupConfig
)
