package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// TopicQueues lists the topic's queues: from broker's own topic table when
// broker is set, else from the name server's route (master brokers only).
// An unknown topic wraps ErrTopicNotExist.
func (c *Client) TopicQueues(ctx context.Context, topic, broker string) ([]QueueRef, error) {
	if broker != "" {
		tcs, err := c.TopicConfigs(ctx, broker)
		if err != nil {
			return nil, err
		}
		tc, ok := tcs[topic]
		if !ok {
			return nil, fmt.Errorf("topic %q: %w on broker %s", topic, ErrTopicNotExist, broker)
		}
		out := make([]QueueRef, 0, tc.Queues())
		for q := range tc.Queues() {
			out = append(out, QueueRef{Addr: broker, QueueID: q})
		}
		return out, nil
	}
	rd, err := c.Route(ctx, topic)
	if err != nil {
		return nil, err
	}
	addrs := map[string]string{}
	for _, bd := range rd.BrokerDatas {
		addrs[bd.BrokerName] = bd.BrokerAddrs[0]
	}
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
	// FirstStoreTime is the store time (ms) of the queue's first message,
	// -1 when it holds none.
	FirstStoreTime int64 `json:"firstStoreTime"`
}

// TopicStatus returns every queue's min and max offsets and first store
// time (GET_MIN_OFFSET, GET_MAX_OFFSET, GET_EARLIEST_MSG_STORETIME).
func (c *Client) TopicStatus(ctx context.Context, topic, broker string) ([]QueueStatus, error) {
	qs, err := c.TopicQueues(ctx, topic, broker)
	if err != nil {
		return nil, err
	}
	out := make([]QueueStatus, 0, len(qs))
	for _, q := range qs {
		st := QueueStatus{QueueRef: q, FirstStoreTime: -1}
		if st.MinOffset, err = c.MinOffset(ctx, q.Addr, topic, q.QueueID); err != nil {
			return nil, err
		}
		if st.MaxOffset, err = c.MaxOffset(ctx, q.Addr, topic, q.QueueID); err != nil {
			return nil, err
		}
		if st.MaxOffset > st.MinOffset {
			if st.FirstStoreTime, err = c.EarliestStoreTime(ctx, q.Addr, topic, q.QueueID); err != nil {
				return nil, err
			}
		}
		out = append(out, st)
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
	// ConsumerOffset is -1 when the group has none for the queue.
	ConsumerOffset int64 `json:"consumerOffset"`
	// Lag is BrokerOffset-ConsumerOffset, or the messages the queue holds
	// when the group has no offset.
	Lag int64 `json:"lag"`
}

// systemTopic reports topics no consumer group subscribes to by itself.
func systemTopic(t string) bool {
	switch t {
	case "TBW102", "SELF_TEST_TOPIC", "OFFSET_MOVED_EVENT", "SCHEDULE_TOPIC_XXXX", "TRANS_CHECK_MAX_TIME_TOPIC", "BenchmarkTest":
		return true
	}
	return strings.HasPrefix(t, "RMQ_SYS_") || strings.HasPrefix(t, "rmq_sys_") ||
		strings.HasPrefix(t, "%RETRY%") || strings.HasPrefix(t, "%DLQ%")
}

// GroupProgress returns the group's offsets against the brokers' max
// offsets (QUERY_CONSUMER_OFFSET and GET_MAX_OFFSET), by topic and queue.
//
// With a topic, every queue of it is listed. Without one, the broker does
// not say which topics the group subscribes to (GET_CONSUME_STATS is not
// served), so every topic of every master broker (or of broker) is probed
// and those where the group has an offset above 0 are listed, together
// with the group's retry topic: a topic the group has not consumed from
// yet cannot be told from one it does not subscribe to. Nothing found
// wraps ErrNotFound.
func (c *Client) GroupProgress(ctx context.Context, group, topic, broker string) ([]QueueProgress, error) {
	var refs map[string][]QueueRef // by topic
	if topic != "" {
		qs, err := c.TopicQueues(ctx, topic, broker)
		if err != nil {
			return nil, err
		}
		refs = map[string][]QueueRef{topic: qs}
	} else {
		var err error
		if refs, err = c.allQueues(ctx, broker); err != nil {
			return nil, err
		}
	}
	retry := "%RETRY%" + group
	var out []QueueProgress
	for _, t := range sortedKeys(refs) {
		if topic == "" && t != retry && systemTopic(t) {
			continue
		}
		rows := make([]QueueProgress, 0, len(refs[t]))
		consumed := false
		for _, q := range refs[t] {
			p := QueueProgress{Topic: t, QueueRef: q, ConsumerOffset: -1}
			off, ok, err := c.ConsumerOffset(ctx, q.Addr, group, t, q.QueueID)
			if err != nil {
				return nil, err
			}
			if ok {
				p.ConsumerOffset = off
				consumed = consumed || off > 0
			}
			if p.BrokerOffset, err = c.MaxOffset(ctx, q.Addr, t, q.QueueID); err != nil {
				return nil, err
			}
			p.Lag = p.BrokerOffset - max(p.ConsumerOffset, 0)
			if p.ConsumerOffset < 0 {
				// No offset: the backlog is what the queue still holds.
				minOff, err := c.MinOffset(ctx, q.Addr, t, q.QueueID)
				if err != nil {
					return nil, err
				}
				p.Lag = p.BrokerOffset - minOff
			}
			p.Lag = max(p.Lag, 0)
			rows = append(rows, p)
		}
		if topic != "" || consumed || t == retry {
			out = append(out, rows...)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("group %q has consumed from no topic (give --topic to see one): %w", group, ErrNotFound)
	}
	return out, nil
}

// allQueues returns every queue of every topic of broker, or of every
// master broker, by topic.
func (c *Client) allQueues(ctx context.Context, broker string) (map[string][]QueueRef, error) {
	var bs []Broker
	if broker != "" {
		bs = []Broker{{Addr: broker}}
	} else {
		var err error
		if bs, err = c.Masters(ctx, ""); err != nil {
			return nil, err
		}
	}
	out := map[string][]QueueRef{}
	for _, b := range bs {
		tcs, err := c.TopicConfigs(ctx, b.Addr)
		if err != nil {
			return nil, err
		}
		for name, tc := range tcs {
			for q := range tc.Queues() {
				out[name] = append(out[name], QueueRef{BrokerName: b.Name, Addr: b.Addr, QueueID: q})
			}
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
