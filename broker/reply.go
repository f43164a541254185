package broker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
)

// Request-reply (RocketMQ's RPC mode, 4.6 and later). A requester sends an
// ordinary message carrying CORRELATION_ID and REPLY_TO_CLIENT (its client
// id); the broker stamps CLUSTER on it like on every message. The consumer
// that handles it builds a reply to "<cluster>_REPLY_TOPIC" and sends it
// with SEND_REPLY_MESSAGE(_V2). The broker pushes the reply at once to the
// requester's connection (PUSH_REPLY_MESSAGE_TO_CLIENT) and, unless
// storeReplyMessageEnable is off, stores it in the reply topic too.

const (
	propReplyToClient = "REPLY_TO_CLIENT"
	propPushReplyTime = "PUSH_REPLY_TIME"
	// replyPushTimeout bounds the wait for the requester to take a reply.
	replyPushTimeout = 3 * time.Second
)

// handleSendReply serves SEND_REPLY_MESSAGE (324, the v1 send header) and
// SEND_REPLY_MESSAGE_V2 (325, the v2 header). The reply's sender learns
// whether the push reached the requester: SYSTEM_ERROR with the reason if
// not. The reply is stored either way, as in RocketMQ.
func (b *Broker) handleSendReply(ctx context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	h, resp := b.parseAndCheckSend(conn, req)
	if resp != nil {
		return resp
	}
	m := b.sentMessage(&h, conn)
	m.Body = req.Body

	resp = remoting.NewResponse(req, remoting.RespSuccess, "")
	if remark := b.pushReply(ctx, conn, &h, &m); remark != "" {
		resp = remoting.NewResponse(req, remoting.RespSystemError, remark)
	}
	resp.SetExt("msgId", "0")
	resp.SetExtInt("queueId", int64(h.queueID))
	resp.SetExtInt("queueOffset", 0)
	resp.SetExt("MSG_REGION", b.cfg.RegionID)
	resp.SetExtBool("TRACE_ON", b.cfg.TraceOn)
	if !b.cfg.StoreReplyMessageEnable {
		return resp
	}
	res, err := b.store.Put(&m)
	if err != nil {
		// The reply reached (or missed) its requester already; the stored
		// copy is only for lookup, so a failure here is logged, not sent.
		b.log.Warn("reply message not stored", "topic", h.topic, "err", err)
		return resp
	}
	resp.SetExt("msgId", res.MsgIDs[0])
	resp.SetExtInt("queueOffset", res.QueueOffset)
	return resp
}

// pushReply hands a reply to the connection of the producer client named by
// its REPLY_TO_CLIENT property and waits for that client's answer. It
// returns why the push failed, or "" once the requester took the reply.
func (b *Broker) pushReply(ctx context.Context, from *remoting.Conn, h *sendHeader, m *msg.Message) string {
	to, _ := msg.Property(m.Properties, propReplyToClient)
	if to == "" {
		return "push reply message failed: the reply has no " + propReplyToClient + " property"
	}
	// Under ACL a reply goes only to a client id that live connections
	// claim under one account (client.Registry.ClientConn says why).
	target, err := b.clients.ClientConn(to)
	if err != nil {
		b.contested.Warn(b.log, 10*time.Second, "reply not pushed: its client id is claimed under more than one ACL account",
			"client", to, "replier", from.RemoteAddr())
		return fmt.Sprintf("push reply message to client <%s> failed: %v", to, err)
	}
	if target == nil {
		return fmt.Sprintf("push reply message failed: no connection of client <%s>; has its producer sent a heartbeat to this broker?", to)
	}
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	push := remoting.NewRequest(remoting.CodePushReplyMessageToClient, map[string]string{
		"producerGroup":         h.producerGroup,
		"topic":                 h.topic,
		"defaultTopic":          h.defaultTopic,
		"defaultTopicQueueNums": strconv.Itoa(int(h.defaultTopicQueueNums)),
		"queueId":               strconv.Itoa(int(m.QueueID)),
		"sysFlag":               strconv.Itoa(int(m.SysFlag)),
		"bornTimestamp":         strconv.FormatInt(m.BornTimestamp, 10),
		"flag":                  strconv.Itoa(int(m.Flag)),
		"properties":            msg.AppendProperty(m.Properties, propPushReplyTime, now),
		"reconsumeTimes":        strconv.Itoa(int(m.ReconsumeTimes)),
		"unitMode":              strconv.FormatBool(h.unitMode),
		"bornHost":              from.RemoteAddr(),
		"storeHost":             m.StoreHost.String(),
		"storeTimestamp":        now,
	}, m.Body)
	ctx, cancel := context.WithTimeout(ctx, replyPushTimeout)
	defer cancel()
	r, err := target.Invoke(ctx, push)
	if err != nil {
		return fmt.Sprintf("push reply message to client <%s> failed: %v", to, err)
	}
	if r.Code != remoting.RespSuccess {
		return fmt.Sprintf("push reply message to client <%s> failed: it answered code %d %s", to, r.Code, r.Remark)
	}
	return ""
}
