package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/broker/retry"
	"github.com/wharfmq/wharf/broker/transaction"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
)

// sendHeader is Java's SendMessageRequestHeader. SEND_MESSAGE_V2 and
// SEND_BATCH_MESSAGE carry the same fields under one-letter keys
// (SendMessageRequestHeaderV2).
type sendHeader struct {
	producerGroup         string
	topic                 string
	defaultTopic          string
	defaultTopicQueueNums int32
	queueID               int32
	sysFlag               int32
	bornTimestamp         int64
	flag                  int32
	properties            string
	reconsumeTimes        int32
	unitMode              bool
	maxReconsumeTimes     int32
	batch                 bool
}

// sendKeysV1 and sendKeysV2 name the ext keys of each header field, in
// sendHeader's order.
var (
	sendKeysV1 = [...]string{"producerGroup", "topic", "defaultTopic", "defaultTopicQueueNums", "queueId", "sysFlag",
		"bornTimestamp", "flag", "properties", "reconsumeTimes", "unitMode", "maxReconsumeTimes", "batch"}
	sendKeysV2 = [...]string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"}
)

func parseSendHeader(req *remoting.Command) (h sendHeader, err error) {
	k := &sendKeysV2
	if req.Code == remoting.CodeSendMessage || req.Code == remoting.CodeSendReplyMessage {
		k = &sendKeysV1
	}
	if h.producerGroup, err = req.ExtString(k[0]); err != nil {
		return h, err
	}
	if h.topic, err = req.ExtString(k[1]); err != nil {
		return h, err
	}
	if h.defaultTopic, err = req.ExtString(k[2]); err != nil {
		return h, err
	}
	if h.defaultTopicQueueNums, err = req.ExtInt32(k[3]); err != nil {
		return h, err
	}
	if h.queueID, err = req.ExtInt32(k[4]); err != nil {
		return h, err
	}
	if h.sysFlag, err = req.ExtInt32(k[5]); err != nil {
		return h, err
	}
	if h.bornTimestamp, err = req.ExtInt64(k[6]); err != nil {
		return h, err
	}
	if h.flag, err = req.ExtInt32(k[7]); err != nil {
		return h, err
	}
	h.properties = req.ExtStringOr(k[8], "")
	if h.reconsumeTimes, err = req.ExtInt32Or(k[9], 0); err != nil {
		return h, err
	}
	h.unitMode = req.ExtBoolOr(k[10], false)
	if h.maxReconsumeTimes, err = req.ExtInt32Or(k[11], 0); err != nil {
		return h, err
	}
	h.batch = req.ExtBoolOr(k[12], false)
	return h, nil
}

// handleSend serves SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and
// SEND_BATCH_MESSAGE (320).
//
// The append gate (roleswitch.go) is held from the start until the
// records are appended, not while waiting for their fsync or a slave: a
// demotion waits for the append only, and a send it overtakes while
// waiting is answered 14 (finalAck, replicaCode).
func (b *Broker) handleSend(_ context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	start := time.Now() // a reply sent later observes its latency itself
	if !b.appends.enter() {
		return remoting.NewResponse(req, remoting.RespServiceNotAvailable, b.refusalOr("sends"))
	}
	inGate := true
	defer func() {
		if inGate {
			b.appends.leave()
		}
	}()
	h, resp := b.parseAndCheckSend(conn, req)
	if resp != nil {
		return resp
	}
	if resp := b.checkInSyncReplicas(req, h.properties); resp != nil {
		return resp
	}
	batch := req.Code == remoting.CodeSendBatchMessage
	base := b.sentMessage(&h, conn)
	props := base.Properties
	// Counted under the topic and type as sent, before retry, delay or
	// transaction routing moves the message to a system topic.
	topic, typ := h.topic, messageType(props)
	var ms []*msg.Message
	if batch && transaction.IsTranMsg(props) {
		return remoting.NewResponse(req, remoting.RespMessageIllegal, "batch messages cannot be transactional (TRAN_MSG)")
	}
	if batch {
		if ms, resp = b.batchMessages(req, &base, props); resp != nil {
			return resp
		}
	} else {
		m := base
		m.Body, m.Properties = req.Body, props
		if to, ok := msg.Property(props, propReplyToClient); ok && to != "" {
			b.clients.NoteRequester(to, conn, b.account(conn, req)) // a request-reply request (reply.go)
		}
		if transaction.IsTranMsg(props) {
			resp = b.prepareTxn(req, &m) // a half message: no retry or delay routing
		} else {
			resp = b.routeSend(req, &h, &m)
		}
		if resp != nil {
			return resp
		}
		ms = []*msg.Message{&m}
	}
	res, end, err := b.store.PutBatchNoWait(ms)
	b.appends.leave()
	inGate = false
	if err != nil {
		return remoting.NewResponse(req, putErrorCode(err), err.Error())
	}
	b.traffic.countPut(topic, typ, ms)
	resp = remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.SetExt("msgId", strings.Join(res.MsgIDs, ","))
	resp.SetExtInt("queueId", int64(h.queueID))
	resp.SetExtInt("queueOffset", res.QueueOffset)
	resp.SetExt("MSG_REGION", b.cfg.RegionID)
	resp.SetExtBool("TRACE_ON", b.cfg.TraceOn)
	slave := b.waitsForSlave(h.properties) // as sent: the stored properties lose WAIT
	waits := b.cfg.FlushDiskType == config.SyncFlush || slave
	if waits && b.ackLater(conn) {
		// Answered by the connection's acker once durable and, under
		// SYNC_MASTER, held by a slave (syncack.go).
		b.ackAfterSync(conn, req, resp, end, slave, start)
		return nil
	}
	if waits {
		// Blocking the reader for the fsync or the slave: let replies of
		// other requests on this connection go out meanwhile.
		conn.ReaderWaits()
	}
	if err := b.store.WaitPut(end); err != nil {
		return remoting.NewResponse(req, putErrorCode(err), err.Error())
	}
	if slave {
		if b.replyWhenReplicated(conn, req, resp, end, start) {
			return nil // answered once a slave holds it
		}
		resp.Code, resp.Remark = b.replicaCode(end)
	}
	return resp
}

// parseAndCheckSend reads a send header (v1 or v2 by code), checks the
// topic, queue and body size, and picks a queue when the producer left it
// to the broker (-1). It returns the header, or the response refusing the
// send.
func (b *Broker) parseAndCheckSend(conn *remoting.Conn, req *remoting.Command) (sendHeader, *remoting.Command) {
	h, err := parseSendHeader(req)
	if err != nil {
		return h, badRequest(req, err)
	}
	tc, resp := b.checkSend(req, &h, conn)
	if resp != nil {
		return h, resp
	}
	if h.queueID < 0 {
		h.queueID = rand.Int32N(max(tc.WriteQueueNums, 1))
	}
	if len(req.Body) > b.cfg.MaxMessageSize {
		return h, remoting.NewResponse(req, remoting.RespMessageIllegal,
			fmt.Sprintf("message body size %d bytes exceeds the limit of %d bytes (maxMessageSize)", len(req.Body), b.cfg.MaxMessageSize))
	}
	return h, nil
}

// sentMessage is the message a send header describes, as stored: born on
// conn, stored here, its properties without WAIT and with CLUSTER (as Java
// stores them). The body is the caller's to set.
func (b *Broker) sentMessage(h *sendHeader, conn *remoting.Conn) msg.Message {
	return msg.Message{
		Topic: h.topic, QueueID: h.queueID, Flag: h.flag, SysFlag: h.sysFlag, BornTimestamp: h.bornTimestamp,
		BornHost: netipUnmap(conn.RemoteAddrPort()), StoreHost: b.storeHost, ReconsumeTimes: h.reconsumeTimes,
		Properties: msg.AppendProperty(msg.RemoveProperty(h.properties, msg.PropWait), msg.PropCluster, b.cfg.BrokerClusterName),
	}
}

// checkSend validates the topic and queue of a send (Java msgCheck) and
// creates the topic from the default topic when allowed. It returns the
// topic's config, or the response refusing the send.
func (b *Broker) checkSend(req *remoting.Command, h *sendHeader, conn *remoting.Conn) (body.TopicConfig, *remoting.Command) {
	if remark, ok := meta.ValidateTopic(h.topic); !ok {
		return body.TopicConfig{}, remoting.NewResponse(req, remoting.RespSystemError, remark)
	}
	if h.topic == systopic.AutoCreate {
		return body.TopicConfig{}, remoting.NewResponse(req, remoting.RespSystemError,
			fmt.Sprintf("the topic[%s] is conflict with system reserved words.", h.topic))
	}
	if meta.NotAllowedSend(h.topic) {
		return body.TopicConfig{}, remoting.NewResponse(req, remoting.RespNoPermission,
			fmt.Sprintf("Sending message to topic[%s] is forbidden.", h.topic))
	}
	tc, created, err := b.topics.GetOrCreate(h.topic, func() (body.TopicConfig, bool) {
		return b.autoCreateTopic(h)
	})
	if err != nil {
		return body.TopicConfig{}, remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	if tc.TopicName == "" {
		return body.TopicConfig{}, remoting.NewResponse(req, remoting.RespTopicNotExist,
			fmt.Sprintf("topic[%s] not exist, apply first please!", h.topic))
	}
	if created {
		b.log.Info("topic auto-created on send", "topic", h.topic, "queues", tc.WriteQueueNums,
			"producerGroup", h.producerGroup, "producer", conn.RemoteAddr())
		b.reg.registerWithin(time.Second)
	}
	if tc.Perm&body.PermWrite == 0 {
		return body.TopicConfig{}, remoting.NewResponse(req, remoting.RespNoPermission,
			fmt.Sprintf("the topic[%s] sending message is forbidden", h.topic))
	}
	if h.queueID >= tc.QueueNums() {
		return body.TopicConfig{}, remoting.NewResponse(req, remoting.RespSystemError,
			fmt.Sprintf("request queueId[%d] is illegal, topic[%s] has %d queues, producer: %s",
				h.queueID, h.topic, tc.QueueNums(), conn.RemoteAddr()))
	}
	return tc, nil
}

// autoCreateTopic derives a new topic's config (Java
// createTopicInSendMessageMethod): retry topics get the group's retry
// queues; other topics inherit from the default topic when autoCreateTopicEnable
// is set (meta.Topics.Inherited holds that rule).
func (b *Broker) autoCreateTopic(h *sendHeader) (body.TopicConfig, bool) {
	if group, ok := strings.CutPrefix(h.topic, retry.TopicPrefix); ok {
		gc, ok, err := b.groups.GetOrCreate(group, b.cfg.AutoCreateSubscriptionGroup)
		if err != nil || !ok || gc.RetryQueueNums <= 0 {
			return body.TopicConfig{}, false
		}
		return meta.NewTopicConfig(h.topic, gc.RetryQueueNums, body.PermRead|body.PermWrite), true
	}
	if !b.cfg.AutoCreateTopicEnable {
		return body.TopicConfig{}, false
	}
	return b.topics.Inherited(h.topic, h.defaultTopic, h.defaultTopicQueueNums)
}

// batchMessages turns a batch body (PROTOCOL.md §3.5) into messages of one
// queue, each with its own properties plus the batch-level ones.
func (b *Broker) batchMessages(req *remoting.Command, base *msg.Message, batchProps string) ([]*msg.Message, *remoting.Command) {
	var ms []*msg.Message
	err := msg.DecodeBatch(req.Body, func(i int, e msg.BatchEntry) error {
		if _, ok := msg.Property(e.Properties, msg.PropDelay); ok {
			return fmt.Errorf("message %d of the batch has a delay level; batches cannot be delayed", i)
		}
		if v, ok := msg.Property(e.Properties, msg.PropTranMsg); ok && strings.EqualFold(v, "true") {
			return fmt.Errorf("message %d of the batch is transactional; batches cannot be", i)
		}
		m := *base
		m.Flag, m.Body = e.Flag, e.Body
		m.Properties = string(e.Properties)
		for p := range strings.SplitSeq(batchProps, string(msg.PropertySep)) {
			if name, value, ok := strings.Cut(p, string(msg.NameValueSep)); ok && name != "" {
				m.Properties = msg.AppendProperty(m.Properties, name, value)
			}
		}
		ms = append(ms, &m)
		return nil
	})
	if err == nil && len(ms) == 0 {
		err = errors.New("the batch is empty")
	}
	if err != nil {
		return nil, remoting.NewResponse(req, remoting.RespMessageIllegal, "bad batch body: "+err.Error())
	}
	return ms, nil
}

// netipUnmap turns an IPv4-mapped IPv6 peer address into plain IPv4, so a
// dual-stack listener still records 4-byte born hosts.
func netipUnmap(a netip.AddrPort) netip.AddrPort {
	if !a.IsValid() {
		return a
	}
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
