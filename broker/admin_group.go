package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/wharfmq/wharf/broker/client"
	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// maxRetryQueueNums bounds a group's retry queue count: it becomes the
// queue count of the group's retry topic, which topics bound the same way.
const maxRetryQueueNums = 1024

// handleUpdateGroup serves UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200): the
// body is a SubscriptionGroupConfig; fields it leaves out take Java's
// defaults, as fastjson's decoding into a new object gives them.
func (b *Broker) handleUpdateGroup(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var probe struct {
		GroupName string `json:"groupName"`
	}
	if err := json.Unmarshal(req.Body, &probe); err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, "body is not a SubscriptionGroupConfig JSON object: "+err.Error())
	}
	gc := meta.NewGroupConfig(probe.GroupName)
	if err := json.Unmarshal(req.Body, &gc); err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, "body is not a SubscriptionGroupConfig JSON object: "+err.Error())
	}
	if remark, ok := meta.ValidateGroup(gc.GroupName); !ok {
		return remoting.NewResponse(req, remoting.RespSystemError, remark)
	}
	if gc.RetryQueueNums < 0 || gc.RetryQueueNums > maxRetryQueueNums {
		return remoting.NewResponse(req, remoting.RespSystemError,
			fmt.Sprintf("retryQueueNums %d out of range 0..%d", gc.RetryQueueNums, maxRetryQueueNums))
	}
	if gc.RetryMaxTimes < -1 {
		return remoting.NewResponse(req, remoting.RespSystemError, fmt.Sprintf("retryMaxTimes %d: want -1 or more", gc.RetryMaxTimes))
	}
	if err := b.groups.Put(gc); err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	b.log.Info("subscription group created or updated by admin", "group", gc.GroupName,
		"consumeEnable", gc.ConsumeEnable, "retryQueueNums", gc.RetryQueueNums, "retryMaxTimes", gc.RetryMaxTimes)
	return remoting.NewResponse(req, remoting.RespSuccess, "")
}

// handleDeleteGroup serves DELETE_SUBSCRIPTIONGROUP (207): the group's
// config goes, and with cleanOffset its committed offsets too. As in
// RocketMQ, a group that does not exist is not an error, and the retry and
// dead-letter topics stay (delete them as topics).
func (b *Broker) handleDeleteGroup(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	group, err := req.ExtString("groupName")
	if err != nil {
		return badRequest(req, err)
	}
	if remark, ok := meta.ValidateGroup(group); !ok {
		return remoting.NewResponse(req, remoting.RespSystemError, remark)
	}
	existed, err := b.groups.Remove(group)
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	clean := req.ExtBoolOr("cleanOffset", false)
	if clean {
		if err := b.offsets.DeleteGroup(group); err != nil {
			return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
		}
	}
	b.log.Info("subscription group deleted by admin", "group", group, "existed", existed, "cleanOffset", clean)
	return remoting.NewResponse(req, remoting.RespSuccess, "")
}

// handleConsumerConnections serves GET_CONSUMER_CONNECTION_LIST (203): the
// group's live connections and subscriptions, from its heartbeats.
func (b *Broker) handleConsumerConnections(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	group, err := req.ExtString("consumerGroup")
	if err != nil {
		return badRequest(req, err)
	}
	cg, ok := b.clients.ConsumerGroup(group)
	if !ok {
		return remoting.NewResponse(req, remoting.RespConsumerNotOnline, fmt.Sprintf("the consumer group[%s] not online", group))
	}
	cc := body.ConsumerConnection{ConnectionSet: connections(cg.Members), ConsumeFromWhere: cg.ConsumeFromWhere,
		ConsumeType: cg.ConsumeType, MessageModel: cg.MessageModel, SubscriptionTable: make(map[string]body.SubscriptionData, len(cg.Subscriptions))}
	for topic, s := range cg.Subscriptions {
		cc.SubscriptionTable[topic] = subscriptionBody(s)
	}
	return jsonResponse(req, cc)
}

// handleProducerConnections serves GET_PRODUCER_CONNECTION_LIST (204).
func (b *Broker) handleProducerConnections(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	group, err := req.ExtString("producerGroup")
	if err != nil {
		return badRequest(req, err)
	}
	ms := b.clients.ProducerGroup(group)
	if len(ms) == 0 {
		// RocketMQ answers SYSTEM_ERROR here, not a dedicated code.
		return remoting.NewResponse(req, remoting.RespSystemError, fmt.Sprintf("the producer group[%s] not exist", group))
	}
	return jsonResponse(req, body.ProducerConnection{ConnectionSet: connections(ms)})
}

// connections lists members as Java's Connection; a client that sent no
// language is reported as Java, the remoting default.
func connections(ms []client.Member[*remoting.Conn]) []body.Connection {
	out := make([]body.Connection, 0, len(ms))
	for _, m := range ms {
		lang := m.Ident.Language
		if lang == "" {
			lang = remoting.DefaultLanguage
		}
		out = append(out, body.Connection{ClientAddr: m.Conn.RemoteAddr(), ClientID: m.Ident.ClientID, Language: lang, Version: m.Ident.Version})
	}
	return out
}

// subscriptionBody is s as Java's SubscriptionData, with the tag hash codes
// Java computes (Wharf itself filters by the tag strings).
func subscriptionBody(s *client.Subscription) body.SubscriptionData {
	sd := body.SubscriptionData{Topic: s.Topic, SubString: s.SubString, SubVersion: s.SubVersion, ExpressionType: s.ExpType,
		TagsSet: append([]string{}, s.Tags...), CodeSet: make([]int32, 0, len(s.Tags))}
	if sd.ExpressionType == "" {
		sd.ExpressionType = "TAG"
	}
	for _, t := range s.Tags {
		sd.CodeSet = append(sd.CodeSet, int32(msg.TagsCode(t)))
	}
	return sd
}

// jsonResponse answers SUCCESS with v as the JSON body.
func jsonResponse(req *remoting.Command, v any) *remoting.Command {
	data, err := json.Marshal(v)
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.Body = data
	return resp
}

// runningInfoTimeout bounds the wait for a client's answer to a forwarded
// GET_CONSUMER_RUNNING_INFO.
const runningInfoTimeout = 5 * time.Second

// handleConsumerRunningInfo serves GET_CONSUMER_RUNNING_INFO (307) from an
// admin tool: it forwards the request to the named consumer's connection
// and answers with the client's reply (its ConsumerRunningInfo), as
// RocketMQ's broker does.
func (b *Broker) handleConsumerRunningInfo(ctx context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	group, err := req.ExtString("consumerGroup")
	if err != nil {
		return badRequest(req, err)
	}
	clientID, err := req.ExtString("clientId")
	if err != nil {
		return badRequest(req, err)
	}
	var target *remoting.Conn
	if cg, ok := b.clients.ConsumerGroup(group); ok {
		for _, m := range cg.Members {
			if m.Ident.ClientID == clientID {
				target = m.Conn
				break
			}
		}
	}
	if target == nil {
		return remoting.NewResponse(req, remoting.RespSystemError, fmt.Sprintf("The Consumer <%s> of group %s not online", clientID, group))
	}
	fwd := remoting.NewRequest(remoting.CodeGetConsumerRunningInfo, map[string]string{
		"consumerGroup": group, "clientId": clientID, "jstackEnable": strconv.FormatBool(req.ExtBoolOr("jstackEnable", false))}, nil)
	ctx, cancel := context.WithTimeout(ctx, runningInfoTimeout)
	defer cancel()
	reply, err := target.Invoke(ctx, fwd)
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError,
			fmt.Sprintf("consumer %s (%s) did not answer GET_CONSUMER_RUNNING_INFO: %v", clientID, target.RemoteAddr(), err))
	}
	resp := remoting.NewResponse(req, reply.Code, reply.Remark)
	resp.Body = reply.Body
	return resp
}
