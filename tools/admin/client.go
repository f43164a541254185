// Package admin is a small client for the admin requests of Wharf's (and
// RocketMQ 4.x's) name server and broker over the remoting protocol: topic
// and group configs, routes, cluster membership, queue offsets, consumer
// progress and message lookup by key or id. `wharf admin` is built on it.
//
// Every request is bounded by Options.Timeout and by the caller's context.
// A server that cannot be reached is reported as such (ErrUnreachable); a
// server that answers with an error code as a *ServerError.
package admin

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/wharfmq/wharf/acl"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
)

// DefaultNamesrv is the name server asked when Options.Namesrv is empty.
const DefaultNamesrv = "127.0.0.1:9876"

// DefaultTimeout bounds one request when Options.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// requestVersion is stamped on requests. A Java name server writes route
// bodies as standard JSON (quoted map keys) from 401 (4.9.4) on; below it
// writes integer keys unquoted, which encoding/json cannot read.
const requestVersion = 401

// Errors the operations wrap.
var (
	// ErrUnreachable: no connection to the server, or no answer in time.
	ErrUnreachable = errors.New("server unreachable")
	// ErrTopicNotExist: no broker and no name server knows the topic.
	ErrTopicNotExist = errors.New("topic does not exist")
	// ErrNotFound: a lookup (message, group progress) found nothing.
	ErrNotFound = errors.New("not found")
)

// ServerError is a reply with a code other than SUCCESS.
type ServerError struct {
	Op     string // request name, e.g. "GET_ROUTEINFO_BY_TOPIC"
	Addr   string
	Code   int16
	Remark string
}

// Error says which request to which server failed and how.
func (e *ServerError) Error() string {
	return fmt.Sprintf("%s to %s: code %d: %s", e.Op, e.Addr, e.Code, e.Remark)
}

// Options configures a Client. The zero value asks DefaultNamesrv.
type Options struct {
	// Namesrv is one or more name servers, "host:port[;host:port...]".
	Namesrv string
	// TLS, if set, makes every connection a TLS one.
	TLS *tls.Config
	// Timeout bounds each request; 0 means DefaultTimeout.
	Timeout time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
	// AccessKey and SecretKey, when set, sign every request (RocketMQ's
	// plain ACL) for servers with ACL on.
	AccessKey, SecretKey string
}

// Client sends admin requests. It keeps one connection per server; Close
// releases them.
type Client struct {
	rc      *remoting.Client
	namesrv []string
	timeout time.Duration
}

// New returns a client; it connects lazily.
func New(opts Options) *Client {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{timeout: opts.Timeout}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	for a := range strings.SplitSeq(opts.Namesrv, ";") {
		if a = strings.TrimSpace(a); a != "" {
			c.namesrv = append(c.namesrv, a)
		}
	}
	if len(c.namesrv) == 0 {
		c.namesrv = []string{DefaultNamesrv}
	}
	c.rc = remoting.NewClient(remoting.ClientOptions{Logger: log, Version: requestVersion, DialTimeout: c.timeout,
		Sign: acl.Signer(opts.AccessKey, opts.SecretKey), TLS: opts.TLS})
	return c
}

// Close closes every connection.
func (c *Client) Close() error { return c.rc.Close() }

// Namesrv returns the name servers the client asks.
func (c *Client) Namesrv() []string { return c.namesrv }

// call sends one request and returns the reply when its code is SUCCESS or
// one of also; other codes are a *ServerError.
// A broker that answers REQUEST_CODE_NOT_SUPPORTED because it is another
// kind of server is an ErrWrongServer that says which.
func (c *Client) call(ctx context.Context, addr, op string, code int16, ext map[string]string, body []byte, also ...int16) (*remoting.Command, error) {
	return c.callReq(ctx, kindBroker, addr, op, remoting.NewRequest(code, ext, body), 0, also...)
}

// callReq sends req to a server of kind want and waits up to the client's
// timeout plus extra (a long-polling pull's hold time) for the reply, as
// call does.
func (c *Client) callReq(ctx context.Context, want, addr, op string, req *remoting.Command, extra time.Duration, also ...int16) (*remoting.Command, error) {
	if req.ExtFields == nil {
		req.ExtFields = map[string]string{}
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout+max(extra, 0))
	defer cancel()
	resp, err := c.rc.Invoke(rctx, addr, req)
	if err != nil {
		if pe := context.Cause(rctx); pe != nil && !errors.Is(pe, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s to %s: %w", op, addr, err) // the caller gave up
		}
		return nil, fmt.Errorf("%s to %s: %w: %w", op, addr, ErrUnreachable, err)
	}
	if resp.Code == remoting.RespSuccess {
		return resp, nil
	}
	for _, a := range also {
		if resp.Code == a {
			return resp, nil
		}
	}
	se := &ServerError{Op: op, Addr: addr, Code: resp.Code, Remark: resp.Remark}
	if resp.Code == remoting.RespRequestCodeNotSupported {
		return nil, c.wrongServer(ctx, addr, want, se)
	}
	return nil, se
}

// callNamesrv asks each name server in turn until one answers.
func (c *Client) callNamesrv(ctx context.Context, op string, code int16, ext map[string]string, also ...int16) (*remoting.Command, error) {
	var errs []error
	for _, addr := range c.namesrv {
		resp, err := c.callReq(ctx, kindNamesrv, addr, op, remoting.NewRequest(code, ext, nil), 0, also...)
		if err == nil || !errors.Is(err, ErrUnreachable) {
			return resp, err
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func decodeBody(op string, resp *remoting.Command, v any) error {
	if err := json.Unmarshal(resp.Body, v); err != nil {
		return fmt.Errorf("%s: reply body is not the expected JSON: %w", op, err)
	}
	return nil
}

// TopicList returns every topic the name server has a route for
// (GET_ALL_TOPIC_LIST_FROM_NAMESERVER).
func (c *Client) TopicList(ctx context.Context) ([]string, error) {
	const op = "GET_ALL_TOPIC_LIST_FROM_NAMESERVER"
	resp, err := c.callNamesrv(ctx, op, remoting.CodeGetAllTopicListFromNameServer, nil)
	if err != nil {
		return nil, err
	}
	var tl body.TopicList
	return tl.TopicList, decodeBody(op, resp, &tl)
}

// Route returns the topic's route (GET_ROUTEINFO_BY_TOPIC); an unknown
// topic wraps ErrTopicNotExist.
func (c *Client) Route(ctx context.Context, topic string) (body.TopicRouteData, error) {
	const op = "GET_ROUTEINFO_BY_TOPIC"
	var rd body.TopicRouteData
	resp, err := c.callNamesrv(ctx, op, remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": topic})
	var se *ServerError
	if errors.As(err, &se) && se.Code == remoting.RespTopicNotExist {
		return rd, fmt.Errorf("topic %q: %w (no route on name server %s)", topic, ErrTopicNotExist, se.Addr)
	}
	if err != nil {
		return rd, err
	}
	return rd, decodeBody(op, resp, &rd)
}

// ClusterInfo returns the brokers the name server knows
// (GET_BROKER_CLUSTER_INFO).
func (c *Client) ClusterInfo(ctx context.Context) (body.ClusterInfo, error) {
	const op = "GET_BROKER_CLUSTER_INFO"
	var ci body.ClusterInfo
	resp, err := c.callNamesrv(ctx, op, remoting.CodeGetBrokerClusterInfo, nil)
	if err != nil {
		return ci, err
	}
	return ci, decodeBody(op, resp, &ci)
}

// DeleteTopicInNamesrv makes every name server forget the topic
// (DELETE_TOPIC_IN_NAMESRV). All are asked; every failure is returned.
func (c *Client) DeleteTopicInNamesrv(ctx context.Context, topic string) error {
	var errs []error
	for _, addr := range c.namesrv {
		req := remoting.NewRequest(remoting.CodeDeleteTopicInNameServer, map[string]string{"topic": topic}, nil)
		_, err := c.callReq(ctx, kindNamesrv, addr, "DELETE_TOPIC_IN_NAMESRV", req, 0)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// TopicConfig is a broker's topic config and GroupConfig a subscription
// group's, as the broker sends them (remoting/body).
type (
	TopicConfig = body.TopicConfig
	GroupConfig = body.SubscriptionGroupConfig
)

// TopicConfigs returns the broker's topic table (GET_ALL_TOPIC_CONFIG).
func (c *Client) TopicConfigs(ctx context.Context, broker string) (map[string]TopicConfig, error) {
	const op = "GET_ALL_TOPIC_CONFIG"
	resp, err := c.call(ctx, broker, op, remoting.CodeGetAllTopicConfig, nil, nil)
	if err != nil {
		return nil, err
	}
	var w body.TopicConfigWrapper
	if err := decodeBody(op, resp, &w); err != nil {
		return nil, err
	}
	for name, tc := range w.TopicConfigTable {
		if tc.TopicName == "" {
			tc.TopicName = name
			w.TopicConfigTable[name] = tc
		}
	}
	return w.TopicConfigTable, nil
}

// GroupConfigs returns the broker's subscription groups
// (GET_ALL_SUBSCRIPTIONGROUP_CONFIG).
func (c *Client) GroupConfigs(ctx context.Context, broker string) (map[string]GroupConfig, error) {
	const op = "GET_ALL_SUBSCRIPTIONGROUP_CONFIG"
	resp, err := c.call(ctx, broker, op, remoting.CodeGetAllSubscriptionGroupConfig, nil, nil)
	if err != nil {
		return nil, err
	}
	var w body.SubscriptionGroupWrapper
	if err := decodeBody(op, resp, &w); err != nil {
		return nil, err
	}
	return w.SubscriptionGroupTable, nil
}

// CreateTopic creates or updates a topic on one broker
// (UPDATE_AND_CREATE_TOPIC). The broker re-registers with its name
// servers, so the route follows shortly.
func (c *Client) CreateTopic(ctx context.Context, broker string, tc TopicConfig) error {
	ext := map[string]string{
		"topic": tc.TopicName, "defaultTopic": systopic.AutoCreate,
		"readQueueNums": strconv.Itoa(int(tc.ReadQueueNums)), "writeQueueNums": strconv.Itoa(int(tc.WriteQueueNums)),
		"perm": strconv.Itoa(tc.Perm), "topicFilterType": cmp.Or(tc.TopicFilterType, body.DefaultTopicFilterType), "topicSysFlag": strconv.Itoa(tc.TopicSysFlag),
		"order": strconv.FormatBool(tc.Order),
	}
	_, err := c.call(ctx, broker, "UPDATE_AND_CREATE_TOPIC", remoting.CodeUpdateAndCreateTopic, ext, nil)
	return err
}

// DeleteTopicInBroker deletes the topic's config and queues on one broker
// (DELETE_TOPIC_IN_BROKER).
func (c *Client) DeleteTopicInBroker(ctx context.Context, broker, topic string) error {
	_, err := c.call(ctx, broker, "DELETE_TOPIC_IN_BROKER", remoting.CodeDeleteTopicInBroker, map[string]string{"topic": topic}, nil)
	return err
}

func queueExt(topic string, queueID int32) map[string]string {
	return map[string]string{"topic": topic, "queueId": strconv.Itoa(int(queueID))}
}

func extInt(op string, resp *remoting.Command, key string) (int64, error) {
	v, err := resp.ExtInt64(key)
	if err != nil {
		return 0, fmt.Errorf("%s: reply: %w", op, err)
	}
	return v, nil
}

// MaxOffset returns the next offset the queue will be written at
// (GET_MAX_OFFSET).
func (c *Client) MaxOffset(ctx context.Context, broker, topic string, queueID int32) (int64, error) {
	const op = "GET_MAX_OFFSET"
	resp, err := c.call(ctx, broker, op, remoting.CodeGetMaxOffset, queueExt(topic, queueID), nil)
	if err != nil {
		return 0, err
	}
	return extInt(op, resp, "offset")
}

// MinOffset returns the queue's first valid offset (GET_MIN_OFFSET).
func (c *Client) MinOffset(ctx context.Context, broker, topic string, queueID int32) (int64, error) {
	const op = "GET_MIN_OFFSET"
	resp, err := c.call(ctx, broker, op, remoting.CodeGetMinOffset, queueExt(topic, queueID), nil)
	if err != nil {
		return 0, err
	}
	return extInt(op, resp, "offset")
}

// EarliestStoreTime returns the store time (ms) of the queue's first
// message, or -1 when it holds none (GET_EARLIEST_MSG_STORETIME).
func (c *Client) EarliestStoreTime(ctx context.Context, broker, topic string, queueID int32) (int64, error) {
	const op = "GET_EARLIEST_MSG_STORETIME"
	resp, err := c.call(ctx, broker, op, remoting.CodeGetEarliestMsgStoreTime, queueExt(topic, queueID), nil)
	if err != nil {
		return 0, err
	}
	return extInt(op, resp, "timestamp")
}

// ConsumerOffset returns the group's committed offset of a queue
// (QUERY_CONSUMER_OFFSET); ok is false when the broker has none. Note that
// a broker answers 0 for a young queue the group never committed (Java's
// rule, trap T7), which cannot be told from a committed 0.
func (c *Client) ConsumerOffset(ctx context.Context, broker, group, topic string, queueID int32) (offset int64, ok bool, err error) {
	const op = "QUERY_CONSUMER_OFFSET"
	ext := queueExt(topic, queueID)
	ext["consumerGroup"] = group
	resp, err := c.call(ctx, broker, op, remoting.CodeQueryConsumerOffset, ext, nil, remoting.RespQueryNotFound)
	if err != nil {
		return 0, false, err
	}
	if resp.Code == remoting.RespQueryNotFound {
		return 0, false, nil
	}
	off, err := extInt(op, resp, "offset")
	// The Go client commits -1 for "no offset"; it reads back as none.
	return off, err == nil && off >= 0, err
}
