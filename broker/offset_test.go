package broker

import (
	"strconv"
	"testing"
	"time"

	"github.com/wharfmq/wharf/remoting"
)

func TestOffsets(t *testing.T) {
	b := startBroker(t, Config{})
	c := newTestClient(t, b.Addr())
	q := func(code int16, ext map[string]string) *remoting.Command {
		e := map[string]string{"consumerGroup": "OG", "topic": "OT", "queueId": "0"}
		for k, v := range ext {
			e[k] = v
		}
		return c.call(code, e, nil)
	}
	// A new group on a missing (young) queue starts at 0 (trap T7).
	resp := q(remoting.CodeQueryConsumerOffset, nil)
	expectCode(t, resp, remoting.RespSuccess, "query young")
	if resp.ExtFields["offset"] != "0" {
		t.Fatalf("young queue offset %v", resp.ExtFields)
	}
	before := time.Now().UnixMilli()
	for i := range 5 {
		c.send("OT", 0, "", "m"+strconv.Itoa(i))
	}
	waitDispatched(t, b)
	if got := q(remoting.CodeGetMaxOffset, nil).ExtFields["offset"]; got != "5" {
		t.Errorf("max offset %q", got)
	}
	if got := q(remoting.CodeGetMinOffset, nil).ExtFields["offset"]; got != "0" {
		t.Errorf("min offset %q", got)
	}
	if got := q(remoting.CodeSearchOffsetByTimestamp, map[string]string{"timestamp": "0"}).ExtFields["offset"]; got != "0" {
		t.Errorf("search at 0: %q", got)
	}
	if got := q(remoting.CodeSearchOffsetByTimestamp, map[string]string{"timestamp": strconv.FormatInt(time.Now().UnixMilli()+60000, 10)}).ExtFields["offset"]; got != "5" {
		t.Errorf("search in the future: %q", got)
	}
	ts := extInt(t, q(remoting.CodeGetEarliestMsgStoreTime, nil), "timestamp")
	if ts < before-1000 || ts > time.Now().UnixMilli() {
		t.Errorf("earliest store time %d, sent after %d", ts, before)
	}
	if got := q(remoting.CodeGetEarliestMsgStoreTime, map[string]string{"queueId": "3"}).ExtFields["timestamp"]; got != "-1" {
		t.Errorf("earliest on empty queue %q", got)
	}
	expectCode(t, q(remoting.CodeUpdateConsumerOffset, map[string]string{"commitOffset": "3"}), remoting.RespSuccess, "update")
	if got := q(remoting.CodeQueryConsumerOffset, nil).ExtFields["offset"]; got != "3" {
		t.Errorf("committed offset %q", got)
	}
	// -1 is accepted and reads back as "none", hence the young rule again.
	expectCode(t, q(remoting.CodeUpdateConsumerOffset, map[string]string{"commitOffset": "-1"}), remoting.RespSuccess, "update -1")
	if resp := q(remoting.CodeQueryConsumerOffset, nil); resp.Code != 0 || resp.ExtFields["offset"] != "0" {
		t.Errorf("after -1: %d %v", resp.Code, resp.ExtFields)
	}
	expectCode(t, q(remoting.CodeUpdateConsumerOffset, map[string]string{"commitOffset": "x"}), remoting.RespSystemError, "bad commitOffset")
}

func TestQueryConsumerOffsetOldQueue(t *testing.T) {
	b := startBroker(t, Config{})
	b.youngMaxOffset, b.youngMaxAge = 50, 0 // 100 messages are then "old"
	c := newTestClient(t, b.Addr())
	for range 100 {
		c.send("Old", 0, "", "x")
	}
	c.send("Old", 1, "", "x")
	waitDispatched(t, b)
	ext := map[string]string{"consumerGroup": "NewGroup", "topic": "Old", "queueId": "0"}
	resp := c.call(remoting.CodeQueryConsumerOffset, ext, nil)
	expectCode(t, resp, remoting.RespQueryNotFound, "new group on an old queue")
	ext["queueId"] = "1"
	resp = c.call(remoting.CodeQueryConsumerOffset, ext, nil)
	if resp.Code != remoting.RespSuccess || resp.ExtFields["offset"] != "0" {
		t.Fatalf("small queue: %d %v", resp.Code, resp.ExtFields)
	}
}
