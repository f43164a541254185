package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/wharfmq/wharf/broker/client"
	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/broker/retry"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// heartbeatData is the HEART_BEAT body (Java HeartbeatData).
type heartbeatData struct {
	ClientID        string          `json:"clientID"`
	ProducerDataSet []producerData  `json:"producerDataSet"`
	ConsumerDataSet []*consumerData `json:"consumerDataSet"`
}

type producerData struct {
	GroupName string `json:"groupName"`
}

type consumerData struct {
	GroupName           string              `json:"groupName"`
	ConsumeType         string              `json:"consumeType"`
	MessageModel        string              `json:"messageModel"`
	ConsumeFromWhere    string              `json:"consumeFromWhere"`
	SubscriptionDataSet []*subscriptionData `json:"subscriptionDataSet"`
	UnitMode            bool                `json:"unitMode"`
}

// subscriptionData is Java SubscriptionData. codeSet is ignored on purpose
// (trap T9); the filter is rebuilt from tagsSet.
type subscriptionData struct {
	Topic          string   `json:"topic"`
	SubString      string   `json:"subString"`
	TagsSet        []string `json:"tagsSet"`
	SubVersion     int64    `json:"subVersion"`
	ExpressionType string   `json:"expressionType"`
}

// plain is cd as the client registry takes it; nil subscriptions are
// dropped.
func (cd *consumerData) plain() client.Consumer {
	c := client.Consumer{Group: cd.GroupName, ConsumeType: cd.ConsumeType, MessageModel: cd.MessageModel,
		ConsumeFromWhere: cd.ConsumeFromWhere, Subscriptions: make([]client.SubscriptionData, 0, len(cd.SubscriptionDataSet))}
	for _, sd := range cd.SubscriptionDataSet {
		if sd != nil {
			c.Subscriptions = append(c.Subscriptions, client.SubscriptionData{Topic: sd.Topic, SubString: sd.SubString,
				Tags: sd.TagsSet, SubVersion: sd.SubVersion, ExpressionType: sd.ExpressionType})
		}
	}
	return c
}

// handleHeartbeat serves HEART_BEAT (34): it creates missing group configs
// and retry topics, registers the client per group, and tells a consumer
// group when its membership or subscriptions changed.
func (b *Broker) handleHeartbeat(_ context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	var hb heartbeatData
	if err := json.Unmarshal(req.Body, &hb); err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, "heartbeat body is not valid HeartbeatData JSON: "+err.Error())
	}
	if hb.ClientID == "" && (len(hb.ConsumerDataSet) > 0 || len(hb.ProducerDataSet) > 0) {
		return remoting.NewResponse(req, remoting.RespSystemError, "heartbeat without clientID")
	}
	for _, cd := range hb.ConsumerDataSet {
		if cd == nil || cd.GroupName == "" {
			continue
		}
		// A consumer group gets a stored config and a retry topic: refuse
		// a name that cannot be one before creating anything.
		if remark, ok := meta.ValidateGroup(cd.GroupName); !ok {
			return remoting.NewResponse(req, remoting.RespSystemError, "heartbeat: "+remark)
		}
	}
	now := time.Now()
	id := client.Ident{ClientID: hb.ClientID, Language: req.Language, Version: int(req.Version), Account: b.account(conn, req)}
	for _, cd := range hb.ConsumerDataSet {
		if cd == nil || cd.GroupName == "" {
			continue
		}
		gc, ok, err := b.groups.GetOrCreate(cd.GroupName, b.cfg.AutoCreateSubscriptionGroup)
		if err != nil {
			return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
		}
		// A slave takes its topics from the master (role.go).
		if ok && gc.RetryQueueNums > 0 && !b.isSlave() {
			retry := retry.TopicPrefix + cd.GroupName
			if err := b.topics.Ensure(meta.NewTopicConfig(retry, gc.RetryQueueNums, body.PermRead|body.PermWrite)); err != nil {
				return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
			}
		}
		if b.clients.RegisterConsumer(cd.plain(), conn, id, now) && (!ok || gc.NotifyConsumerIDsChangedEnable) {
			b.notifyGroup(cd.GroupName)
		}
	}
	for _, pd := range hb.ProducerDataSet {
		if pd.GroupName != "" {
			b.clients.RegisterProducer(pd.GroupName, conn, id, now)
		}
	}
	return remoting.NewResponse(req, remoting.RespSuccess, "")
}

// handleUnregisterClient serves UNREGISTER_CLIENT (35).
func (b *Broker) handleUnregisterClient(_ context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	if _, err := req.ExtString("clientID"); err != nil { // @CFNotNull in Java
		return badRequest(req, err)
	}
	pg, cg := req.ExtStringOr("producerGroup", ""), req.ExtStringOr("consumerGroup", "")
	for _, g := range b.clients.Unregister(conn.ID(), pg, cg) {
		b.notifyGroup(g)
	}
	return remoting.NewResponse(req, remoting.RespSuccess, "")
}

// handleGetConsumerList serves GET_CONSUMER_LIST_BY_GROUP (38) with the
// exact client ids of the group's live members (trap T8).
func (b *Broker) handleGetConsumerList(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	group, err := req.ExtString("consumerGroup")
	if err != nil {
		return badRequest(req, err)
	}
	ids := b.clients.ConsumerIDs(group)
	if len(ids) == 0 {
		return remoting.NewResponse(req, remoting.RespSystemError, "no consumer for this group, "+group)
	}
	body, _ := json.Marshal(struct {
		ConsumerIDList []string `json:"consumerIdList"`
	}{ids})
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.Body = body
	return resp
}

// notifyGroup sends NOTIFY_CONSUMER_IDS_CHANGED (40), oneway, to every
// connection of the group, from owned goroutines (a slow peer must not hold
// the caller).
func (b *Broker) notifyGroup(group string) {
	for _, c := range b.clients.Conns(group) {
		b.goAsync(func() {
			req := remoting.NewRequest(remoting.CodeNotifyConsumerIDsChanged, map[string]string{"consumerGroup": group}, nil)
			if err := c.InvokeOneway(req); err != nil {
				b.log.Debug("notify consumer ids changed failed", "group", group, "client", c.RemoteAddr(), "err", err)
			}
		})
	}
}

// onConnClose unregisters every client of a closed connection at once. Its
// queue locks stay until unlocked or expired, as in Java (client.Locks).
func (b *Broker) onConnClose(c *remoting.Conn) {
	for _, g := range b.clients.ConnClosed(c.ID()) {
		b.log.Info("consumer left (connection closed)", "group", g, "client", c.RemoteAddr())
		b.notifyGroup(g)
	}
}

// onClientsExpired is told what the registry's expiry scan dropped
// (clients silent for clientExpiry): it tells the groups and closes the
// connections no longer in any group.
func (b *Broker) onClientsExpired(groups []string, dead []*remoting.Conn) {
	for _, g := range groups {
		b.log.Info("consumer expired (no heartbeat)", "group", g, "after", b.clientExpiry)
		b.notifyGroup(g)
	}
	for _, c := range dead {
		c.Close()
	}
}

// badRequest answers a request whose header could not be read.
func badRequest(req *remoting.Command, err error) *remoting.Command {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "remoting: ")
	return remoting.NewResponse(req, remoting.RespSystemError, fmt.Sprintf("bad request (code %d): %s", req.Code, msg))
}
