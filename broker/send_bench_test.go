package broker

import (
	"context"
	"testing"
	"time"

	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
)

// BenchmarkSendLoopback sends one message per iteration over loopback
// (client and broker in this process); with -benchmem its allocs/op is
// the figure to compare before and after a change to the send path.
func BenchmarkSendLoopback(b *testing.B) {
	cfg := testConfig(b.TempDir())
	br := openBroker(b, cfg)
	if err := br.Start(); err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	cli := remoting.NewClient(remoting.ClientOptions{})
	defer cli.Close()
	ext := sendExt("BenchSend", 0, props("KEYS", "k"))
	body := make([]byte, 256)
	send := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := cli.Invoke(ctx, br.Addr(), remoting.NewRequest(remoting.CodeSendMessage, ext, body))
		if err != nil || resp.Code != remoting.RespSuccess {
			b.Fatalf("send: %v %v", err, resp)
		}
	}
	send() // creates the topic
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		send()
	}
}

// TestSendAccountingAllocFree: what the send path added for metrics
// (message type, per-topic counters, the latency wrapper) allocates
// nothing once the topic is known.
func TestSendAccountingAllocFree(t *testing.T) {
	tr := newTraffic(0)
	ms := []*msg.Message{{Topic: "T", Body: make([]byte, 100)}, {Topic: "T", Body: make([]byte, 5000)}}
	p := props("KEYS", "k", "DELAY", "2")
	tr.countPut("T", messageType(p), ms)
	if n := testing.AllocsPerRun(1000, func() { tr.countPut("T", messageType(p), ms) }); n != 0 {
		t.Errorf("countPut allocates %.1f times per send", n)
	}
	b := &Broker{traffic: tr}
	resp := &remoting.Command{}
	h := b.timed(func(context.Context, *remoting.Conn, *remoting.Command) *remoting.Command { return resp })
	req := &remoting.Command{Code: remoting.CodeSendMessage}
	h(context.Background(), nil, req)
	if n := testing.AllocsPerRun(1000, func() { h(context.Background(), nil, req) }); n != 0 {
		t.Errorf("the latency wrapper allocates %.1f times per request", n)
	}
	tr.countPull("T", "G", 0, true, 2, 300, 2)
	if n := testing.AllocsPerRun(1000, func() { tr.countPull("T", "G", 0, true, 2, 300, 2) }); n != 0 {
		t.Errorf("countPull allocates %.1f times per pull", n)
	}
	s, _ := tr.topics.Lookup("T")
	if got := s.in[msgDelay].msgs.Load(); got != 2*1002 {
		t.Errorf("delay messages counted %d, want %d", got, 2*1002)
	}
	if got := s.in[msgDelay].sizes[0].Load(); got != 1002 { // <= 1 KiB
		t.Errorf("bucket 1 KiB %d", got)
	}
	if got := s.in[msgDelay].sizes[2].Load(); got != 1002 { // 4 KiB < 5000 <= 512 KiB
		t.Errorf("bucket 512 KiB %d", got)
	}
}
