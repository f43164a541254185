package admin

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// TopicOffset is one queue of Java's TopicStatsTable, OffsetWrapper one
// queue of its ConsumeStats (remoting/body).
type (
	TopicOffset   = body.TopicOffset
	OffsetWrapper = body.OffsetWrapper
)

// QueueTopicOffset is a queue with its TopicOffset.
type QueueTopicOffset struct {
	MessageQueue
	TopicOffset
}

func sortMQ(a, b MessageQueue) int {
	return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.BrokerName, b.BrokerName), cmp.Compare(a.QueueID, b.QueueID))
}

// DecodeTopicStats reads a TopicStatsTable body as a Java broker writes it
// (fastjson, queues as keys), sorted by queue.
func DecodeTopicStats(b []byte) ([]QueueTopicOffset, error) {
	var out []QueueTopicOffset
	_, err := body.DecodeMQTable(b, "offsetTable", func(mq MessageQueue, v []byte) error {
		q := QueueTopicOffset{MessageQueue: mq}
		if err := json.Unmarshal(v, &q.TopicOffset); err != nil {
			return fmt.Errorf("topic offset of %+v: %w", mq, err)
		}
		out = append(out, q)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b QueueTopicOffset) int { return sortMQ(a.MessageQueue, b.MessageQueue) })
	return out, nil
}

// TopicStats returns every queue of the topic on one broker
// (GET_TOPIC_STATS_INFO); a topic the broker lacks wraps ErrTopicNotExist.
func (c *Client) TopicStats(ctx context.Context, broker, topic string) ([]QueueTopicOffset, error) {
	const op = "GET_TOPIC_STATS_INFO"
	resp, err := c.call(ctx, broker, op, remoting.CodeGetTopicStatsInfo, map[string]string{"topic": topic}, nil)
	var se *ServerError
	if errors.As(err, &se) && se.Code == remoting.RespTopicNotExist {
		return nil, fmt.Errorf("topic %q: %w on broker %s", topic, ErrTopicNotExist, broker)
	}
	if err != nil {
		return nil, err
	}
	qs, err := DecodeTopicStats(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: reply body: %w", op, err)
	}
	return qs, nil
}

// QueueOffsetWrapper is a queue with its OffsetWrapper.
type QueueOffsetWrapper struct {
	MessageQueue
	OffsetWrapper
}

// ConsumeStats is Java's ConsumeStats, queues sorted.
type ConsumeStats struct {
	ConsumeTps float64              `json:"consumeTps"`
	Queues     []QueueOffsetWrapper `json:"queues"`
}

// DecodeConsumeStats reads a ConsumeStats body as a Java broker writes it.
func DecodeConsumeStats(b []byte) (ConsumeStats, error) {
	var cs ConsumeStats
	other, err := body.DecodeMQTable(b, "offsetTable", func(mq MessageQueue, v []byte) error {
		q := QueueOffsetWrapper{MessageQueue: mq}
		if err := json.Unmarshal(v, &q.OffsetWrapper); err != nil {
			return fmt.Errorf("offset of %+v: %w", mq, err)
		}
		cs.Queues = append(cs.Queues, q)
		return nil
	})
	if err != nil {
		return cs, err
	}
	if v, ok := other["consumeTps"]; ok {
		if err := json.Unmarshal(v, &cs.ConsumeTps); err != nil {
			return cs, fmt.Errorf("consumeTps: %w", err)
		}
	}
	slices.SortFunc(cs.Queues, func(a, b QueueOffsetWrapper) int { return sortMQ(a.MessageQueue, b.MessageQueue) })
	return cs, nil
}

// ConsumeStats returns a group's offsets on one broker (GET_CONSUME_STATS),
// for one topic or, when topic is empty, every topic the broker knows the
// group consumes. A group the broker does not know wraps ErrNotFound.
func (c *Client) ConsumeStats(ctx context.Context, broker, group, topic string) (ConsumeStats, error) {
	const op = "GET_CONSUME_STATS"
	ext := map[string]string{"consumerGroup": group}
	if topic != "" {
		ext["topic"] = topic
	}
	resp, err := c.call(ctx, broker, op, remoting.CodeGetConsumeStats, ext, nil)
	var se *ServerError
	if errors.As(err, &se) && se.Code == remoting.RespSubscriptionGroupNotExist {
		return ConsumeStats{}, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if err != nil {
		return ConsumeStats{}, err
	}
	cs, err := DecodeConsumeStats(resp.Body)
	if err != nil {
		return cs, fmt.Errorf("%s: reply body: %w", op, err)
	}
	return cs, nil
}

// BrokerRuntimeInfo returns the broker's runtime table
// (GET_BROKER_RUNTIME_INFO), every value a string as Java sends it.
func (c *Client) BrokerRuntimeInfo(ctx context.Context, broker string) (map[string]string, error) {
	const op = "GET_BROKER_RUNTIME_INFO"
	resp, err := c.call(ctx, broker, op, remoting.CodeGetBrokerRuntimeInfo, nil, nil)
	if err != nil {
		return nil, err
	}
	var kv body.KVTable
	if err := decodeBody(op, resp, &kv); err != nil {
		return nil, err
	}
	return kv.Table, nil
}
