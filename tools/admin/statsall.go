package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/wharfmq/wharf/systopic"
)

// TopicGroupStats is one consumer group's progress on a topic, summed
// over the masters asked.
type TopicGroupStats struct {
	Group string `json:"group"`
	// Consumed is the sum of the group's committed offsets: messages
	// consumed since the queues began.
	Consumed int64 `json:"consumed"`
	// Lag is the messages written and not yet consumed (accumulation).
	Lag int64 `json:"lag"`
}

// TopicTotals is a topic's message counts over the masters asked
// (StatsAll): the counters RocketMQ's statsAll shows as 24-hour windows
// are, on Wharf, totals since the queues began.
type TopicTotals struct {
	Topic string `json:"topic"`
	// Written is the sum of the queues' max offsets: messages ever
	// written.
	Written int64 `json:"written"`
	// Stored is the messages still stored (max minus min offset).
	Stored int64             `json:"stored"`
	Groups []TopicGroupStats `json:"groups"`
}

// StatsAll returns every topic's totals, with the progress of each group
// with offsets on it, on broker when set, else on every master of cluster
// (every master when cluster is empty). System topics are left out unless
// withSystem.
func (c *Client) StatsAll(ctx context.Context, broker, cluster string, withSystem bool) ([]TopicTotals, error) {
	addrs, err := c.targets(ctx, broker, cluster)
	if err != nil {
		return nil, err
	}
	var names systopic.Names
	if !withSystem {
		names = c.systemNames(ctx)
	}
	topics := map[string]*TopicTotals{}
	groups := map[[2]string]*TopicGroupStats{} // topic, group
	for _, a := range addrs {
		tcs, err := c.TopicConfigs(ctx, a)
		if err != nil {
			return nil, err
		}
		for name := range tcs {
			if !withSystem && hiddenTopic(name, names) {
				continue
			}
			qs, err := c.TopicStats(ctx, a, name)
			if errors.Is(err, ErrTopicNotExist) {
				continue // deleted in between
			}
			if err != nil {
				return nil, err
			}
			t := topics[name]
			if t == nil {
				t = &TopicTotals{Topic: name}
				topics[name] = t
			}
			for _, q := range qs {
				t.Written += q.MaxOffset
				t.Stored += q.MaxOffset - q.MinOffset
			}
		}
		gcs, err := c.GroupConfigs(ctx, a)
		if err != nil {
			return nil, err
		}
		for g := range gcs {
			cs, err := c.ConsumeStats(ctx, a, g, "")
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("group %s: %w", g, err)
			}
			for _, q := range cs.Queues {
				if topics[q.Topic] == nil {
					continue // a system or retry topic left out
				}
				k := [2]string{q.Topic, g}
				gs := groups[k]
				if gs == nil {
					gs = &TopicGroupStats{Group: g}
					groups[k] = gs
				}
				gs.Consumed += q.ConsumerOffset
				gs.Lag += max(q.BrokerOffset-q.ConsumerOffset, 0)
			}
		}
	}
	for k, gs := range groups {
		topics[k[0]].Groups = append(topics[k[0]].Groups, *gs)
	}
	out := make([]TopicTotals, 0, len(topics))
	for _, t := range topics {
		slices.SortFunc(t.Groups, func(a, b TopicGroupStats) int { return cmp.Compare(a.Group, b.Group) })
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b TopicTotals) int { return cmp.Compare(a.Topic, b.Topic) })
	return out, nil
}

// clusterNames is systopic.Names over a name server's cluster table.
type clusterNames struct{ clusters, brokers map[string]bool }

func (n clusterNames) IsCluster(name string) bool { return n.clusters[name] }
func (n clusterNames) IsBroker(name string) bool  { return n.brokers[name] }

// systemNames returns the deployment's cluster and broker names, or nil
// when no name server answers (then only the fixed names count).
func (c *Client) systemNames(ctx context.Context) systopic.Names {
	ci, err := c.ClusterInfo(ctx)
	if err != nil {
		return nil
	}
	n := clusterNames{clusters: map[string]bool{}, brokers: map[string]bool{}}
	for cl := range ci.ClusterAddrTable {
		n.clusters[cl] = true
	}
	for b := range ci.BrokerAddrTable {
		n.brokers[b] = true
	}
	return n
}

// hiddenTopic reports whether StatsAll leaves topic out by default: system
// topics, and the retry and dead-letter topics of groups.
func hiddenTopic(topic string, names systopic.Names) bool {
	return systopic.Is(topic, names) || strings.HasPrefix(topic, "%RETRY%") || strings.HasPrefix(topic, "%DLQ%")
}
