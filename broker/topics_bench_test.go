package broker

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/systopic"
)

// TestManyTopicsBench creates WHARF_TOPIC_BENCH topics (e.g. 100000) with
// 127-character names by auto-creating sends from 8 connections, against a
// name server that expires a broker after 25 s (the broker refreshes every
// 10 s), and checks every second that the name server still routes
// TBW102 and the latest topic. It reports the creation rate per tenth of
// the run, the registration traffic and the process's RSS. Skipped unless
// the variable is set (see BENCHMARKS.md); not a speed assertion, except
// that the last tenth may not be more than 2x slower than the first.
func TestManyTopicsBench(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("WHARF_TOPIC_BENCH"))
	if n <= 0 {
		t.Skip("set WHARF_TOPIC_BENCH=100000 to run the many-topics benchmark")
	}
	ns := startNameServer(t, func(o *nameserver.Options) { o.BrokerExpiry, o.ScanInterval = 25*time.Second, time.Second })
	cfg := testConfig(t.TempDir())
	cfg.NamesrvAddr = ns.Addr()
	cfg.RegisterNameServerPeriod = 10 * time.Second
	cfg.MappedFileSizeCommitLog = 32 << 20
	b := startBroker(t, cfg)
	nsc := newTestClient(t, ns.Addr())
	route := func(topic string) int16 {
		return nsc.call(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": topic}, nil).Code
	}
	eventually(t, 10*time.Second, "TBW102 route", func() bool { return route(systopic.AutoCreate) == 0 })

	const conns = 8
	var next, created atomic.Int64
	var unrouted atomic.Int64
	stop := make(chan struct{})
	var checker sync.WaitGroup
	checker.Add(1)
	go func() { // the broker must stay routed throughout
		defer checker.Done()
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			if route(systopic.AutoCreate) != 0 {
				unrouted.Add(1)
			}
			if c := created.Load(); c > 0 && route(randomTopic(int(c-1)/2)) != 0 {
				unrouted.Add(1)
			}
		}
	}()
	tenth := max(n/10, 1)
	marks := make([]time.Time, 0, 11)
	var mmu sync.Mutex
	start := time.Now()
	marks = append(marks, start)
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newTestClient(t, b.Addr())
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				resp := c.call(remoting.CodeSendMessage, sendExt(randomTopic(i), 0, ""), []byte("x"))
				if resp.Code != remoting.RespSuccess {
					t.Errorf("send %d: code %d %s", i, resp.Code, resp.Remark)
					return
				}
				if done := created.Add(1); done%int64(tenth) == 0 {
					mmu.Lock()
					marks = append(marks, time.Now())
					mmu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	// Delete a topic: the whole table goes again, in parts, while the
	// checker runs; then stay for two more refresh periods.
	partsBefore := b.reg.stats.fullParts.Load()
	expectCode(t, newTestClient(t, b.Addr()).call(remoting.CodeDeleteTopicInBroker, map[string]string{"topic": randomTopic(1)}, nil),
		remoting.RespSuccess, "delete")
	eventually(t, 60*time.Second, "deleted topic unrouted", func() bool { return route(randomTopic(1)) != 0 })
	t.Logf("after a delete: whole table sent in %d parts", b.reg.stats.fullParts.Load()-partsBefore)
	time.Sleep(21 * time.Second)
	close(stop)
	checker.Wait()
	if t.Failed() {
		return
	}
	var rates []string
	for i := 1; i < len(marks); i++ {
		rates = append(rates, fmt.Sprintf("%.0f", float64(tenth)/marks[i].Sub(marks[i-1]).Seconds()))
	}
	// The name server forgets the broker: the whole table comes back, in
	// parts, at the next change.
	partsBefore = b.reg.stats.fullParts.Load()
	expectCode(t, nsc.call(remoting.CodeUnregisterBroker, map[string]string{"brokerName": cfg.BrokerName, "brokerAddr": b.Addr(),
		"clusterName": cfg.BrokerClusterName, "brokerId": "0"}, nil), remoting.RespSuccess, "unregister")
	resync := time.Now()
	newTestClient(t, b.Addr()).send("AfterForget", 0, "", "x")
	want := len(tableOf(b))
	eventually(t, 60*time.Second, "whole table back", func() bool { return len(topicList(t, nsc)) == want })
	t.Logf("whole table re-registered in %v, %d parts", time.Since(resync).Round(time.Millisecond), b.reg.stats.fullParts.Load()-partsBefore)
	st := &b.reg.stats
	t.Logf("topics=%d elapsed=%v rate_per_tenth=[%s] topics/s", n, elapsed.Round(time.Millisecond), strings.Join(rates, " "))
	t.Logf("registration: increments=%d maxIncrementBody=%dB fullParts=%d maxPartBody=%dB queries=%d unroutedChecks=%d",
		st.increments.Load(), st.maxIncrementBody.Load(), st.fullParts.Load(), st.maxPartBody.Load(), st.queries.Load(), unrouted.Load())
	t.Logf("rss: %s", rss())
	if unrouted.Load() != 0 {
		t.Errorf("the name server lacked a route %d times", unrouted.Load())
	}
	for _, topic := range []string{systopic.AutoCreate, randomTopic(0), randomTopic(n - 1), "AfterForget"} {
		if route(topic) != 0 {
			t.Errorf("no route for %s at the end", topic)
		}
	}
	if len(marks) >= 3 {
		first, last := marks[1].Sub(marks[0]), marks[len(marks)-1].Sub(marks[len(marks)-2])
		if last > 2*first {
			t.Errorf("the last tenth took %v, more than twice the first (%v)", last, first)
		}
	}
}

// rss reads the current and peak resident set of this process.
func rss() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") || strings.HasPrefix(line, "VmHWM:") {
			out = append(out, strings.Join(strings.Fields(line), " "))
		}
	}
	return strings.Join(out, ", ")
}

// randomTopic is a 127-character topic name whose tail is pseudo-random
// over the 64 legal characters, so the registration bodies compress as
// badly as an attacker's names would.
func randomTopic(i int) string {
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
	b := fmt.Appendf(nil, "T%06d-", i)
	r := rand.New(rand.NewPCG(uint64(i), 42))
	for len(b) < meta.MaxTopicLength {
		b = append(b, chars[r.IntN(len(chars))])
	}
	return string(b)
}
