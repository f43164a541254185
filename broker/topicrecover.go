package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// Topics reach a replica through SlaveSynchronize, every few seconds, so a
// topic its master created just before dying is missing on the replica
// that replaces it (apache/rocketmq#9804). The name servers do know it:
// a master registers a new topic at once, and only a master's
// registration changes a broker name's topics. So a replica promoted in
// controller mode asks them, before its own first registration as master
// (which replaces the broker name's topics with its table), for the
// topics routed to its broker name that it lacks, and creates them with
// the queue counts, permission and flags the routes give.

// recoverTopicsBudget bounds the whole recovery: a promotion must not
// wait long for name servers that do not answer.
const recoverTopicsBudget = 3 * time.Second

// recoverTopicsMax bounds the route lookups of one recovery: each topic of
// the cluster this replica lacks costs one.
const recoverTopicsMax = 10_000

// recoverTopics creates the topics the name servers route to this broker
// name and the broker lacks. Failures are logged: the promotion goes on.
func (b *Broker) recoverTopics(ctx context.Context) {
	nss := b.cfg.NameServers()
	if len(nss) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, recoverTopicsBudget)
	defer cancel()
	opts := b.clientOptions()
	opts.DialTimeout = time.Second
	rc := remoting.NewClient(opts)
	defer rc.Close()
	var err error
	for _, ns := range nss {
		var n int
		if n, err = b.recoverTopicsFrom(ctx, rc, ns); err == nil {
			if n > 0 {
				b.log.Info("topics the old master created after the last metadata sync recovered from the name server",
					"topics", n, "namesrv", ns)
			}
			return
		}
	}
	b.log.Warn("could not recover topics from the name servers; topics created on the old master in its last seconds may be missing",
		"err", err)
}

func (b *Broker) recoverTopicsFrom(ctx context.Context, rc *remoting.Client, ns string) (int, error) {
	resp, err := rc.Invoke(ctx, ns, remoting.NewRequest(remoting.CodeGetAllTopicListFromNameServer, nil, nil))
	if err != nil {
		return 0, err
	}
	if resp.Code != remoting.RespSuccess {
		return 0, fmt.Errorf("name server %s: topic list: code %d %s", ns, resp.Code, resp.Remark)
	}
	var list body.TopicList
	if err := json.Unmarshal(resp.Body, &list); err != nil {
		return 0, fmt.Errorf("name server %s: topic list: %w", ns, err)
	}
	created, looked := 0, 0
	for _, topic := range list.TopicList {
		if _, ok := b.topics.Get(topic); ok {
			continue
		}
		if looked++; looked > recoverTopicsMax {
			return created, fmt.Errorf("more than %d topics to look up; stopped", recoverTopicsMax)
		}
		qd, ok, err := routedHere(ctx, rc, ns, topic, b.cfg.BrokerName)
		if err != nil {
			return created, err
		}
		if !ok {
			continue
		}
		tc := body.TopicConfig{TopicName: topic, ReadQueueNums: qd.ReadQueueNums, WriteQueueNums: qd.WriteQueueNums,
			Perm: qd.Perm, TopicSysFlag: qd.TopicSysFlag, TopicFilterType: body.DefaultTopicFilterType}
		if err := b.topics.Ensure(tc); err != nil {
			return created, fmt.Errorf("create topic %s: %w", topic, err)
		}
		created++
	}
	return created, nil
}

// routedHere returns the queue data of topic for brokerName in ns's route.
func routedHere(ctx context.Context, rc *remoting.Client, ns, topic, brokerName string) (body.QueueData, bool, error) {
	resp, err := rc.Invoke(ctx, ns, remoting.NewRequest(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": topic}, nil))
	if err != nil {
		return body.QueueData{}, false, err
	}
	if resp.Code != remoting.RespSuccess {
		return body.QueueData{}, false, nil // gone meanwhile
	}
	var rd body.TopicRouteData
	if err := json.Unmarshal(resp.Body, &rd); err != nil {
		return body.QueueData{}, false, fmt.Errorf("name server %s: route of %s: %w", ns, topic, err)
	}
	for _, qd := range rd.QueueDatas {
		if qd.BrokerName == brokerName {
			return qd, true, nil
		}
	}
	return body.QueueData{}, false, nil
}

// restoreTopicsOfStoredQueues creates a config for every topic that has
// queues in the store but none in the topic table, with as many queues as
// the store holds, readable and writable, and says so. Topic configs live
// in meta/ beside the consume queues, but only the queues can be rebuilt
// from the CommitLog: a meta/ that lost its newest writes (a damaged or
// missing Pebble WAL after a crash) would otherwise hide acknowledged
// messages behind "topic does not exist". A deleted topic has no queues
// (its deletion removes them), so it does not come back.
//
// A failure (the table full at maxTopicNums, a store write) is logged and
// the broker starts anyway: the messages stay in the store.
func (b *Broker) restoreTopicsOfStoredQueues() {
	for topic, n := range b.store.QueueCounts() {
		if _, ok := b.topics.Get(topic); ok {
			continue
		}
		if err := b.topics.Ensure(meta.NewTopicConfig(topic, n, body.PermRead|body.PermWrite)); err != nil {
			b.log.Error("topic has messages in the store but no config in meta/, and restoring it failed: it stays unreachable until created again",
				"topic", topic, "queues", n, "err", err)
			continue
		}
		b.log.Warn("topic has messages in the store but no config in meta/ (meta/ lost its newest writes?): config restored",
			"topic", topic, "queues", n, "perm", "RW")
	}
}
