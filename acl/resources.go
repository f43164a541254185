package acl

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Request codes the decision depends on (RocketMQ's RequestCode). Part of
// the wire format; kept here so the package needs no protocol import.
const (
	codeSendMessage            = 10
	codePullMessage            = 11
	codeQueryMessage           = 12
	codeQueryConsumerOffset    = 14
	codeUpdateConsumerOffset   = 15
	codeUpdateAndCreateTopic   = 17
	codeUpdateBrokerConfig     = 25
	codeHeartBeat              = 34
	codeUnregisterClient       = 35
	codeConsumerSendMsgBack    = 36
	codeGetConsumerListByGroup = 38
	codeLockBatchMQ            = 41
	codeUnlockBatchMQ          = 42
	codeResetOffsetInBroker    = 212
	codeCloneGroupOffset       = 314
	codeUpdateCreateGroup      = 200
	codeDeleteGroup            = 207
	codeDeleteTopicInBroker    = 215
	codeInvokeResetOffset      = 222
	codeSendMessageV2          = 310
	codeSendBatchMessage       = 320
	codeCleanExpiredCQ         = 306
	codeDeleteExpiredCommitLog = 329
	codeCleanUnusedTopic       = 316
	codeUpdateAclConfig        = 50
	codeDeleteAclConfig        = 51
	codeUpdateGlobalWhiteAddrs = 53
	codeResumeCheckHalfMessage = 323
	codeSendReplyMessage       = 324
	codeSendReplyMessageV2     = 325

	// Name server.
	codePutKVConfig            = 100
	codeGetKVConfig            = 101
	codeDeleteKVConfig         = 102
	codeRegisterBroker         = 103
	codeUnregisterBroker       = 104
	codeGetRouteInfoByTopic    = 105
	codeGetBrokerClusterInfo   = 106
	codeWipeWritePerm          = 205
	codeGetAllTopicList        = 206
	codeDeleteTopicInNamesrv   = 216
	codeGetKVListByNamespace   = 219
	codeGetTopicsByCluster     = 224
	codeAddWritePerm           = 327
	codeQueryDataVersion       = 322
	codeUpdateNamesrvConfig    = 318
	codeGetNamesrvConfig       = 319
	codeBrokerHeartbeat        = 904
	codeControllerAlterSync    = 1001
	codeControllerElectMaster  = 1002
	codeControllerRegister     = 1003
	codeControllerApplyID      = 1013
	codeUpdateControllerConfig = 1009
	codeCleanBrokerData        = 1011
)

// brokerAdmin are the broker codes only an admin account may send:
// RocketMQ's five (topic create/update and delete, broker config, group
// create/update and delete) and, beyond RocketMQ, the others that change
// state for everyone: an offset reset rewinds any group (RocketMQ lets any
// signed account do it), cloning offsets, cleaning files and topics, and
// the ACL-editing codes (which Wharf does not serve).
var brokerAdmin = map[int16]bool{
	codeUpdateAndCreateTopic: true, codeUpdateBrokerConfig: true, codeDeleteTopicInBroker: true,
	codeUpdateCreateGroup: true, codeDeleteGroup: true,
	codeInvokeResetOffset: true, codeResetOffsetInBroker: true, codeCloneGroupOffset: true, codeCleanExpiredCQ: true,
	codeDeleteExpiredCommitLog: true, codeCleanUnusedTopic: true, codeUpdateAclConfig: true,
	codeDeleteAclConfig: true, codeUpdateGlobalWhiteAddrs: true, codeResumeCheckHalfMessage: true,
}

// namesrvAdmin are the name-server (and hosted controller) codes that
// change what every client sees; they need an admin account. Among them
// are the codes by which a broker claims its identity (registration,
// controller heartbeat, SyncStateSet change, replica id): any account
// could otherwise register a host of its own as a master (clients send
// to it) or as a slave (a master's HA port ships its CommitLog to the
// addresses the name servers list as its slaves). A broker signs them
// with its accessKey, so that account must be an admin.
var namesrvAdmin = map[int16]bool{
	codePutKVConfig: true, codeDeleteKVConfig: true, codeWipeWritePerm: true, codeAddWritePerm: true,
	codeDeleteTopicInNamesrv: true, codeUpdateNamesrvConfig: true,
	codeControllerElectMaster: true, codeUpdateControllerConfig: true, codeCleanBrokerData: true,
	codeRegisterBroker: true, codeUnregisterBroker: true, codeBrokerHeartbeat: true,
	codeControllerAlterSync: true, codeControllerRegister: true, codeControllerApplyID: true,
}

// namesrvOpen are the read-only name-server codes every peer may send, as
// with RocketMQ's name server (which checks nothing): clients without
// credentials still find routes, and the broker's data-version probe works.
var namesrvOpen = map[int16]bool{
	codeGetRouteInfoByTopic: true, codeGetBrokerClusterInfo: true, codeGetAllTopicList: true,
	codeQueryDataVersion: true, codeGetKVConfig: true, codeGetKVListByNamespace: true,
	codeGetTopicsByCluster: true, codeGetNamesrvConfig: true,
}

// resource is one thing a request touches and the permission it needs.
type resource struct {
	name string // a topic, or RetryPrefix + group
	perm Perm
}

// isGroup reports whether a resource name stands for a group.
func isGroup(name string) bool { return strings.HasPrefix(name, RetryPrefix) }

// dlqPrefix is the prefix of a group's dead-letter topic.
const dlqPrefix = "%DLQ%"

// groupOfBackTopic returns the group of a retry topic (%RETRY%G) or
// dead-letter topic (%DLQ%G); ok is false for any other topic.
func groupOfBackTopic(topic string) (group string, ok bool) {
	if g, ok := strings.CutPrefix(topic, RetryPrefix); ok {
		return g, true
	}
	return strings.CutPrefix(topic, dlqPrefix)
}

// describe names a resource for a refusal: "topic:T" or "group:G".
func describe(name string) string {
	if isGroup(name) {
		return "group:" + strings.TrimPrefix(name, RetryPrefix)
	}
	return "topic:" + name
}

// heartbeat is the part of a HEART_BEAT body the decision reads.
type heartbeat struct {
	ConsumerDataSet []struct {
		GroupName           string `json:"groupName"`
		SubscriptionDataSet []struct {
			Topic string `json:"topic"`
		} `json:"subscriptionDataSet"`
	} `json:"consumerDataSet"`
}

// lockBody is the part of a LOCK_BATCH_MQ / UNLOCK_BATCH_MQ body read.
type lockBody struct {
	ConsumerGroup string `json:"consumerGroup"`
	MQSet         []struct {
		Topic string `json:"topic"`
	} `json:"mqSet"`
}

// resourcesOf lists what a broker request touches, as RocketMQ's
// PlainAccessResource.parse maps request codes (a group "ns%g" maps to
// "%RETRY%ns%g" either way). Beyond RocketMQ, QUERY_CONSUMER_OFFSET and the
// queue locks need the group's and the topic's SUB too, as a commit does.
// Codes it does not list touch nothing: they need a valid signature and,
// for admin codes, admin. VIEW_MESSAGE_BY_ID and CONSUMER_SEND_MSG_BACK
// reach a message by its CommitLog offset: the broker asks CheckTopic for
// its topic once it has read the record.
func resourcesOf(code int16, ext map[string]string, body []byte) ([]resource, error) {
	retry := func(group string) resource { return resource{RetryPrefix + group, Sub} }
	var out []resource
	add := func(name string, p Perm, present bool) {
		if present { // RocketMQ skips an absent (null) resource
			out = append(out, resource{name, p})
		}
	}
	switch code {
	// A reply is stored in its topic like a send (RocketMQ checks nothing
	// for it): the same rights.
	case codeSendMessage, codeSendMessageV2, codeSendBatchMessage, codeSendReplyMessage, codeSendReplyMessageV2:
		topicKey := "topic"
		if code != codeSendMessage && code != codeSendReplyMessage { // the v2 header
			topicKey = "b"
		}
		topic, ok := ext[topicKey]
		if g, back := groupOfBackTopic(topic); back {
			// A consumer re-sending to its retry topic (the Go client's
			// fallback when CONSUMER_SEND_MSG_BACK fails): the SUB of the
			// group the topic belongs to, as a pull of it needs. RocketMQ
			// takes the group from the header, which the v1 header never
			// carries and the v2 one names as the producer's: either let
			// anyone write into another group's retry topic or DLQ.
			out = append(out, retry(g))
		} else {
			add(topic, Pub, ok)
		}
	case codeConsumerSendMsgBack:
		// The message's topic is known once its record is read: the
		// broker's handler asks CheckTopic then.
		g, ok := ext["group"]
		if ok {
			out = append(out, retry(g))
		}
	case codePullMessage:
		t, tok := ext["topic"]
		add(t, Sub, tok)
		g, ok := ext["consumerGroup"]
		if ok {
			out = append(out, retry(g))
		}
	case codeQueryMessage:
		t, ok := ext["topic"]
		add(t, Sub, ok)
	case codeHeartBeat:
		var hb heartbeat
		if err := json.Unmarshal(body, &hb); err != nil {
			return nil, fmt.Errorf("heartbeat body is not HeartbeatData JSON: %w", err)
		}
		for _, c := range hb.ConsumerDataSet {
			out = append(out, retry(c.GroupName))
			for _, s := range c.SubscriptionDataSet {
				out = append(out, resource{s.Topic, Sub})
			}
		}
	case codeUnregisterClient, codeGetConsumerListByGroup:
		if g, ok := ext["consumerGroup"]; ok {
			out = append(out, retry(g))
		}
	case codeLockBatchMQ, codeUnlockBatchMQ:
		var lb lockBody
		if err := json.Unmarshal(body, &lb); err != nil {
			return nil, fmt.Errorf("lock body is not LockBatchRequestBody JSON: %w", err)
		}
		out = append(out, retry(lb.ConsumerGroup))
		for _, q := range lb.MQSet {
			out = append(out, resource{q.Topic, Sub})
		}
	case codeUpdateConsumerOffset, codeQueryConsumerOffset:
		if g, ok := ext["consumerGroup"]; ok {
			out = append(out, retry(g))
		}
		t, ok := ext["topic"]
		add(t, Sub, ok)
	}
	return out, nil
}
