package e2e

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
)

// pullBatch is how many records one verification pull asks for.
const pullBatch = 32

// queueOffset asks the broker for a queue's max (GET_MAX_OFFSET) or min
// (GET_MIN_OFFSET) offset.
func (pc *probeClient) queueOffset(ctx context.Context, code int16, topic string, queueID int32) (int64, error) {
	resp, err := pc.invoke(ctx, code, map[string]string{"topic": topic, "queueId": strconv.Itoa(int(queueID))})
	if err != nil {
		return 0, err
	}
	if resp.Code != remoting.RespSuccess {
		return 0, fmt.Errorf("offset of %s/%d (code %d): code %d %s", topic, queueID, code, resp.Code, resp.Remark)
	}
	return resp.ExtInt64("offset")
}

// pullFrom pulls up to pullBatch records of (topic, queue) from offset. It
// returns the records, the offset to pull next, and found=false when the
// broker has nothing at offset (PULL_NOT_FOUND, or OFFSET_MOVED with the
// offset to go on from in next).
func (pc *probeClient) pullFrom(ctx context.Context, topic string, queueID int32, offset int64) (recs []msg.Record, next int64, err error) {
	resp, err := pc.invoke(ctx, remoting.CodePullMessage, map[string]string{
		"consumerGroup": "e2e_verify", "topic": topic, "queueId": strconv.Itoa(int(queueID)),
		"queueOffset": strconv.FormatInt(offset, 10), "maxMsgNums": strconv.Itoa(pullBatch), "sysFlag": "0",
		"commitOffset": "0", "suspendTimeoutMillis": "0", "subscription": "*", "subVersion": "0", "expressionType": "TAG",
	})
	if err != nil {
		return nil, offset, err
	}
	next, _ = resp.ExtInt64("nextBeginOffset")
	switch resp.Code {
	case remoting.RespSuccess:
	case remoting.RespPullNotFound, remoting.RespPullOffsetMoved, remoting.RespPullRetryImmediately:
		return nil, next, nil
	default:
		return nil, offset, fmt.Errorf("pull %s/%d@%d: code %d %s", topic, queueID, offset, resp.Code, resp.Remark)
	}
	// The records keep pointing into the body: copy it out of the
	// client's buffer.
	for data := bytes.Clone(resp.Body); len(data) > 0; {
		r, err := msg.Decode(data)
		if err != nil {
			return nil, offset, fmt.Errorf("pull %s/%d@%d: record %d: %w", topic, queueID, offset, len(recs), err)
		}
		recs = append(recs, r)
		data = data[len(r.Raw):]
	}
	return recs, next, nil
}

// replicaReport is what checkThrough found on one broker.
type replicaReport struct {
	addr               string
	acked, found       int // acked messages of the broker, and those read back intact
	lost, mismatched   int
	stored, duplicates int // records read, and copies of a key beyond its first
	storedUnacked      int // stored keys the ledger never saw acknowledged
	storedUnconfirmed  int // of those, answered with another status (11, 12, 10)
	copies             map[string]int
	pulls              int
	elapsed            time.Duration
}

func (r replicaReport) String() string {
	return fmt.Sprintf("%s: acked %d, read back %d, lost %d, mismatched %d; stored %d, duplicates %d, "+
		"stored-unacked %d (%d answered without SEND_OK); %d pulls in %v", r.addr, r.acked, r.found, r.lost,
		r.mismatched, r.stored, r.duplicates, r.storedUnacked, r.storedUnconfirmed, r.pulls, r.elapsed.Round(time.Millisecond))
}

// duplicatesAcross counts the copies of each key beyond its first over
// several brokers' reports: a send retried on another group after a
// timeout is stored on both.
func duplicatesAcross(reps ...replicaReport) int {
	all := map[string]int{}
	for _, r := range reps {
		for k, n := range r.copies {
			all[k] += n
		}
	}
	d := 0
	for _, n := range all {
		d += n - 1
	}
	return d
}

// checkThrough reads, through the broker at pc (a master or a slave),
// every queue of broker group `broker` that the ledger holds acked
// messages in, queue by queue from its min to its max offset, and checks
// every message acked by that group: present at its acked offset with
// the acked key and body. A replica lags its master, so it first waits up
// to within for each queue's max offset to pass the highest acked one.
// Lost and mismatched messages fail the test (the first ten are named);
// the report counts them and the duplicates.
func checkThrough(t *testing.T, pc *probeClient, l *ledger, broker string, within time.Duration) replicaReport {
	t.Helper()
	start := time.Now()
	rep := replicaReport{addr: pc.addr, copies: map[string]int{}}
	l.mu.Lock()
	var mine []acked
	for _, a := range l.acked {
		if a.broker == broker {
			mine = append(mine, a)
		}
	}
	unconfirmed := map[string]bool{}
	for _, a := range l.unconfirmed {
		unconfirmed[a.key] = true
	}
	l.mu.Unlock()
	ackedKeys := make(map[string]bool, len(mine))
	byQueue := map[queueRef][]acked{}
	for _, a := range mine {
		ackedKeys[a.key] = true
		q := queueRef{a.broker, a.topic, a.queueID}
		byQueue[q] = append(byQueue[q], a)
	}
	rep.acked = len(mine)

	deadline := time.Now().Add(within)
	refs := slices.SortedFunc(maps.Keys(byQueue), func(x, y queueRef) int {
		if x.topic != y.topic {
			return cmp.Compare(x.topic, y.topic)
		}
		return int(x.queueID - y.queueID)
	})
	for _, q := range refs {
		as := byQueue[q]
		want := slices.MaxFunc(as, func(x, y acked) int { return int(x.offset - y.offset) }).offset + 1
		held, err := scanQueue(pc, q, want, deadline, &rep)
		if err != nil {
			t.Errorf("%s %s/%d: %v", pc.addr, q.topic, q.queueID, err)
		}
		for _, a := range as {
			r, ok := held[a.offset]
			if !ok {
				rep.lost++
				if rep.lost <= 10 {
					t.Errorf("%s: acked %s at %s/%s/%d@%d not readable", pc.addr, a.key, a.broker, a.topic, a.queueID, a.offset)
				}
				continue
			}
			if err := checkRecord(a, r); err != nil {
				rep.mismatched++
				if rep.mismatched <= 10 {
					t.Errorf("%s: %v", pc.addr, err)
				}
				continue
			}
			rep.found++
		}
	}
	for k, n := range rep.copies {
		rep.duplicates += n - 1
		if !ackedKeys[k] {
			rep.storedUnacked++
			if unconfirmed[k] {
				rep.storedUnconfirmed++
			}
		}
	}
	rep.elapsed = time.Since(start)
	return rep
}

// scanQueue waits (until deadline) for the queue's max offset to reach
// want, then pulls it from its min offset to its max and returns the
// records by queue offset. Keys are counted in rep.copies.
func scanQueue(pc *probeClient, q queueRef, want int64, deadline time.Time, rep *replicaReport) (map[int64]msg.Record, error) {
	call := func(f func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return f(ctx)
	}
	var lo, hi int64
	var err error
	// Past the deadline, scan what is there: the missing count as lost.
	testkit.Within(time.Until(deadline), func() bool {
		err = call(func(ctx context.Context) (e error) {
			hi, e = pc.queueOffset(ctx, remoting.CodeGetMaxOffset, q.topic, q.queueID)
			return e
		})
		return err == nil && hi >= want
	})
	if err != nil {
		return nil, fmt.Errorf("max offset: %w", err)
	}
	if err := call(func(ctx context.Context) (e error) {
		lo, e = pc.queueOffset(ctx, remoting.CodeGetMinOffset, q.topic, q.queueID)
		return e
	}); err != nil {
		return nil, fmt.Errorf("min offset: %w", err)
	}
	held := make(map[int64]msg.Record, max(0, hi-lo))
	// Every pull moves on by at least one offset, or the scan stops after
	// a few retries: the loop is bounded by the queue's length.
	retries := 0
	for off := lo; off < hi; {
		var recs []msg.Record
		var next int64
		err := call(func(ctx context.Context) (e error) {
			recs, next, e = pc.pullFrom(ctx, q.topic, q.queueID, off)
			return e
		})
		rep.pulls++
		if err != nil {
			return held, err
		}
		for _, r := range recs {
			held[r.QueueOffset] = r
			k, _ := msg.Property(string(r.Properties), msg.PropKeys)
			rep.copies[k]++
			rep.stored++
		}
		if next <= off {
			if retries++; retries > 3 {
				return held, fmt.Errorf("pull at %d of [%d, %d) makes no progress (next %d)", off, lo, hi, next)
			}
			continue
		}
		off, retries = next, 0
	}
	return held, nil
}
