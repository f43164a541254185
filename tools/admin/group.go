package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// Connection, ConsumerConnection and ProducerConnection are the broker's
// connection lists (remoting/body).
type (
	Connection         = body.Connection
	ConsumerConnection = body.ConsumerConnection
	ProducerConnection = body.ProducerConnection
)

// NewGroupConfig is a group config with RocketMQ's defaults, what a broker
// gives a group created on use.
func NewGroupConfig(name string) GroupConfig {
	return GroupConfig{GroupName: name, ConsumeEnable: true, ConsumeFromMinEnable: true, ConsumeBroadcastEnable: true,
		RetryQueueNums: 1, RetryMaxTimes: 16, WhichBrokerWhenConsumeSlowly: 1, NotifyConsumerIDsChangedEnable: true}
}

// UpdateGroup creates or replaces a subscription group on one broker
// (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP).
func (c *Client) UpdateGroup(ctx context.Context, broker string, gc GroupConfig) error {
	data, err := json.Marshal(gc)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, broker, "UPDATE_AND_CREATE_SUBSCRIPTIONGROUP", remoting.CodeUpdateAndCreateSubscriptionGroup, nil, data)
	return err
}

// UpdateGroupOn creates or replaces gc on broker when set, else on every
// master of cluster (every master when cluster is empty). It returns the
// addresses it updated.
func (c *Client) UpdateGroupOn(ctx context.Context, gc GroupConfig, broker, cluster string) ([]string, error) {
	addrs, err := c.targets(ctx, broker, cluster)
	if err != nil {
		return nil, err
	}
	for i, a := range addrs {
		if err := c.UpdateGroup(ctx, a, gc); err != nil {
			return addrs[:i], err
		}
	}
	return addrs, nil
}

// DeleteGroup deletes a subscription group on one broker
// (DELETE_SUBSCRIPTIONGROUP), with its committed offsets when cleanOffset
// is set. A broker answers success for a group it does not have.
func (c *Client) DeleteGroup(ctx context.Context, broker, group string, cleanOffset bool) error {
	ext := map[string]string{"groupName": group, "cleanOffset": strconv.FormatBool(cleanOffset)}
	_, err := c.call(ctx, broker, "DELETE_SUBSCRIPTIONGROUP", remoting.CodeDeleteSubscriptionGroup, ext, nil)
	return err
}

// DeleteGroupOn deletes group on broker when set, else on every master of
// cluster (every master when cluster is empty) that has it. It returns the
// addresses it deleted from; a group none of them has wraps ErrNotFound.
func (c *Client) DeleteGroupOn(ctx context.Context, group, broker, cluster string, cleanOffset bool) ([]string, error) {
	addrs, err := c.targets(ctx, broker, cluster)
	if err != nil {
		return nil, err
	}
	var deleted []string
	for _, a := range addrs {
		gcs, err := c.GroupConfigs(ctx, a)
		if err != nil {
			return deleted, err
		}
		if _, ok := gcs[group]; !ok {
			continue
		}
		if err := c.DeleteGroup(ctx, a, group, cleanOffset); err != nil {
			return deleted, err
		}
		deleted = append(deleted, a)
	}
	if len(deleted) == 0 {
		return nil, &groupNotFound{group}
	}
	return deleted, nil
}

type groupNotFound struct{ group string }

func (e *groupNotFound) Error() string {
	return "group " + strconv.Quote(e.group) + ": " + ErrNotFound.Error()
}
func (e *groupNotFound) Unwrap() error { return ErrNotFound }

// ConsumerConnections returns a consumer group's live connections and
// subscriptions on one broker (GET_CONSUMER_CONNECTION_LIST); a group with
// no consumer online there wraps ErrNotFound.
func (c *Client) ConsumerConnections(ctx context.Context, broker, group string) (ConsumerConnection, error) {
	const op = "GET_CONSUMER_CONNECTION_LIST"
	var cc ConsumerConnection
	resp, err := c.call(ctx, broker, op, remoting.CodeGetConsumerConnectionList, map[string]string{"consumerGroup": group}, nil)
	var se *ServerError
	if errors.As(err, &se) && se.Code == remoting.RespConsumerNotOnline {
		return cc, errors.Join(ErrNotFound, err)
	}
	if err != nil {
		return cc, err
	}
	return cc, decodeBody(op, resp, &cc)
}

// ProducerConnections returns a producer group's live connections on one
// broker (GET_PRODUCER_CONNECTION_LIST). A broker answers a group with no
// producer online with SYSTEM_ERROR, reported as a *ServerError.
func (c *Client) ProducerConnections(ctx context.Context, broker, group string) (ProducerConnection, error) {
	const op = "GET_PRODUCER_CONNECTION_LIST"
	var pc ProducerConnection
	resp, err := c.call(ctx, broker, op, remoting.CodeGetProducerConnectionList, map[string]string{"producerGroup": group}, nil)
	if err != nil {
		return pc, err
	}
	return pc, decodeBody(op, resp, &pc)
}

// BrokerConfig returns the broker's running config as broker.conf keys and
// values (GET_BROKER_CONFIG).
func (c *Client) BrokerConfig(ctx context.Context, broker string) (map[string]string, error) {
	const op = "GET_BROKER_CONFIG"
	resp, err := c.call(ctx, broker, op, remoting.CodeGetBrokerConfig, nil, nil)
	if err != nil {
		return nil, err
	}
	props, err := config.ReadProperties(bytes.NewReader(resp.Body))
	if err != nil {
		return nil, fmt.Errorf("%s: reply body is not properties text: %w", op, err)
	}
	return props, nil
}

// RunningInfo is the part of a consumer's ConsumerRunningInfo the tools
// show: its properties (consume type, thread counts, start time...) and
// the queues it holds.
type RunningInfo struct {
	ClientID   string            `json:"clientId"`
	Properties map[string]string `json:"properties"`
	Queues     []MessageQueue    `json:"queues"`
}

// ConsumerRunningInfo asks a consumer, through the broker it is connected
// to, for its running state (GET_CONSUMER_RUNNING_INFO, forwarded by the
// broker to the client).
func (c *Client) ConsumerRunningInfo(ctx context.Context, broker, group, clientID string) (RunningInfo, error) {
	const op = "GET_CONSUMER_RUNNING_INFO"
	ri := RunningInfo{ClientID: clientID}
	ext := map[string]string{"consumerGroup": group, "clientId": clientID, "jstackEnable": "false"}
	resp, err := c.call(ctx, broker, op, remoting.CodeGetConsumerRunningInfo, ext, nil)
	if err != nil {
		return ri, err
	}
	other, err := body.DecodeMQTable(resp.Body, "mqTable", func(mq MessageQueue, _ []byte) error {
		ri.Queues = append(ri.Queues, mq)
		return nil
	})
	if err != nil {
		return ri, fmt.Errorf("%s: reply body: %w", op, err)
	}
	if p, ok := other["properties"]; ok {
		if err := json.Unmarshal(p, &ri.Properties); err != nil {
			return ri, fmt.Errorf("%s: reply properties: %w", op, err)
		}
	}
	slices.SortFunc(ri.Queues, sortMQ)
	return ri, nil
}
