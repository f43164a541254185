package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
)

// ToolsProducerGroup is the producer group the tools send as.
const ToolsProducerGroup = "TOOLS_PRODUCER"

// OutMessage is a message to send.
type OutMessage struct {
	Topic string
	Body  []byte
	Tag   string
	Keys  []string
	// Properties are user properties added to the message.
	Properties map[string]string
}

// SendResult is a stored message's place.
type SendResult struct {
	MsgID       string `json:"msgId"`       // client message id (UNIQ_KEY)
	OffsetMsgID string `json:"offsetMsgId"` // broker offset message id
	Broker      string `json:"broker"`
	QueueID     int32  `json:"queueId"`
	QueueOffset int64  `json:"queueOffset"`
}

// Send stores one message in queue queueID of its topic on one broker
// (SEND_MESSAGE), waiting for the broker's answer (a sync send).
func (c *Client) Send(ctx context.Context, broker string, queueID int32, m OutMessage) (SendResult, error) {
	const op = "SEND_MESSAGE"
	uniq := newUniqID()
	props := ""
	for k, v := range m.Properties {
		props = msg.AppendProperty(props, k, v)
	}
	if len(m.Keys) > 0 {
		props = msg.AppendProperty(props, "KEYS", strings.Join(m.Keys, " "))
	}
	if m.Tag != "" {
		props = msg.AppendProperty(props, "TAGS", m.Tag)
	}
	props = msg.AppendProperty(props, "UNIQ_KEY", uniq)
	props = msg.AppendProperty(props, "WAIT", "true")
	ext := map[string]string{
		"producerGroup": ToolsProducerGroup, "topic": m.Topic, "defaultTopic": systopic.AutoCreate, "defaultTopicQueueNums": "4",
		"queueId": strconv.Itoa(int(queueID)), "sysFlag": "0", "bornTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10),
		"flag": "0", "properties": props, "reconsumeTimes": "0", "unitMode": "false", "batch": "false",
	}
	resp, err := c.call(ctx, broker, op, remoting.CodeSendMessage, ext, m.Body)
	if err != nil {
		return SendResult{}, err
	}
	r := SendResult{MsgID: uniq, OffsetMsgID: resp.ExtFields["msgId"], Broker: broker, QueueID: queueID}
	if q, err := resp.ExtInt64("queueId"); err == nil {
		r.QueueID = int32(q)
	}
	if r.QueueOffset, err = extInt(op, resp, "queueOffset"); err != nil {
		return r, err
	}
	return r, nil
}

// Sender sends a topic's messages round-robin over its writable queues on
// master brokers, as a producer does, or to one broker's queues.
type Sender struct {
	c      *Client
	topic  string
	queues []QueueRef
	next   int
}

// NewSender looks up where topic can be written: broker's write queues
// when broker is set, else the route's writable queues on masters.
func (c *Client) NewSender(ctx context.Context, topic, broker string) (*Sender, error) {
	var queues []QueueRef
	if broker != "" {
		tc, err := c.brokerTopic(ctx, topic, broker)
		if err != nil {
			return nil, err
		}
		for q := range tc.WriteQueueNums {
			queues = append(queues, QueueRef{Addr: broker, QueueID: q})
		}
	} else {
		rd, err := c.Route(ctx, topic)
		if err != nil {
			return nil, err
		}
		addrs := masterAddrs(&rd)
		for _, qd := range rd.QueueDatas {
			if a := addrs[qd.BrokerName]; a != "" && qd.Perm&body.PermWrite != 0 {
				for q := range qd.WriteQueueNums {
					queues = append(queues, QueueRef{BrokerName: qd.BrokerName, Addr: a, QueueID: q})
				}
			}
		}
	}
	if len(queues) == 0 {
		return nil, fmt.Errorf("topic %q has no writable queue on a master broker", topic)
	}
	return &Sender{c: c, topic: topic, queues: queues}, nil
}

// Send sends m (its Topic is the sender's) to the next queue.
func (s *Sender) Send(ctx context.Context, m OutMessage) (SendResult, error) {
	q := s.queues[s.next%len(s.queues)]
	s.next++
	m.Topic = s.topic
	return s.c.Send(ctx, q.Addr, q.QueueID, m)
}

// uniqPrefix is the host and process part of the client message ids this
// process makes; uniqCounter the rest.
var (
	uniqPrefix  = makeUniqPrefix()
	uniqCounter atomic.Uint32
)

func makeUniqPrefix() string {
	var b [8]byte
	_, _ = rand.Read(b[:6])
	pid := os.Getpid()
	b[6], b[7] = byte(pid>>8), byte(pid)
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// newUniqID makes a 32-hex-digit client message id (the length RocketMQ's
// clients use): 8 bytes of host and process, 4 of time, 4 of counter.
func newUniqID() string {
	n := uniqCounter.Add(1)
	return fmt.Sprintf("%s%08X%08X", uniqPrefix, uint32(time.Now().Unix()), n)
}

// RoundTrip is one master's send latencies (ClusterRT).
type RoundTrip struct {
	Cluster string        `json:"cluster"`
	Broker  string        `json:"brokerName"`
	Addr    string        `json:"addr"`
	Sent    int           `json:"sent"`
	Failed  int           `json:"failed"`
	Min     time.Duration `json:"minNanos"`
	Avg     time.Duration `json:"avgNanos"`
	Max     time.Duration `json:"maxNanos"`
	// Err is the last failure, "" when none.
	Err string `json:"error,omitempty"`
}

// ClusterRT sends count messages of size bytes to every master of cluster
// (every master when cluster is empty), one at a time, each to queue 0 of
// the topic named after the broker's cluster, which every broker has (as
// mqadmin clusterRT does), and reports each master's latencies.
func (c *Client) ClusterRT(ctx context.Context, cluster string, count, size int) ([]RoundTrip, error) {
	ms, err := c.Masters(ctx, cluster)
	if err != nil {
		return nil, err
	}
	count = max(count, 1)
	payload := make([]byte, max(size, 0))
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	out := make([]RoundTrip, 0, len(ms))
	for _, m := range ms {
		rt := RoundTrip{Cluster: m.Cluster, Broker: m.Name, Addr: m.Addr}
		var total time.Duration
		for range count {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			start := time.Now()
			_, err := c.Send(ctx, m.Addr, 0, OutMessage{Topic: m.Cluster, Body: payload, Tag: "clusterRT"})
			d := time.Since(start)
			rt.Sent++
			if err != nil {
				rt.Failed++
				rt.Err = err.Error()
				continue
			}
			total += d
			if rt.Min == 0 || d < rt.Min {
				rt.Min = d
			}
			rt.Max = max(rt.Max, d)
		}
		if ok := rt.Sent - rt.Failed; ok > 0 {
			rt.Avg = total / time.Duration(ok)
		}
		out = append(out, rt)
	}
	return out, nil
}
