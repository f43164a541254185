package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
)

// Timings of TestSlaveStopAndStall: the master drops a silent slave after
// haHousekeepingInterval and a SYNC_MASTER send waits slaveTimeout.
const (
	stallHousekeeping = 2 * time.Second
	stallSlaveTimeout = time.Second
)

// syncAnswer is a SYNC_MASTER send as the producer saw it.
type syncAnswer struct {
	key     string
	queueID int32
	offset  int64 // queue offset
	phys    int64 // CommitLog offset, from the offset message id
	code    int16
	sent    time.Time // when the request went out
	took    time.Duration
	// slaveEnd is the slave's CommitLog end (haEnd) read right after a
	// SUCCESS: it must already cover the record.
	slaveEnd int64
}

// syncSender sends one message at a time to a group's master with raw
// SEND_MESSAGE requests and checks each answer against the slave.
type syncSender struct {
	t     *testing.T
	g     *group
	topic string
	l     *ledger // SUCCESS answers, for checkThrough
	seq   int
	all   []syncAnswer
}

// send stores one message on queue seq%4 and returns the answer; SUCCESS
// answers carry the slave's end read just after.
func (s *syncSender) send() syncAnswer {
	s.t.Helper()
	seq := s.seq
	s.seq++
	key := msgKey(0, seq)
	b := bodyUpTo(0, seq, 2<<10)
	q := seq % 4
	ext := testkit.SendHeader(s.topic, q, testkit.Props(msg.PropKeys, key))
	a := syncAnswer{key: key, queueID: int32(q), sent: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	resp, err := s.g.probe(masterNode).c.Invoke(ctx, s.g.addr(masterNode), remoting.NewRequest(remoting.CodeSendMessage, ext, b))
	cancel()
	a.took = time.Since(a.sent)
	if err != nil {
		s.t.Fatalf("send %s: %v", key, err)
	}
	a.code = resp.Code
	switch resp.Code {
	case remoting.RespSuccess, remoting.RespSlaveNotAvailable, remoting.RespFlushSlaveTimeout:
	default:
		s.t.Fatalf("send %s: code %d %s", key, resp.Code, resp.Remark)
	}
	if a.offset, err = resp.ExtInt64("queueOffset"); err != nil {
		s.t.Fatalf("send %s answered %d: queueOffset: %v", key, resp.Code, err)
	}
	id := resp.ExtStringOr("msgId", "")
	if _, a.phys, err = msg.ParseOffsetMsgID(id); err != nil {
		s.t.Fatalf("send %s answered %d: %v", key, resp.Code, err)
	}
	if a.code == remoting.RespSuccess {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		a.slaveEnd, err = s.g.slaveEnd(ctx)
		cancel()
		if err != nil {
			s.t.Fatalf("send %s answered SUCCESS; the slave's end: %v", key, err)
		}
		s.l.mu.Lock()
		s.l.acked = append(s.l.acked, acked{key: key, broker: s.g.name, topic: s.topic, queueID: a.queueID,
			offset: a.offset, seq: seq, sum: sha256.Sum256(b)})
		s.l.mu.Unlock()
	}
	s.all = append(s.all, a)
	if a.code == remoting.RespSlaveNotAvailable {
		// Answered at once: pace, not to fill the disk with unreplicated copies.
		time.Sleep(5 * time.Millisecond)
	}
	return a
}

// until sends until an answer satisfies stop or d passes (then it fails
// the test, naming what it waited for); it returns the answers in order.
func (s *syncSender) until(d time.Duration, what string, stop func(syncAnswer) bool) []syncAnswer {
	s.t.Helper()
	var got []syncAnswer
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		a := s.send()
		got = append(got, a)
		if stop(a) {
			return got
		}
	}
	s.t.Fatalf("no %s within %v; answers %s", what, d, codeCounts(got))
	return nil
}

// during sends for d and returns the answers.
func (s *syncSender) during(d time.Duration) []syncAnswer {
	s.t.Helper()
	var got []syncAnswer
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		got = append(got, s.send())
	}
	return got
}

// steady sends for d with the slave in sync: every answer must be 0.
func (s *syncSender) steady(d time.Duration, phase string) {
	s.t.Helper()
	got := s.during(d)
	for _, a := range got {
		if a.code != remoting.RespSuccess {
			s.t.Errorf("%s, slave in sync: send %s answered %d", phase, a.key, a.code)
		}
	}
}

// codeCounts is "0:n 11:n 12:n" over answers.
func codeCounts(as []syncAnswer) string {
	n := map[int16]int{}
	for _, a := range as {
		n[a.code]++
	}
	return fmt.Sprintf("0:%d 11:%d 12:%d", n[remoting.RespSuccess], n[remoting.RespSlaveNotAvailable], n[remoting.RespFlushSlaveTimeout])
}

func isCode(c int16) func(syncAnswer) bool { return func(a syncAnswer) bool { return a.code == c } }

// TestSlaveStopAndStall is issue 11's proof of SYNC_MASTER's answers when
// the slave goes away: (a) the slave stopped: 11 within
// haHousekeepingInterval and never 0 while it is down; restarted: it
// catches up and sends answer 0 again; (b) the replication link stalled
// (a TCP proxy that stops forwarding): 12 after slaveTimeout, never 0
// while stalled; resumed: 0 again. Every 0 answer is checked against the
// slave's CommitLog end read right after it (haEnd), and at the end every
// 0-answered message is read back through the slave.
func TestSlaveStopAndStall(t *testing.T) {
	skipUnderRace(t)
	checkNoOwnGoroutines(t)
	namesrv := []string{startNameServer(t).Addr()}
	nsc := remoting.NewClient(remoting.ClientOptions{Logger: quietLogger()})
	defer nsc.Close()
	g := newGroup(t, groupOpts{brokerName: "broker-a", masterRole: "SYNC_MASTER", namesrv: namesrv, haProxy: true,
		keys: map[string]string{
			"haHousekeepingInterval":  strconv.Itoa(int(stallHousekeeping.Milliseconds())),
			"slaveTimeout":            strconv.Itoa(int(stallSlaveTimeout.Milliseconds())),
			"haSendHeartbeatInterval": "500",
		}})
	g.start(t, masterNode)
	const topic = "E2E_HA_STALL"
	if err := g.probe(masterNode).createTopic(ctx5s(t), topic, 4); err != nil {
		t.Fatal(err)
	}
	g.start(t, slaveNode)
	waitRoute(t, nsc, namesrv, topic, "broker-a", map[int64]string{0: g.addr(masterNode), 1: g.addr(slaveNode)})
	s := &syncSender{t: t, g: g, topic: topic, l: &ledger{}}
	first := s.until(15*time.Second, "SEND_OK with the slave up", isCode(remoting.RespSuccess))
	t.Logf("slave up: %s until the first 0, %v after the slave's start", codeCounts(first),
		time.Since(g.procs[slaveNode].started).Round(time.Millisecond))
	s.steady(300*time.Millisecond, "slave up")

	// (a) The slave stops: 11 within haHousekeepingInterval, then only 11.
	g.terminate(t, slaveNode)
	stopped := time.Now()
	down := s.until(stallHousekeeping+stallSlaveTimeout+2*time.Second, "11 with the slave stopped", isCode(remoting.RespSlaveNotAvailable))
	firstEleven := len(down) - 1 // until returns at the first 11
	if e := down[firstEleven]; e.sent.Sub(stopped) > stallHousekeeping {
		t.Errorf("slave stopped: the first 11 came for a send made %v after the stop, want within haHousekeepingInterval %v",
			e.sent.Sub(stopped).Round(time.Millisecond), stallHousekeeping)
	}
	down = append(down, s.during(500*time.Millisecond)...)
	for _, a := range down {
		if a.code == remoting.RespSuccess {
			t.Errorf("slave stopped: send %s answered 0", a.key)
		}
	}
	for _, a := range down[firstEleven:] {
		if a.code != remoting.RespSlaveNotAvailable {
			t.Errorf("slave stopped: send %s answered %d after an 11, want 11", a.key, a.code)
		}
	}
	t.Logf("slave stopped: %s; first 11 for a send made %v after the stop", codeCounts(down),
		down[firstEleven].sent.Sub(stopped).Round(time.Millisecond))

	// The slave returns: it catches up and sends answer 0 again.
	g.start(t, slaveNode)
	back := s.until(15*time.Second, "SEND_OK after the slave's restart", isCode(remoting.RespSuccess))
	t.Logf("slave restarted: %s until the first 0, %v after its start", codeCounts(back),
		time.Since(g.procs[slaveNode].started).Round(time.Millisecond))
	s.steady(300*time.Millisecond, "slave restarted")

	// (b) The link stalls: 12 after slaveTimeout, never 0 until Resume.
	g.proxy.Stall()
	stalled := time.Now()
	held := s.during(stallHousekeeping + stallSlaveTimeout)
	if len(held) == 0 || held[0].code != remoting.RespFlushSlaveTimeout {
		t.Errorf("stalled: first answers %s, want 12 first", codeCounts(held[:min(1, len(held))]))
	}
	for _, a := range held {
		switch {
		case a.code == remoting.RespSuccess:
			t.Errorf("stalled: send %s (made %v after the stall) answered 0", a.key, a.sent.Sub(stalled).Round(time.Millisecond))
		case a.code == remoting.RespFlushSlaveTimeout && a.took < stallSlaveTimeout-50*time.Millisecond:
			t.Errorf("stalled: send %s answered 12 after %v, before slaveTimeout %v", a.key, a.took, stallSlaveTimeout)
		}
	}
	t.Logf("stalled for %v: %s (11 once the master drops the silent slave)", time.Since(stalled).Round(time.Millisecond), codeCounts(held))
	g.proxy.Resume()
	resumed := s.until(15*time.Second, "SEND_OK after Resume", isCode(remoting.RespSuccess))
	t.Logf("resumed: %s until the first 0", codeCounts(resumed))
	s.steady(300*time.Millisecond, "resumed")

	// Every 0: the slave's end read right after it covered the record.
	zeros := 0
	for _, a := range s.all {
		if a.code != remoting.RespSuccess {
			continue
		}
		zeros++
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r, err := g.probe(masterNode).pullOne(ctx, topic, a.queueID, a.offset)
		cancel()
		if err != nil {
			t.Fatalf("send %s: %v", a.key, err)
		}
		if r.PhysOffset != a.phys {
			t.Fatalf("send %s: record at CommitLog %d, msgId says %d", a.key, r.PhysOffset, a.phys)
		}
		if end := a.phys + int64(len(r.Raw)); a.slaveEnd < end {
			t.Errorf("send %s answered 0 while the slave's end was %d, before the record's end %d", a.key, a.slaveEnd, end)
		}
	}
	t.Logf("%d sends, %s; every 0 checked against haEnd", len(s.all), codeCounts(s.all))
	rep := checkThrough(t, g.probe(slaveNode), s.l, "broker-a", 10*time.Second)
	if rep.found != rep.acked || rep.acked != zeros {
		t.Errorf("slave holds %d of %d SEND_OK messages", rep.found, zeros)
	}
	g.terminate(t, slaveNode)
	g.terminate(t, masterNode)
}
