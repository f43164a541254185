package broker

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/remoting"
)

func TestPullStatusTable(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	for i := range 3 {
		c.send("PT", 0, props("TAGS", []string{"A", "B", "A"}[i]), "m"+strconv.Itoa(i))
	}
	waitDispatched(t, b)
	for _, tt := range []struct {
		name        string
		queue       int
		offset      int64
		sysFlag     int
		sub         string
		code        int16
		next, count int64
	}{
		{"missing queue at 0 (not held without suspend)", 1, 0, 0, "", remoting.RespPullNotFound, 0, 0},
		{"missing queue past 0", 1, 5, 0, "", remoting.RespPullOffsetMoved, 0, 0},
		{"found", 0, 0, 0, "", remoting.RespSuccess, 3, 3},
		{"found from middle", 0, 1, 0, "", remoting.RespSuccess, 3, 2},
		{"at max", 0, 3, 0, "", remoting.RespPullNotFound, 3, 0},
		{"past max", 0, 10, 0, "", remoting.RespPullOffsetMoved, 3, 0},
		{"tag filter in request", 0, 0, pullSubscription, "A", remoting.RespSuccess, 3, 2},
		{"tag filter no match", 0, 0, pullSubscription, "C", remoting.RespPullRetryImmediately, 3, 0},
		{"tag filter or", 0, 0, pullSubscription, "B || C", remoting.RespSuccess, 3, 1},
	} {
		ext := pullExt("CG", "PT", tt.queue, tt.offset, tt.sysFlag, 0)
		ext["subscription"] = tt.sub
		resp := c.call(remoting.CodePullMessage, ext, nil)
		if resp.Code != tt.code {
			t.Errorf("%s: code %d %q, want %d", tt.name, resp.Code, resp.Remark, tt.code)
			continue
		}
		for _, k := range []string{"nextBeginOffset", "minOffset", "maxOffset", "suggestWhichBrokerId"} {
			if _, ok := resp.ExtFields[k]; !ok {
				t.Errorf("%s: ext %s missing (trap T4)", tt.name, k)
			}
		}
		if next := extInt(t, resp, "nextBeginOffset"); next != tt.next {
			t.Errorf("%s: nextBeginOffset %d, want %d", tt.name, next, tt.next)
		}
		if n := int64(len(decodeAll(t, resp.Body))); resp.Code == remoting.RespSuccess && n != tt.count {
			t.Errorf("%s: %d messages, want %d", tt.name, n, tt.count)
		}
	}

	// Errors before the store is read still carry the four offsets.
	for _, tt := range []struct {
		name string
		ext  map[string]string
		code int16
	}{
		{"unknown topic", pullExt("CG", "Nope", 0, 7, 0, 0), remoting.RespTopicNotExist},
		{"queue out of range", pullExt("CG", "PT", 4, 7, 0, 0), remoting.RespSystemError},
		{"SQL92", func() map[string]string {
			e := pullExt("CG", "PT", 0, 7, pullSubscription, 0)
			e["expressionType"] = "SQL92"
			return e
		}(), remoting.RespSubscriptionParseFailed},
		{"missing queueOffset", func() map[string]string { e := pullExt("CG", "PT", 0, 7, 0, 0); delete(e, "queueOffset"); return e }(), remoting.RespSystemError},
	} {
		resp := c.call(remoting.CodePullMessage, tt.ext, nil)
		if resp.Code != tt.code || resp.ExtFields["nextBeginOffset"] == "" || resp.ExtFields["suggestWhichBrokerId"] != "0" {
			t.Errorf("%s: code %d %q ext %v, want %d with offsets", tt.name, resp.Code, resp.Remark, resp.ExtFields, tt.code)
		}
	}
}

// TestPullServesAtLeastOne: like RocketMQ, a pull whose maxMsgNums is 0 or
// negative gets one message, not an error. The Go client's lite pull
// consumer sends 0 unless built with WithPullBatchSize.
func TestPullServesAtLeastOne(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	for i := range 3 {
		c.send("PO", 0, "", "m"+strconv.Itoa(i))
	}
	waitDispatched(t, b)
	for _, n := range []string{"0", "-5", "1"} {
		ext := pullExt("CG", "PO", 0, 1, 0, 0)
		ext["maxMsgNums"] = n
		resp := c.call(remoting.CodePullMessage, ext, nil)
		if resp.Code != remoting.RespSuccess {
			t.Fatalf("maxMsgNums %s: code %d %q, want found", n, resp.Code, resp.Remark)
		}
		recs := decodeAll(t, resp.Body)
		if len(recs) != 1 || string(recs[0].Body) != "m1" || extInt(t, resp, "nextBeginOffset") != 2 {
			t.Fatalf("maxMsgNums %s: %d messages, next %s, want m1 alone and next 2", n, len(recs), resp.ExtFields["nextBeginOffset"])
		}
	}
}

func TestPullCommitOffsetBit(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	c.send("PC", 0, "", "x")
	waitDispatched(t, b)
	ext := pullExt("CG", "PC", 0, 1, pullCommitOffset, 0)
	ext["commitOffset"] = "1"
	c.call(remoting.CodePullMessage, ext, nil)
	off, ok, err := b.store.ConsumerOffset("CG", "PC", 0)
	if err != nil || !ok || off != 1 {
		t.Fatalf("committed offset %d %v %v, want 1", off, ok, err)
	}
}

func TestPullSubscriptionFromHeartbeat(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	c.send("HT", 0, props("TAGS", "标签"), "cjk")
	c.send("HT", 0, props("TAGS", "TagB"), "b")
	waitDispatched(t, b)
	// Go's codeSet hashes UTF-8 (wrong for 标签); the broker uses tagsSet.
	hb := `{"clientID":"10.0.0.1@1","producerDataSet":[],"consumerDataSet":[{"groupName":"HG","consumeType":"CONSUME_PASSIVELY",
"messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","unitMode":false,"subscriptionDataSet":[
{"classFilterMode":false,"topic":"HT","subString":"标签","tagsSet":["标签"],"codeSet":["-1853217173"],"subVersion":1,"expressionType":"TAG"}]}]}`
	expectCode(t, c.call(remoting.CodeHeartBeat, nil, []byte(hb)), remoting.RespSuccess, "heartbeat")
	resp := c.call(remoting.CodePullMessage, pullExt("HG", "HT", 0, 0, pullSuspend, 0), nil)
	expectCode(t, resp, remoting.RespSuccess, "pull with heartbeat subscription")
	recs := decodeAll(t, resp.Body)
	if len(recs) != 1 || string(recs[0].Body) != "cjk" || extInt(t, resp, "nextBeginOffset") != 2 {
		t.Fatalf("%d records, next %s", len(recs), resp.ExtFields["nextBeginOffset"])
	}
	// A group without heartbeat is served unfiltered.
	resp = c.call(remoting.CodePullMessage, pullExt("Other", "HT", 0, 0, 0, 0), nil)
	if n := len(decodeAll(t, resp.Body)); n != 2 {
		t.Fatalf("unknown group got %d records, want 2", n)
	}
}

// asyncPull starts a pull and returns a channel with its response.
func asyncPull(t *testing.T, c *testClient, ext map[string]string) <-chan *remoting.Command {
	ch := make(chan *remoting.Command, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resp, err := c.c.Invoke(ctx, c.addr, remoting.NewRequest(remoting.CodePullMessage, ext, nil))
		if err != nil {
			t.Errorf("pull: %v", err)
		}
		ch <- resp
	}()
	return ch
}

// TestHeldPullKeepsNoBody: a held pull drops its request's body before it
// parks (a PULL_MESSAGE has no use for one; held pulls are outside the
// connection's in-flight limit, so a body would stay pinned up to 25 s),
// and is still answered when a message arrives.
func TestHeldPullKeepsNoBody(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	c.send("HeldT", 0, "", "first")
	waitDispatched(t, b)
	pending := make(chan *remoting.Command, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req := remoting.NewRequest(remoting.CodePullMessage, pullExt("CG", "HeldT", 0, 1, pullSuspend, 20000), make([]byte, 1<<20))
		resp, err := c.c.Invoke(ctx, c.addr, req)
		if err != nil {
			t.Errorf("pull: %v", err)
		}
		pending <- resp
	}()
	eventually(t, 5*time.Second, "pull held", func() bool { return b.hold.Held() == 1 })
	for _, p := range b.hold.Parked("HeldT", 0) {
		if p.req.Body != nil {
			t.Errorf("the held pull keeps a %d-byte body", len(p.req.Body))
		}
	}
	c.send("HeldT", 0, "", "second")
	select {
	case resp := <-pending:
		expectCode(t, resp, remoting.RespSuccess, "woken pull")
		if recs := decodeAll(t, resp.Body); len(recs) != 1 || string(recs[0].Body) != "second" {
			t.Fatalf("woken pull: %d records", len(recs))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("held pull not woken by a new message")
	}
}

func TestLongPollingWakesOnMessage(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	c.send("LP", 0, "", "first")
	waitDispatched(t, b)

	// Held at offset == max, on the same connection as the sends (trap T1).
	pending := asyncPull(t, c, pullExt("CG", "LP", 0, 1, pullSuspend, 20000))
	eventually(t, 5*time.Second, "pull held", func() bool { return b.hold.Held() == 1 })
	start := time.Now()
	c.send("LP", 0, "", "second") // must not wait behind the held pull
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("send behind a held pull took %v", d)
	}
	select {
	case resp := <-pending:
		expectCode(t, resp, remoting.RespSuccess, "woken pull")
		recs := decodeAll(t, resp.Body)
		if len(recs) != 1 || string(recs[0].Body) != "second" || extInt(t, resp, "nextBeginOffset") != 2 {
			t.Fatalf("woken pull: %d records %v", len(recs), resp.ExtFields)
		}
		t.Logf("held pull answered %v after the send started", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("held pull not woken by a new message")
	}

	// A held pull on a queue that does not exist yet wakes too.
	pending = asyncPull(t, c, pullExt("CG", "LP", 3, 0, pullSuspend, 20000))
	eventually(t, 5*time.Second, "pull held", func() bool { return b.hold.Held() == 1 })
	c.send("LP", 3, "", "q3")
	select {
	case resp := <-pending:
		expectCode(t, resp, remoting.RespSuccess, "woken pull on new queue")
	case <-time.After(5 * time.Second):
		t.Fatal("held pull on a new queue not woken")
	}
}

func TestLongPollingTimeoutAndClose(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	c.send("LT", 0, "", "x")
	waitDispatched(t, b)

	start := time.Now()
	resp := c.call(remoting.CodePullMessage, pullExt("CG", "LT", 0, 1, pullSuspend, 300), nil)
	d := time.Since(start)
	expectCode(t, resp, remoting.RespPullNotFound, "timed-out pull")
	if extInt(t, resp, "nextBeginOffset") != 1 || d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("timeout answer after %v with ext %v", d, resp.ExtFields)
	}

	// Close answers every held pull before the store closes.
	var chans []<-chan *remoting.Command
	for q := range 4 {
		chans = append(chans, asyncPull(t, c, pullExt("CG", "LT", q, map[int]int64{0: 1}[q], pullSuspend, 20000)))
	}
	eventually(t, 5*time.Second, "4 pulls held", func() bool { return b.hold.Held() == 4 })
	start = time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for i, ch := range chans {
		select {
		case resp := <-ch:
			// SERVICE_NOT_AVAILABLE, not 19: a client pulls again at once
			// after 19, on the closing connection (closingResponse).
			if resp == nil || resp.Code != remoting.RespServiceNotAvailable || extInt(t, resp, "nextBeginOffset") != map[int]int64{0: 1}[i] {
				t.Fatalf("pull %d answered on close with %v", i, resp)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("pull %d not answered on close", i)
		}
	}
	t.Logf("close with 4 held pulls took %v", time.Since(start))
}

// TestPullSeesAcknowledgedSend: a pull that may not be held (no SUSPEND bit)
// and arrives while the dispatcher is behind still returns a message whose
// send was answered before it: it waits for the dispatcher instead of
// answering "nothing new" or only part (`wharf consume -e` right after a
// send). The queue's max offset (GET_MAX_OFFSET) counts such a message too.
func TestPullSeesAcknowledgedSend(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	c.send("PV", 0, "", "m0")
	waitDispatched(t, b)

	// sendHeld sends body with the dispatcher held between two rounds and
	// releases it 50 ms after calling ask, whose answer it returns.
	sendHeld := func(body string, ask func() *remoting.Command) *remoting.Command {
		t.Helper()
		resume := b.Store().PauseDispatch()
		if resp := c.send("PV", 0, "", body); resp.Code != remoting.RespSuccess {
			t.Fatalf("send %s: code %d %q", body, resp.Code, resp.Remark)
		}
		resumed := make(chan error, 1)
		time.AfterFunc(50*time.Millisecond, func() { resumed <- resume() })
		resp := ask()
		if err := <-resumed; err != nil {
			t.Fatal(err)
		}
		return resp
	}

	// At the queue's end as dispatched (the read would find nothing), then
	// before it (the read would find m1 alone).
	for _, tc := range []struct {
		send string
		want []string
	}{{"m1", []string{"m1"}}, {"m2", []string{"m1", "m2"}}} {
		resp := sendHeld(tc.send, func() *remoting.Command {
			return c.call(remoting.CodePullMessage, pullExt("CG", "PV", 0, 1, 0, 0), nil)
		})
		if resp.Code != remoting.RespSuccess {
			t.Fatalf("pull after sending %s: code %d %q, want %v", tc.send, resp.Code, resp.Remark, tc.want)
		}
		var got []string
		for _, r := range decodeAll(t, resp.Body) {
			got = append(got, string(r.Body))
		}
		if !slices.Equal(got, tc.want) {
			t.Fatalf("pull after sending %s returned %v, want %v", tc.send, got, tc.want)
		}
	}

	resp := sendHeld("m3", func() *remoting.Command {
		return c.call(remoting.CodeGetMaxOffset, map[string]string{"topic": "PV", "queueId": "0"}, nil)
	})
	if resp.Code != remoting.RespSuccess || extInt(t, resp, "offset") != 4 {
		t.Fatalf("max offset after an acknowledged send: code %d offset %s, want 4", resp.Code, resp.ExtFields["offset"])
	}
}
