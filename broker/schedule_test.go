package broker

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/wharfmq/wharf/broker/schedule"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/systopic"
)

// delayCheck verifies delivered records against their schedule records:
// each delivered no earlier than its due time; it returns how late each was
// (store time of the delivered copy minus the due time), by body.
func delayCheck(t *testing.T, b *Broker, levels []time.Duration, topic string, queueID int32) (late map[string][]time.Duration) {
	t.Helper()
	due := map[string]int64{}
	for q := range int32(len(levels)) {
		for _, r := range readQueue(t, b, systopic.Schedule, q) {
			if prop(r, "REAL_TOPIC") == topic {
				due[string(r.Body)] = r.StoreTimestamp + levels[q].Milliseconds()
			}
		}
	}
	late = map[string][]time.Duration{}
	for _, r := range readQueue(t, b, topic, queueID) {
		d, ok := due[string(r.Body)]
		if !ok {
			continue
		}
		if r.StoreTimestamp < d {
			t.Errorf("%s delivered at %d, %d ms before it was due", r.Body, r.StoreTimestamp, d-r.StoreTimestamp)
		}
		late[string(r.Body)] = append(late[string(r.Body)], time.Duration(r.StoreTimestamp-d)*time.Millisecond)
	}
	return late
}

func TestDelayedSend(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MessageDelayLevel = "100ms 200ms 300ms"
	levels, _ := engine.ParseDelayLevels(cfg.MessageDelayLevel)
	b := startBroker(t, cfg)
	c := newTestClient(t, b.Addr())
	if tc, ok := b.topics.Get(systopic.Schedule); !ok || tc.WriteQueueNums != 3 {
		t.Fatalf("schedule topic %+v %v", tc, ok)
	}
	expectCode(t, c.call(remoting.CodeSendMessage, sendExt("DT", 1, props("DELAY", "soon")), []byte("x")),
		remoting.RespMessageIllegal, "non-numeric DELAY")

	resp := c.send("DT", 1, props("DELAY", "2", "TAGS", "tg", "KEYS", "key1", "UNIQ_KEY", "u-first"), "first")
	if extInt(t, resp, "queueId") != 1 {
		t.Fatalf("queueId %v", resp.ExtFields)
	}
	rec, err := b.store.ReadRecord(physOf(t, resp))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := msg.Decode(rec); string(r.Topic) != systopic.Schedule || r.QueueID != 1 {
		t.Fatalf("delayed record stored in %s/%d", r.Topic, r.QueueID)
	}
	c.send("DT", 1, props("DELAY", "0"), "now") // level 0: no delay
	c.send("DT", 1, props("DELAY", "99"), "clamped")
	const n = 50
	for i := range n {
		c.send("DT", 1, props("DELAY", "1"), fmt.Sprintf("o-%d", i))
	}
	waitDispatched(t, b)
	if rs := readQueue(t, b, "DT", 1); len(rs) == 0 || string(rs[0].Body) != "now" {
		t.Fatalf("DELAY=0 not stored at once: %d records", len(rs))
	}
	if rs := readQueue(t, b, systopic.Schedule, 2); len(rs) != 1 || string(rs[0].Body) != "clamped" {
		t.Fatalf("DELAY=99 not clamped to the last level: %d records", len(rs))
	}
	var rs []msg.Record
	eventually(t, 5*time.Second, "every delayed message delivered", func() bool {
		rs = readQueue(t, b, "DT", 1)
		return len(rs) == n+3
	})
	var order []string
	for _, r := range rs {
		if strings.HasPrefix(string(r.Body), "o-") {
			order = append(order, string(r.Body))
		}
		if _, ok := r.Property("DELAY"); ok && string(r.Body) != "now" {
			t.Errorf("%s delivered with DELAY", r.Body)
		}
		if string(r.Body) == "first" && (prop(r, "TAGS") != "tg" || prop(r, "KEYS") != "key1" || prop(r, "UNIQ_KEY") != "u-first" ||
			prop(r, "REAL_TOPIC") != "DT" || prop(r, "REAL_QID") != "1" || r.QueueID != 1) {
			t.Errorf("first delivered as %q", r.Properties)
		}
	}
	for i, body := range order {
		if body != fmt.Sprintf("o-%d", i) {
			t.Fatalf("level 1 delivered out of order: %v", order)
		}
	}
	// The delivered copy is found by key like any message.
	if recs, err := b.store.QueryByKey("DT", "key1", 4, 0, time.Now().UnixMilli()+1000); err != nil || len(recs) != 1 {
		t.Fatalf("query by key: %d %v", len(recs), err)
	}
	late := delayCheck(t, b, levels, "DT", 1)
	if len(late) != n+2 {
		t.Fatalf("%d delayed messages checked, want %d", len(late), n+2)
	}
	if off, ok, _ := b.store.ConsumerOffset(schedule.OffsetGroup, systopic.Schedule, 0); !ok || off != n {
		t.Fatalf("level 1 offset %d %v, want %d", off, ok, n)
	}
}

func TestDelaySurvivesRestart(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MessageDelayLevel = "100ms 200ms 1500ms"
	levels, _ := engine.ParseDelayLevels(cfg.MessageDelayLevel)
	b := startBroker(t, cfg)
	c := newTestClient(t, b.Addr())
	for i := range 5 {
		c.send("RS", 0, props("DELAY", "1"), fmt.Sprintf("short-%d", i))
	}
	for i := range 20 {
		c.send("RS", 0, props("DELAY", "3"), fmt.Sprintf("long-%d", i))
	}
	eventually(t, 5*time.Second, "level 1 delivered", func() bool { return len(readQueue(t, b, "RS", 0)) >= 5 })
	if n := len(readQueue(t, b, "RS", 0)); n != 5 {
		t.Fatalf("%d delivered before the restart, want the 5 short ones", n)
	}
	c.c.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = startBroker(t, cfg)
	eventually(t, 10*time.Second, "all 25 delivered after the restart", func() bool { return len(readQueue(t, b, "RS", 0)) >= 25 })
	late := delayCheck(t, b, levels, "RS", 0)
	for body, ls := range late {
		if len(ls) != 1 {
			t.Errorf("%s delivered %d times across a clean restart", body, len(ls))
		}
	}
	if len(late) != 25 {
		t.Fatalf("%d of 25 delivered", len(late))
	}
}

// TestDelaySurvivesKill runs a broker in a child process, kills it with
// SIGKILL while delayed messages are being delivered, and reopens the data
// directory: every pending message is delivered, none early; duplicates of
// the last batch are allowed.
func TestDelaySurvivesKill(t *testing.T) {
	if dir := os.Getenv("WHARF_DELAY_CHILD_DIR"); dir != "" {
		delayChild(t, dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDelaySurvivesKill$")
	cmd.Env = append(os.Environ(), "WHARF_DELAY_CHILD_DIR="+dir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			<-done
		}
	}()
	var addr string
	eventually(t, 20*time.Second, "child broker address", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "addr"))
		addr = strings.TrimSpace(string(b))
		return err == nil && strings.HasSuffix(string(b), "\n")
	})
	c := newTestClient(t, addr)
	const n = 300
	for i := range n {
		c.send("KT", 0, props("DELAY", strconv.Itoa(1+i%3), "UNIQ_KEY", fmt.Sprintf("k-%d", i)), fmt.Sprintf("k-%d", i))
	}
	// Kill once deliveries are well under way.
	eventually(t, 10*time.Second, "first deliveries", func() bool {
		resp := c.call(remoting.CodeGetMaxOffset, map[string]string{"topic": "KT", "queueId": "0"}, nil)
		off, _ := resp.ExtInt64("offset")
		return resp.Code == remoting.RespSuccess && off >= 30
	})
	resp := c.call(remoting.CodeGetMaxOffset, map[string]string{"topic": "KT", "queueId": "0"}, nil)
	before, _ := resp.ExtInt64("offset")
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	<-done
	c.c.Close()

	cfg := testConfig(dir)
	cfg.MessageDelayLevel = "100ms 200ms 2s"
	levels, _ := engine.ParseDelayLevels(cfg.MessageDelayLevel)
	b := startBroker(t, cfg)
	if b.store.RecoveryReport().Clean {
		t.Fatal("the kill left a clean store")
	}
	eventually(t, 20*time.Second, "every delayed message delivered after the kill", func() bool {
		return len(delayCheck(t, b, levels, "KT", 0)) == n
	})
	late := delayCheck(t, b, levels, "KT", 0)
	dups := 0
	for _, ls := range late {
		dups += len(ls) - 1
	}
	t.Logf("killed after %d of %d deliveries; after reopening all %d delivered, none early, %d duplicates", before, n, n, dups)
}

// delayChild serves a broker on dir until the parent kills it.
func delayChild(t *testing.T, dir string) {
	cfg := testConfig(dir)
	cfg.MessageDelayLevel = "100ms 200ms 2s"
	b := startBroker(t, cfg)
	if err := os.WriteFile(filepath.Join(dir, "addr"), []byte(b.Addr()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Second) // the parent kills this process long before
	t.Fatal("child not killed")
}

func TestGoClientDelayLevelLateness(t *testing.T) {
	cl := startRetryCluster(t)
	topic, group := "GoDelay", "GoDelayCG"
	cl.createTopic(t, topic, 1)
	type recv struct {
		at      time.Time
		storeTs int64
	}
	var mu sync.Mutex
	got := map[string][]recv{}
	cl.handlerConsumer(t, group, topic, func(m *primitive.MessageExt) consumer.ConsumeResult {
		mu.Lock()
		got[string(m.Body)] = append(got[string(m.Body)], recv{time.Now(), m.StoreTimestamp})
		mu.Unlock()
		return consumer.ConsumeSuccess
	})
	received := func(body string) int {
		mu.Lock()
		defer mu.Unlock()
		return len(got[body])
	}
	p := cl.producer(t)
	// Once a plain message arrives the consumer is pulling the queue.
	if _, err := p.SendSync(ctx10s(t), primitive.NewMessage(topic, []byte("warm-up"))); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "warm-up message", func() bool { return received("warm-up") > 0 })

	const n = 200
	due := map[string]int64{}
	ctx := ctx10s(t)
	for i := range n {
		level := 1 + i%4
		body := fmt.Sprintf("d-%d", i)
		m := primitive.NewMessage(topic, []byte(body))
		m.WithDelayTimeLevel(level)
		res, err := p.SendSync(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		_, phys, err := msg.ParseOffsetMsgID(res.OffsetMsgID)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := cl.b.store.ReadRecord(phys)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := msg.Decode(rec)
		due[body] = r.StoreTimestamp + shortLevel(level).Milliseconds()
	}
	eventually(t, 20*time.Second, "every delayed message consumed", func() bool {
		for body := range due {
			if received(body) == 0 {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	var late []time.Duration
	for body, d := range due {
		r := got[body][0]
		if r.storeTs < d || r.at.UnixMilli() < d {
			t.Errorf("%s: delivered (stored %d, received %d) before due %d", body, r.storeTs, r.at.UnixMilli(), d)
		}
		late = append(late, r.at.Sub(time.UnixMilli(d)))
	}
	slices.Sort(late)
	p50, p99, worst := late[len(late)/2], late[len(late)*99/100], late[len(late)-1]
	t.Logf("%d delayed messages (levels 1-4: 100-400 ms): none early; lateness at the consumer p50 %v, p99 %v, max %v",
		n, p50.Round(time.Millisecond), p99.Round(time.Millisecond), worst.Round(time.Millisecond))
	if p99 > time.Second {
		t.Fatalf("p99 lateness %v over 1 s (T28)", p99)
	}
}
