package admin

import (
	"context"
	"fmt"
)

// UpdateTopicPerm sets the topic's permission bits (body.PermRead 4,
// PermWrite 2, PermInherit 1) on broker when set, else on every master of
// cluster (every master when cluster is empty) that has the topic, keeping
// its other settings (UPDATE_AND_CREATE_TOPIC, as mqadmin updateTopicPerm
// does). It returns the addresses it changed; a topic none of them has
// wraps ErrTopicNotExist.
func (c *Client) UpdateTopicPerm(ctx context.Context, topic string, perm int, broker, cluster string) ([]string, error) {
	addrs, err := c.targets(ctx, broker, cluster)
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, a := range addrs {
		tcs, err := c.TopicConfigs(ctx, a)
		if err != nil {
			return changed, err
		}
		tc, ok := tcs[topic]
		if !ok {
			continue
		}
		tc.Perm = perm
		if err := c.CreateTopic(ctx, a, tc); err != nil {
			return changed, err
		}
		changed = append(changed, a)
	}
	if len(changed) == 0 {
		return nil, fmt.Errorf("topic %q: %w on %v", topic, ErrTopicNotExist, addrs)
	}
	return changed, nil
}
