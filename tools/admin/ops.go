package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// Broker is one master broker as the name server lists it.
type Broker struct {
	Cluster string `json:"cluster"`
	Name    string `json:"brokerName"`
	Addr    string `json:"addr"`
}

// Masters returns the master brokers the name server knows, of one
// cluster when cluster is set, sorted by cluster and name. An unknown
// cluster is an error; so is a name server that knows no broker.
func (c *Client) Masters(ctx context.Context, cluster string) ([]Broker, error) {
	ci, err := c.ClusterInfo(ctx)
	if err != nil {
		return nil, err
	}
	var out []Broker
	for cl, names := range ci.ClusterAddrTable {
		if cluster != "" && cl != cluster {
			continue
		}
		for _, n := range names {
			if a := ci.BrokerAddrTable[n].BrokerAddrs[0]; a != "" {
				out = append(out, Broker{Cluster: cl, Name: n, Addr: a})
			}
		}
	}
	if len(out) == 0 {
		if cluster != "" {
			return nil, fmt.Errorf("cluster %q has no master broker on name server %s", cluster, strings.Join(c.namesrv, ";"))
		}
		return nil, fmt.Errorf("name server %s knows no master broker", strings.Join(c.namesrv, ";"))
	}
	slices.SortFunc(out, func(a, b Broker) int { return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Name, b.Name)) })
	return out, nil
}

// targets returns broker when set, else the masters of cluster (all
// masters when cluster is empty).
func (c *Client) targets(ctx context.Context, broker, cluster string) ([]string, error) {
	if broker != "" {
		return []string{broker}, nil
	}
	ms, err := c.Masters(ctx, cluster)
	if err != nil {
		return nil, err
	}
	addrs := make([]string, len(ms))
	for i, m := range ms {
		addrs[i] = m.Addr
	}
	return addrs, nil
}

// QueueRef is one queue of a topic on one broker.
type QueueRef struct {
	BrokerName string `json:"brokerName,omitempty"`
	Addr       string `json:"addr"`
	QueueID    int32  `json:"queueId"`
}

// brokerTopic is topic's config in broker's own topic table; an unknown
// topic wraps ErrTopicNotExist.
func (c *Client) brokerTopic(ctx context.Context, topic, broker string) (TopicConfig, error) {
	tcs, err := c.TopicConfigs(ctx, broker)
	if err != nil {
		return TopicConfig{}, err
	}
	tc, ok := tcs[topic]
	if !ok {
		return TopicConfig{}, fmt.Errorf("topic %q: %w on broker %s", topic, ErrTopicNotExist, broker)
	}
	return tc, nil
}

// masterAddrs maps each broker name of a route to its master's address
// (brokerId 0; "" when it has none).
func masterAddrs(rd *body.TopicRouteData) map[string]string {
	addrs := make(map[string]string, len(rd.BrokerDatas))
	for _, bd := range rd.BrokerDatas {
		addrs[bd.BrokerName] = bd.BrokerAddrs[0]
	}
	return addrs
}

// TopicQueues lists the topic's queues: from broker's own topic table when
// broker is set, else from the name server's route (master brokers only).
// An unknown topic wraps ErrTopicNotExist.
func (c *Client) TopicQueues(ctx context.Context, topic, broker string) ([]QueueRef, error) {
	if broker != "" {
		tc, err := c.brokerTopic(ctx, topic, broker)
		if err != nil {
			return nil, err
		}
		out := make([]QueueRef, 0, tc.QueueNums())
		for q := range tc.QueueNums() {
			out = append(out, QueueRef{Addr: broker, QueueID: q})
		}
		return out, nil
	}
	rd, err := c.Route(ctx, topic)
	if err != nil {
		return nil, err
	}
	addrs := masterAddrs(&rd)
	var out []QueueRef
	for _, qd := range rd.QueueDatas {
		a := addrs[qd.BrokerName]
		if a == "" {
			continue // no master: nothing to ask
		}
		for q := range int32(max(qd.ReadQueueNums, qd.WriteQueueNums)) {
			out = append(out, QueueRef{BrokerName: qd.BrokerName, Addr: a, QueueID: q})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("topic %q: route has no queue on a master broker", topic)
	}
	slices.SortFunc(out, func(a, b QueueRef) int {
		return cmp.Or(cmp.Compare(a.BrokerName, b.BrokerName), cmp.Compare(a.Addr, b.Addr), cmp.Compare(a.QueueID, b.QueueID))
	})
	return out, nil
}

// topicBrokers returns the addresses of the brokers holding the topic.
func (c *Client) topicBrokers(ctx context.Context, topic, broker string) ([]string, error) {
	qs, err := c.TopicQueues(ctx, topic, broker)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, q := range qs {
		if !slices.Contains(addrs, q.Addr) {
			addrs = append(addrs, q.Addr)
		}
	}
	return addrs, nil
}

// QueueStatus is one queue's offsets.
type QueueStatus struct {
	QueueRef
	MinOffset int64 `json:"minOffset"`
	MaxOffset int64 `json:"maxOffset"`
	// LastUpdateTime is the store time (ms) of the queue's last message,
	// 0 when it holds none.
	LastUpdateTime int64 `json:"lastUpdateTime"`
}

// brokerRefs returns the (name, address) of each broker holding the topic:
// broker alone when set, else the masters of the topic's route.
func (c *Client) brokerRefs(ctx context.Context, topic, broker string) ([]QueueRef, error) {
	if broker != "" {
		return []QueueRef{{Addr: broker}}, nil
	}
	qs, err := c.TopicQueues(ctx, topic, "")
	if err != nil {
		return nil, err
	}
	var out []QueueRef
	for _, q := range qs {
		if !slices.ContainsFunc(out, func(r QueueRef) bool { return r.Addr == q.Addr }) {
			out = append(out, QueueRef{BrokerName: q.BrokerName, Addr: q.Addr})
		}
	}
	return out, nil
}

// TopicStatus returns every queue's min and max offsets and last update
// time, one GET_TOPIC_STATS_INFO per broker: broker when set, else every
// master broker of the topic's route.
func (c *Client) TopicStatus(ctx context.Context, topic, broker string) ([]QueueStatus, error) {
	refs, err := c.brokerRefs(ctx, topic, broker)
	if err != nil {
		return nil, err
	}
	var out []QueueStatus
	for _, r := range refs {
		qs, err := c.TopicStats(ctx, r.Addr, topic)
		if err != nil {
			return nil, err
		}
		for _, q := range qs {
			out = append(out, QueueStatus{
				QueueRef:  QueueRef{BrokerName: cmp.Or(r.BrokerName, q.BrokerName), Addr: r.Addr, QueueID: q.QueueID},
				MinOffset: q.MinOffset, MaxOffset: q.MaxOffset, LastUpdateTime: q.LastUpdateTimestamp,
			})
		}
	}
	return out, nil
}

// CreateTopicOn creates tc on broker when set, else on every master of
// cluster (every master when cluster is empty). It returns the addresses
// it created the topic on.
func (c *Client) CreateTopicOn(ctx context.Context, tc TopicConfig, broker, cluster string) ([]string, error) {
	addrs, err := c.targets(ctx, broker, cluster)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if err := c.CreateTopic(ctx, a, tc); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

// DeleteTopic deletes the topic on broker when set, else on every master
// of cluster (every master when cluster is empty) that has it, then on
// every name server, as Java's mqadmin deleteTopic does. It returns the
// brokers it deleted from; a topic no broker has and no name server routes
// wraps ErrTopicNotExist.
func (c *Client) DeleteTopic(ctx context.Context, topic, broker, cluster string) ([]string, error) {
	addrs, err := c.targets(ctx, broker, cluster)
	if err != nil {
		return nil, err
	}
	var deleted []string
	for _, a := range addrs {
		tcs, err := c.TopicConfigs(ctx, a)
		if err != nil {
			return deleted, err
		}
		if _, ok := tcs[topic]; !ok {
			continue
		}
		if err := c.DeleteTopicInBroker(ctx, a, topic); err != nil {
			return deleted, err
		}
		deleted = append(deleted, a)
	}
	_, rerr := c.Route(ctx, topic)
	nsDown := errors.Is(rerr, ErrUnreachable)
	if rerr != nil && !nsDown && !errors.Is(rerr, ErrTopicNotExist) {
		return deleted, rerr
	}
	if len(deleted) == 0 && rerr != nil {
		return nil, fmt.Errorf("topic %q: %w", topic, ErrTopicNotExist)
	}
	if nsDown {
		if broker != "" {
			return deleted, nil // a lone broker without a name server: done
		}
		return deleted, rerr
	}
	return deleted, c.DeleteTopicInNamesrv(ctx, topic)
}

// Groups returns the subscription groups of broker when set, else of every
// master of cluster (every master when cluster is empty), by broker
// address.
func (c *Client) Groups(ctx context.Context, broker, cluster string) (map[string]map[string]GroupConfig, error) {
	addrs, err := c.targets(ctx, broker, cluster)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[string]GroupConfig, len(addrs))
	for _, a := range addrs {
		if out[a], err = c.GroupConfigs(ctx, a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// QueueProgress is a consumer group's position in one queue.
type QueueProgress struct {
	Topic string `json:"topic"`
	QueueRef
	BrokerOffset int64 `json:"brokerOffset"`
	// ConsumerOffset is the committed offset, 0 when the group has none
	// (as the broker reports it).
	ConsumerOffset int64 `json:"consumerOffset"`
	// Lag is BrokerOffset-ConsumerOffset, at least 0.
	Lag int64 `json:"lag"`
	// LastTimestamp is the store time (ms) of the last consumed message,
	// 0 when none.
	LastTimestamp int64 `json:"lastTimestamp"`
}

// GroupProgress returns the group's offsets against the brokers' max
// offsets, by topic and queue, one GET_CONSUME_STATS per broker: broker
// when set, else the masters of topic's route, else (no topic) every
// master. Without a topic each broker reports the topics the group has
// offsets for, its retry topic and what its online consumers subscribe
// to. A group no broker knows, or one with no queue to show, wraps
// ErrNotFound.
func (c *Client) GroupProgress(ctx context.Context, group, topic, broker string) ([]QueueProgress, error) {
	var refs []QueueRef
	var err error
	switch {
	case topic != "":
		refs, err = c.brokerRefs(ctx, topic, broker)
	case broker != "":
		refs = []QueueRef{{Addr: broker}}
	default:
		var ms []Broker
		ms, err = c.Masters(ctx, "")
		for _, m := range ms {
			refs = append(refs, QueueRef{BrokerName: m.Name, Addr: m.Addr})
		}
	}
	if err != nil {
		return nil, err
	}
	var out []QueueProgress
	var notFound error
	for _, r := range refs {
		cs, err := c.ConsumeStats(ctx, r.Addr, group, topic)
		if errors.Is(err, ErrNotFound) {
			notFound = err // another broker may know the group
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, q := range cs.Queues {
			out = append(out, QueueProgress{
				Topic:        q.Topic,
				QueueRef:     QueueRef{BrokerName: cmp.Or(r.BrokerName, q.BrokerName), Addr: r.Addr, QueueID: q.QueueID},
				BrokerOffset: q.BrokerOffset, ConsumerOffset: q.ConsumerOffset,
				Lag: max(q.BrokerOffset-q.ConsumerOffset, 0), LastTimestamp: q.LastTimestamp,
			})
		}
	}
	if len(out) == 0 {
		if notFound != nil {
			return nil, notFound
		}
		return nil, fmt.Errorf("group %q has no queue to show: %w", group, ErrNotFound)
	}
	slices.SortFunc(out, func(a, b QueueProgress) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.BrokerName, b.BrokerName), cmp.Compare(a.Addr, b.Addr), cmp.Compare(a.QueueID, b.QueueID))
	})
	return out, nil
}

// decodeResetReply appends the queues of one broker's reset reply to out.
func decodeResetReply(resp *remoting.Command, r QueueRef, out *[]QueueOffset) error {
	_, say := resp.ExtFields["wharfMovedQueues"]
	moved := queueSet(resp.ExtFields["wharfMovedQueues"])
	kept := queueSet(resp.ExtFields["wharfKeptQueues"])
	_, err := body.DecodeMQTable(resp.Body, "offsetTable", func(mq MessageQueue, v []byte) error {
		off, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: offset %.40q", body.ErrMalformed, v)
		}
		*out = append(*out, QueueOffset{Topic: mq.Topic, QueueRef: QueueRef{BrokerName: cmp.Or(r.BrokerName, mq.BrokerName), Addr: r.Addr, QueueID: mq.QueueID},
			Offset: off, Moved: !say || moved[mq.QueueID], Kept: kept[mq.QueueID]})
		return nil
	})
	if err != nil {
		return fmt.Errorf("reset offsets on %s: %w", r.Addr, err)
	}
	return nil
}

// queueSet reads a comma-separated list of queue ids.
func queueSet(s string) map[int32]bool {
	m := map[int32]bool{}
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.ParseInt(f, 10, 32); err == nil {
			m[int32(n)] = true
		}
	}
	return m
}

// ResetTarget says where ResetOffsets moves a group: the first message
// stored at or after Time, or with Latest the end of each queue.
type ResetTarget struct {
	Time   time.Time
	Latest bool
}

// QueueOffset is one queue's offset after a reset.
type QueueOffset struct {
	Topic string `json:"topic"`
	QueueRef
	Offset int64 `json:"offset"`
	// Moved: the reset changed the committed offset. Kept: it did not,
	// because the target was ahead and force was off. A broker that does
	// not say (not Wharf) reports every queue as moved.
	Moved bool `json:"moved"`
	Kept  bool `json:"kept,omitempty"`
}

// ResetOffsets moves a consumer group's offsets on topic, on broker or on
// every master of the topic's route, with INVOKE_BROKER_TO_RESET_OFFSET
// (like mqadmin resetOffsetByTime). Without force an offset only moves
// back. The brokers commit the new offsets and tell the group's online
// consumers; it returns the offsets per queue. A broker that does not know
// the group refuses, unless create (the broker then creates it). An error
// says which brokers had already reset, or that nothing moved.
func (c *Client) ResetOffsets(ctx context.Context, group, topic, broker string, to ResetTarget, force, create bool) ([]QueueOffset, error) {
	refs, err := c.brokerRefs(ctx, topic, broker)
	if err != nil {
		return nil, err
	}
	ts := int64(-1)
	if !to.Latest {
		ts = max(to.Time.UnixMilli(), 0)
	}
	ext := map[string]string{"group": group, "topic": topic, "timestamp": strconv.FormatInt(ts, 10), "isForce": strconv.FormatBool(force)}
	if create {
		ext["wharfCreateGroup"] = "true"
	}
	var out []QueueOffset
	var done []string
	for _, r := range refs {
		resp, err := c.call(ctx, r.Addr, "reset offsets", remoting.CodeInvokeBrokerToResetOffset, ext, nil)
		if err == nil {
			err = decodeResetReply(resp, r, &out)
		}
		if err != nil {
			if len(done) > 0 {
				return nil, fmt.Errorf("%w (offsets were already reset on %s)", err, strings.Join(done, ", "))
			}
			if !strings.Contains(err.Error(), "nothing moved") {
				err = fmt.Errorf("%w; nothing moved", err)
			}
			return nil, err
		}
		done = append(done, r.Addr)
	}
	slices.SortFunc(out, func(a, b QueueOffset) int {
		return cmp.Or(cmp.Compare(a.BrokerName, b.BrokerName), cmp.Compare(a.Addr, b.Addr), cmp.Compare(a.QueueID, b.QueueID))
	})
	return out, nil
}

// Targets returns broker when set, else the addresses of every master.
func (c *Client) Targets(ctx context.Context, broker string) ([]string, error) {
	return c.targets(ctx, broker, "")
}
