package admin

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
)

// SearchOffset returns the offset of the queue's first message stored at
// or after ts (ms), the queue's max offset when none is
// (SEARCH_OFFSET_BY_TIMESTAMP).
func (c *Client) SearchOffset(ctx context.Context, broker, topic string, queueID int32, ts int64) (int64, error) {
	const op = "SEARCH_OFFSET_BY_TIMESTAMP"
	ext := queueExt(topic, queueID)
	ext["timestamp"] = strconv.FormatInt(ts, 10)
	resp, err := c.call(ctx, broker, op, remoting.CodeSearchOffsetByTimestamp, ext, nil)
	if err != nil {
		return 0, err
	}
	return extInt(op, resp, "offset")
}

// ConsumerOffsets returns every committed offset the broker holds, by
// topic and group (GET_ALL_CONSUMER_OFFSET).
func (c *Client) ConsumerOffsets(ctx context.Context, broker string) (body.ConsumerOffsetTable, error) {
	const op = "GET_ALL_CONSUMER_OFFSET"
	resp, err := c.call(ctx, broker, op, remoting.CodeGetAllConsumerOffset, nil, nil)
	if err != nil {
		return nil, err
	}
	t, err := body.DecodeConsumerOffsets(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: reply body: %w", op, err)
	}
	return t, nil
}

// Resend sends a copy of a stored message to topic on broker
// (SEND_MESSAGE, any queue the broker picks), with the message's flag,
// properties and body as stored, and returns the new offset message id.
func (c *Client) Resend(ctx context.Context, broker, topic string, m Message) (string, error) {
	const op = "SEND_MESSAGE"
	sysFlag := int32(0)
	if m.Compressed {
		sysFlag = msg.FlagCompressed
	}
	props := ""
	for k, v := range m.Properties {
		props = msg.AppendProperty(props, k, v)
	}
	ext := map[string]string{
		"producerGroup": ToolsProducerGroup, "topic": topic, "defaultTopic": systopic.AutoCreate, "defaultTopicQueueNums": "4",
		"queueId": "-1", "sysFlag": strconv.Itoa(int(sysFlag)), "bornTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10),
		"flag": strconv.Itoa(int(m.Flag)), "properties": props, "reconsumeTimes": "0", "unitMode": "false", "batch": "false",
	}
	resp, err := c.call(ctx, broker, op, remoting.CodeSendMessage, ext, m.Body)
	if err != nil {
		return "", err
	}
	id, err := resp.ExtString("msgId")
	if err != nil {
		return "", fmt.Errorf("%s: reply: %w", op, err)
	}
	return id, nil
}
