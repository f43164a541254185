package admin

import (
	"bytes"
	"cmp"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
)

// DefaultMaxMessages is how many messages a key query asks each broker for
// (Java's defaultQueryMaxNum).
const DefaultMaxMessages = 32

// Message is one stored message as QUERY_MESSAGE and VIEW_MESSAGE_BY_ID
// return it.
type Message struct {
	MsgID                     string            `json:"msgId"` // offset message id
	Topic                     string            `json:"topic"`
	Broker                    string            `json:"broker"` // address asked
	QueueID                   int32             `json:"queueId"`
	QueueOffset               int64             `json:"queueOffset"`
	CommitLogOffset           int64             `json:"commitLogOffset"`
	SysFlag                   int32             `json:"sysFlag"`
	Flag                      int32             `json:"flag"`
	BornTimestamp             int64             `json:"bornTimestamp"`
	BornHost                  string            `json:"bornHost"`
	StoreTimestamp            int64             `json:"storeTimestamp"`
	StoreHost                 string            `json:"storeHost"`
	ReconsumeTimes            int32             `json:"reconsumeTimes"`
	PreparedTransactionOffset int64             `json:"preparedTransactionOffset"`
	BodyCRC                   uint32            `json:"bodyCRC"`
	Properties                map[string]string `json:"properties"`
	// Body is the stored body: compressed when Compressed.
	Body       []byte `json:"-"`
	Compressed bool   `json:"compressed"`
}

// Keys returns the message's KEYS property split on spaces.
func (m *Message) Keys() []string { return strings.Fields(m.Properties["KEYS"]) }

// ClientID is the client-made message id (UNIQ_KEY), "" when absent.
func (m *Message) ClientID() string { return m.Properties["UNIQ_KEY"] }

// BodyPrefix returns up to n bytes of the body, inflated first when the
// producer compressed it. It never inflates more than n bytes.
func (m *Message) BodyPrefix(n int) ([]byte, error) {
	if !m.Compressed {
		return m.Body[:min(n, len(m.Body))], nil
	}
	zr, err := zlib.NewReader(bytes.NewReader(m.Body))
	if err != nil {
		return nil, fmt.Errorf("compressed body: %w", err)
	}
	defer zr.Close()
	b, err := io.ReadAll(io.LimitReader(zr, int64(n)))
	if err != nil {
		return b, fmt.Errorf("compressed body: %w", err)
	}
	return b, nil
}

// decodeMessages decodes concatenated stored records.
func decodeMessages(broker string, body []byte) ([]Message, error) {
	var out []Message
	for len(body) > 0 {
		r, err := msg.Decode(body)
		if err != nil {
			return out, fmt.Errorf("message %d from %s: %w", len(out), broker, err)
		}
		body = body[len(r.Raw):]
		out = append(out, Message{
			MsgID: msg.OffsetMsgID(r.StoreHost, r.PhysOffset), Topic: string(r.Topic), Broker: broker,
			QueueID: r.QueueID, QueueOffset: r.QueueOffset, CommitLogOffset: r.PhysOffset,
			SysFlag: r.SysFlag, Flag: r.Flag, BornTimestamp: r.BornTimestamp, BornHost: r.BornHost.String(),
			StoreTimestamp: r.StoreTimestamp, StoreHost: r.StoreHost.String(), ReconsumeTimes: r.ReconsumeTimes,
			PreparedTransactionOffset: r.PreparedTransactionOffset, BodyCRC: r.BodyCRC,
			Properties: msg.ParseProperties(r.Properties), Body: bytes.Clone(r.Body),
			Compressed: r.SysFlag&msg.FlagCompressed != 0,
		})
	}
	return out, nil
}

// QueryMessage asks one broker for the topic's messages indexed under key,
// a KEYS entry or a client message id (QUERY_MESSAGE). unique asks for a
// client message id, as Java's queryMsgById fallback does. No match is an
// empty result, not an error.
func (c *Client) QueryMessage(ctx context.Context, broker, topic, key string, maxNum int, unique bool) ([]Message, error) {
	const op = "QUERY_MESSAGE"
	if maxNum <= 0 {
		maxNum = DefaultMaxMessages
	}
	ext := map[string]string{"topic": topic, "key": key, "maxNum": strconv.Itoa(maxNum),
		"beginTimestamp": "0", "endTimestamp": strconv.FormatInt(math.MaxInt64, 10)}
	if unique {
		ext["_UNIQUE_KEY_QUERY"] = "true"
	}
	resp, err := c.call(ctx, broker, op, remoting.CodeQueryMessage, ext, nil, remoting.RespQueryNotFound)
	if err != nil {
		return nil, err
	}
	if resp.Code == remoting.RespQueryNotFound {
		return nil, nil
	}
	ms, err := decodeMessages(broker, resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	// The index is a hash: keep only true matches, as Java's client does.
	return slices.DeleteFunc(ms, func(m Message) bool {
		if m.Topic != topic {
			return true
		}
		if unique {
			return m.ClientID() != key
		}
		return m.ClientID() != key && !slices.Contains(m.Keys(), key)
	}), nil
}

// ViewMessage reads the message at a CommitLog offset of one broker
// (VIEW_MESSAGE_BY_ID).
func (c *Client) ViewMessage(ctx context.Context, broker string, commitLogOffset int64) (Message, error) {
	const op = "VIEW_MESSAGE_BY_ID"
	resp, err := c.call(ctx, broker, op, remoting.CodeViewMessageByID,
		map[string]string{"offset": strconv.FormatInt(commitLogOffset, 10)}, nil)
	if err != nil {
		return Message{}, err
	}
	ms, err := decodeMessages(broker, resp.Body)
	if err != nil {
		return Message{}, fmt.Errorf("%s: %w", op, err)
	}
	if len(ms) != 1 {
		return Message{}, fmt.Errorf("%s to %s: reply holds %d messages, want 1", op, broker, len(ms))
	}
	return ms[0], nil
}

// MessagesByKey finds the topic's messages with the key on every broker
// that has the topic (or only on broker when it is set), newest first. None
// found wraps ErrNotFound.
func (c *Client) MessagesByKey(ctx context.Context, topic, key, broker string, maxNum int) ([]Message, error) {
	return c.queryAll(ctx, topic, key, broker, maxNum, false)
}

func (c *Client) queryAll(ctx context.Context, topic, key, broker string, maxNum int, unique bool) ([]Message, error) {
	addrs, err := c.topicBrokers(ctx, topic, broker)
	if err != nil {
		return nil, err
	}
	var all []Message
	for _, a := range addrs {
		ms, err := c.QueryMessage(ctx, a, topic, key, maxNum, unique)
		if err != nil {
			return nil, err
		}
		all = append(all, ms...)
	}
	if len(all) == 0 {
		what := "key"
		if unique {
			what = "client message id"
		}
		return nil, fmt.Errorf("no message with %s %q in topic %q: %w", what, key, topic, ErrNotFound)
	}
	slices.SortStableFunc(all, func(a, b Message) int { return cmp.Compare(b.StoreTimestamp, a.StoreTimestamp) })
	return all, nil
}

// MessageByID finds a message by id. An offset message id (what the broker
// returns on send) names its broker and CommitLog offset; broker, when set,
// is asked instead of the address in the id. With a topic, the id is first
// looked up as a client message id (UNIQ_KEY, the Go client's MsgId), as
// Java's queryMsgById falls back to.
func (c *Client) MessageByID(ctx context.Context, id, topic, broker string) ([]Message, error) {
	var uniqErr error
	if topic != "" {
		ms, err := c.queryAll(ctx, topic, id, broker, 0, true)
		if err == nil {
			return ms, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		uniqErr = err
	}
	host, off, err := msg.ParseOffsetMsgID(id)
	if err != nil {
		if uniqErr != nil {
			return nil, uniqErr
		}
		return nil, fmt.Errorf("%q is not an offset message id (give --topic to look it up as a client message id): %w", id, err)
	}
	addr := broker
	if addr == "" {
		addr = host.String()
	}
	m, err := c.ViewMessage(ctx, addr, off)
	if err != nil {
		var se *ServerError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("message %s: %w: %w", id, ErrNotFound, err)
		}
		return nil, err
	}
	return []Message{m}, nil
}
