package broker

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/wharfmq/wharf/acl"
	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/broker/retry"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// Properties of retried messages (Java MessageConst).
const (
	PropRetryTopic      = "RETRY_TOPIC"
	PropOriginMessageID = "ORIGIN_MESSAGE_ID"
)

// handleConsumerSendMsgBack serves CONSUMER_SEND_MSG_BACK (36): a consumer
// gives back a message it failed to consume. The broker reads the original
// by its CommitLog offset and stores a copy for the group: in %RETRY%<group>
// behind a delay level, or in %DLQ%<group> once it was reconsumed
// maxReconsumeTimes times (or delayLevel < 0). See PROTOCOL.md §7.4.
//
// The offset must hold the message given back: one of originTopic, or one
// of the group's retry topic (a retried message given back again, for which
// the clients send the original topic). Any other record would be copied
// into the caller's retry topic, where it can pull it; so it is refused, and
// with ACL on the caller needs SUB on the record's topic too.
func (b *Broker) handleConsumerSendMsgBack(_ context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	group, err := req.ExtString("group")
	if err != nil {
		return badRequest(req, err)
	}
	offset, err := req.ExtInt64("offset")
	if err != nil {
		return badRequest(req, err)
	}
	delayLevel, err := req.ExtInt32("delayLevel")
	if err != nil {
		return badRequest(req, err)
	}
	if group == "" {
		return remoting.NewResponse(req, remoting.RespSystemError, "bad request (code 36): group is empty")
	}
	// The group gets a config and a retry topic: refuse a name that cannot
	// be a client's group (a reserved one among them) before creating them.
	if remark, ok := meta.ValidateGroup(group); !ok {
		return remoting.NewResponse(req, remoting.RespSystemError, "bad request (code 36): "+remark)
	}
	gc, ok, err := b.groups.GetOrCreate(group, b.cfg.AutoCreateSubscriptionGroup)
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	if !ok {
		return remoting.NewResponse(req, remoting.RespSubscriptionGroupNotExist, "subscription group not exist, "+group)
	}
	maxTimes, err := req.ExtInt32Or("maxReconsumeTimes", int32(min(gc.RetryMaxTimes, math.MaxInt32)))
	if err != nil {
		return badRequest(req, err)
	}
	if retry.Drops(gc.RetryQueueNums) {
		return remoting.NewResponse(req, remoting.RespSuccess, "")
	}
	retryTC, resp := b.ensureBackTopic(req, retry.Topic(group), gc.RetryQueueNums)
	if resp != nil {
		return resp
	}
	if offset < 0 {
		return remoting.NewResponse(req, remoting.RespSystemError, fmt.Sprintf("look message by offset failed, %d", offset))
	}
	rec, err := b.store.ReadRecord(offset)
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, fmt.Sprintf("look message by offset failed, %d: %v", offset, err))
	}
	r, err := msg.Decode(rec)
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, fmt.Sprintf("look message by offset failed, %d: %v", offset, err))
	}
	// The remark names only what the request named, not the topic found.
	origin := req.ExtStringOr("originTopic", "")
	if topic := string(r.Topic); topic != origin && topic != retryTC.TopicName {
		return remoting.NewResponse(req, remoting.RespSystemError, fmt.Sprintf(
			"look message by offset failed, %d: no message of topic %q or %q there", offset, origin, retryTC.TopicName))
	}
	if resp := b.authorizeTopic(conn, req, string(r.Topic), acl.Sub); resp != nil {
		return resp
	}

	props, sysFlag := msg.CopyOf(&r)
	if _, ok := msg.Property(props, PropRetryTopic); !ok {
		props = msg.AppendProperty(props, PropRetryTopic, string(r.Topic))
	}
	if v, _ := msg.Property(props, PropOriginMessageID); strings.TrimSpace(v) == "" {
		props = msg.AppendProperty(msg.RemoveProperty(props, PropOriginMessageID), PropOriginMessageID,
			msg.OffsetMsgID(r.StoreHost, r.PhysOffset))
	}
	props = msg.RemoveProperty(props, msg.PropDelay)
	d := retry.SendBack(retry.Back{Group: group, ReconsumeTimes: r.ReconsumeTimes, MaxReconsumeTimes: maxTimes,
		DelayLevel: delayLevel, RetryQueueNums: gc.RetryQueueNums, RetryWriteQueues: retryTC.WriteQueueNums})
	if d.DLQ {
		if _, resp := b.ensureBackTopic(req, d.Topic, retry.DLQQueueNums); resp != nil {
			return resp
		}
		b.log.Info("message moved to the dead-letter queue", "group", group, "topic", string(r.Topic),
			"reconsumeTimes", r.ReconsumeTimes, "maxReconsumeTimes", maxTimes, "delayLevel", delayLevel)
	} else {
		props = msg.AppendProperty(props, msg.PropDelay, strconv.Itoa(int(d.DelayLevel)))
	}
	m := msg.Message{
		Topic: d.Topic, QueueID: d.QueueID,
		Flag: r.Flag, Body: r.Body, SysFlag: sysFlag, BornTimestamp: r.BornTimestamp,
		BornHost: r.BornHost, StoreHost: b.storeHost, ReconsumeTimes: d.ReconsumeTimes,
	}
	m.Properties = props
	if err := b.sched.Route(&m); err != nil {
		return remoting.NewResponse(req, remoting.RespMessageIllegal, err.Error())
	}
	res, err := b.store.Put(&m)
	if err != nil {
		return remoting.NewResponse(req, putErrorCode(err), err.Error())
	}
	// The consumer commits past the message once answered: under
	// SYNC_MASTER its retry must be on a slave first, as Java's send-back
	// answers SYSTEM_ERROR otherwise (the client then sends the retry
	// itself).
	if code, remark := b.slaveHolds(res.Phys + int64(m.EncodedSize())); code != remoting.RespSuccess {
		return remoting.NewResponse(req, remoting.RespSystemError, remark)
	}
	return remoting.NewResponse(req, remoting.RespSuccess, "")
}

// ensureBackTopic creates a retry or DLQ topic unless it exists (Java
// createTopicInSendMessageBackMethod, perm read+write; a new topic is
// registered with the name servers at once) and checks it is writable.
func (b *Broker) ensureBackTopic(req *remoting.Command, name string, queues int32) (body.TopicConfig, *remoting.Command) {
	if remark, ok := meta.ValidateTopic(name); !ok {
		return body.TopicConfig{}, remoting.NewResponse(req, remoting.RespSystemError, remark)
	}
	tc, _, err := b.topics.GetOrCreate(name, func() (body.TopicConfig, bool) {
		return meta.NewTopicConfig(name, queues, body.PermRead|body.PermWrite), true
	})
	if err != nil {
		return body.TopicConfig{}, remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	if tc.Perm&body.PermWrite == 0 || tc.WriteQueueNums <= 0 {
		return body.TopicConfig{}, remoting.NewResponse(req, remoting.RespNoPermission,
			fmt.Sprintf("the topic[%s] sending message is forbidden", name))
	}
	return tc, nil
}

// routeSend applies, to a message being sent, the dead-letter rule of
// %RETRY% topics (Java handleRetryAndDLQ: the Go client's fallback when
// CONSUMER_SEND_MSG_BACK fails sends the retry itself) and then the delay
// of a DELAY property. It returns the response refusing the send, if any.
func (b *Broker) routeSend(req *remoting.Command, h *sendHeader, m *msg.Message) *remoting.Command {
	if group, ok := retry.GroupOf(m.Topic); ok {
		gc, ok, err := b.groups.GetOrCreate(group, b.cfg.AutoCreateSubscriptionGroup)
		if err != nil {
			return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
		}
		if !ok {
			return remoting.NewResponse(req, remoting.RespSubscriptionGroupNotExist, "subscription group not exist, "+group)
		}
		maxTimes := int32(min(gc.RetryMaxTimes, math.MaxInt32))
		key := sendKeysV1[11]
		if req.Code != remoting.CodeSendMessage {
			key = sendKeysV2[11]
		}
		if _, ok := req.ExtFields[key]; ok {
			maxTimes = h.maxReconsumeTimes
		}
		if retry.Exhausted(h.reconsumeTimes, maxTimes) {
			dlq, resp := b.ensureBackTopic(req, retry.DLQTopic(group), retry.DLQQueueNums)
			if resp != nil {
				return resp
			}
			m.Topic, m.QueueID = dlq.TopicName, 0
			m.Properties = msg.RemoveProperty(m.Properties, msg.PropDelay)
		}
	}
	if err := b.sched.Route(m); err != nil {
		return remoting.NewResponse(req, remoting.RespMessageIllegal, err.Error())
	}
	return nil
}
