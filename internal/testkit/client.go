package testkit

import (
	"context"
	"crypto/tls"
	"strconv"
	"testing"
	"time"

	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
)

// CallTimeout bounds one Client.Call.
const CallTimeout = 5 * time.Second

// Client is a raw remoting client bound to one server address, failing
// the test on transport errors. It speaks as the Go client does (language
// GO, version 317) and is closed at the end of the test.
type Client struct {
	t    testing.TB
	RC   *remoting.Client
	Addr string
}

// NewClient returns a Client for the server at addr.
func NewClient(t testing.TB, addr string) *Client { return NewTLSClient(t, addr, nil) }

// NewTLSClient is NewClient over TLS with cfg (plaintext when nil).
func NewTLSClient(t testing.TB, addr string, cfg *tls.Config) *Client {
	return newClient(t, addr, remoting.ClientOptions{TLS: cfg})
}

// NewSignedClient is NewClient with sign (acl.Signer) applied to every
// request it sends.
func NewSignedClient(t testing.TB, addr string, sign func(*remoting.Command)) *Client {
	return newClient(t, addr, remoting.ClientOptions{Sign: sign})
}

func newClient(t testing.TB, addr string, o remoting.ClientOptions) *Client {
	o.Logger, o.Language, o.Version = Logger(t), "GO", 317
	c := remoting.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return &Client{t: t, RC: c, Addr: addr}
}

// Call sends one request and returns the reply, whatever its code.
func (c *Client) Call(code int16, ext map[string]string, body []byte) *remoting.Command {
	c.t.Helper()
	return c.CallTimeout(CallTimeout, code, ext, body)
}

// CallTimeout is Call bounded by d instead of CallTimeout.
func (c *Client) CallTimeout(d time.Duration, code int16, ext map[string]string, body []byte) *remoting.Command {
	c.t.Helper()
	if ext == nil {
		ext = map[string]string{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	resp, err := c.RC.Invoke(ctx, c.Addr, remoting.NewRequest(code, ext, body))
	if err != nil {
		c.t.Fatalf("invoke code %d on %s: %v", code, c.Addr, err)
	}
	return resp
}

// MustOK is Call that fails the test unless the reply is SUCCESS.
func (c *Client) MustOK(code int16, ext map[string]string, body []byte) *remoting.Command {
	c.t.Helper()
	resp := c.Call(code, ext, body)
	if resp.Code != remoting.RespSuccess {
		c.t.Fatalf("request code %d: reply %d %q", code, resp.Code, resp.Remark)
	}
	return resp
}

// Send stores one message as the Go producer sends it (group PG) and
// fails the test unless the broker accepts it.
func (c *Client) Send(topic string, queueID int, props, body string) *remoting.Command {
	c.t.Helper()
	resp := c.Call(remoting.CodeSendMessage, SendHeader(topic, queueID, props), []byte(body))
	if resp.Code != remoting.RespSuccess {
		c.t.Fatalf("send to %s/%d: code %d %s", topic, queueID, resp.Code, resp.Remark)
	}
	return resp
}

// SendHeader is the SEND_MESSAGE header the Go producer sends for
// producer group PG to broker-a.
func SendHeader(topic string, queueID int, props string) map[string]string {
	return map[string]string{
		"producerGroup": "PG", "topic": topic, "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
		"queueId": strconv.Itoa(queueID), "sysFlag": "0", "bornTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10),
		"flag": "0", "properties": props, "reconsumeTimes": "0", "unitMode": "false", "maxReconsumeTimes": "0",
		"batch": "false", "bname": "broker-a",
	}
}

// Props encodes key, value pairs as a message's properties string.
func Props(kv ...string) string {
	s := ""
	for i := 0; i+1 < len(kv); i += 2 {
		s = msg.AppendProperty(s, kv[i], kv[i+1])
	}
	return s
}
