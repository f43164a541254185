package bench

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
)

// Defaults of ConsumeConfig.
const (
	DefaultConsumeGroup = "wharf-bench-consumer"
	DefaultPullBatch    = 32
	DefaultConsumeConc  = 1
	DefaultPullWindow   = 8
)

// ConsumeConfig configures RunConsume. Conc and Window default to
// DefaultConsumeConc and DefaultPullWindow.
type ConsumeConfig struct {
	Common
	// Group is the consumer group named in pulls (default
	// DefaultConsumeGroup); its stored offsets are neither read nor
	// committed.
	Group string
	// FromOffset is where every queue is read from (default 0).
	FromOffset int64
	// PullBatch is maxMsgNums of each pull (default DefaultPullBatch); the
	// broker also stops at 256 KiB.
	PullBatch int
}

func (c *ConsumeConfig) check() error {
	if c.Conc == 0 {
		c.Conc = DefaultConsumeConc
	}
	if c.Window == 0 {
		c.Window = DefaultPullWindow
	}
	if err := c.Common.check(0); err != nil {
		return err
	}
	if c.FromOffset < 0 || c.PullBatch < 0 {
		return fmt.Errorf("bench: from-offset %d and pull batch %d must not be negative", c.FromOffset, c.PullBatch)
	}
	if c.PullBatch == 0 {
		c.PullBatch = DefaultPullBatch
	}
	if c.Group == "" {
		c.Group = DefaultConsumeGroup
	}
	return nil
}

// cursor is the part of one queue not yet handed out.
type cursor struct {
	t         *target
	next, end int64
}

// pullScheduler hands out offset ranges round-robin over the queues, so
// pulls of one queue can be in flight at once. It is touched once per
// pull, not per message, so a mutex is cheap enough.
type pullScheduler struct {
	mu  sync.Mutex
	qs  []cursor
	rr  int
	lim *limiter
}

// claim returns a queue and a range [from, from+n) of it; n == 0 when
// everything is handed out or the limiter is done.
func (s *pullScheduler) claim(max int64) (t *target, from, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range len(s.qs) {
		q := &s.qs[s.rr]
		s.rr = (s.rr + 1) % len(s.qs)
		if q.next >= q.end {
			continue
		}
		want := min(max, q.end-q.next)
		if _, got := s.lim.claim(want); got > 0 {
			from = q.next
			q.next += got
			return q.t, from, got
		}
		return nil, 0, 0
	}
	return nil, 0, 0
}

// RunConsume reads the topic as cfg says, prints the summary line to out
// and returns the result. It reads up to the max offsets the queues had
// when it started (or Count messages, or for Duration). The error wraps
// ErrFailures when a pull failed or a body did not decode to the number of
// messages the broker said it holds.
func RunConsume(ctx context.Context, cfg ConsumeConfig, out io.Writer) (Result, error) {
	if err := cfg.check(); err != nil {
		return Result{}, err
	}
	st, _ := cfg.serializeType()
	admin := cfg.newClient()
	targets, err := resolve(ctx, admin, cfg.Route, false)
	if err != nil {
		admin.Close()
		return Result{}, err
	}
	lim := &limiter{count: cfg.Count}
	sched := &pullScheduler{lim: lim}
	var stored int64
	for i := range targets {
		t := &targets[i]
		max, err := maxOffset(ctx, admin, cfg.Topic, t)
		if err != nil {
			admin.Close()
			return Result{}, err
		}
		if max > cfg.FromOffset {
			sched.qs = append(sched.qs, cursor{t: t, next: cfg.FromOffset, end: max})
			stored += max - cfg.FromOffset
		}
	}
	admin.Close()
	res := Result{Op: "consume", Params: fmt.Sprintf("header=%s conc=%d window=%d pull_batch=%d queues=%d from=%d stored=%d",
		headerName(cfg.Header), cfg.Conc, cfg.Window, cfg.PullBatch, len(targets), cfg.FromOffset, stored)}
	m := &meter{}
	if len(sched.qs) == 0 {
		fmt.Fprintln(out, res.Line())
		return res, nil
	}

	w := func(ctx context.Context, cli *remoting.Client, h *Histogram, cancel context.CancelCauseFunc) {
		ext := map[string]string{
			"consumerGroup": cfg.Group, "topic": cfg.Topic, "queueId": "0", "queueOffset": "0",
			"maxMsgNums": "0", "sysFlag": "0", "commitOffset": "0", "suspendTimeoutMillis": "0",
			"subscription": "", "subVersion": "0", "expressionType": "TAG",
		}
		req := &remoting.Command{Code: remoting.CodePullMessage, ExtFields: ext, SerializeType: st}
		for {
			t, off, n := sched.claim(int64(cfg.PullBatch))
			if n == 0 || ctx.Err() != nil {
				return
			}
			// A pull may return fewer than asked (the 256 KiB cap): pull
			// the rest of the range before claiming another.
			for end := off + n; off < end; {
				ext["queueId"] = t.qid
				ext["queueOffset"] = strconv.FormatInt(off, 10)
				ext["maxMsgNums"] = strconv.FormatInt(end-off, 10)
				start := time.Now()
				resp, err := cli.Invoke(ctx, t.addr, req)
				lat := time.Since(start)
				if err != nil {
					if ctx.Err() == nil {
						m.fail(end-off, "%v", err)
						cancel(fmt.Errorf("pull from %s: %w", t.addr, err))
					}
					return
				}
				got, bytes, next, ferr := checkPull(resp, off, end)
				if ferr != nil {
					m.fail(end-off, "queue %d offset %d: %v", t.queueID, off, ferr)
					break
				}
				h.Record(lat)
				m.msgs.Add(got)
				m.bytes.Add(bytes)
				m.reqs.Add(1)
				off = next
			}
		}
	}
	err = runWorkers(ctx, &cfg.Common, targets[0].addr, lim, m, &res, cfg.Window, w)
	fmt.Fprintln(out, res.Line())
	return res, err
}

// checkPull decodes a pull answer for [off, end): it must be FOUND, move
// forward within the range, and hold exactly nextBeginOffset-off records
// with queue offsets off, off+1, .... It returns the records, their body
// bytes and the next offset.
func checkPull(resp *remoting.Command, off, end int64) (got, bytes, next int64, err error) {
	if resp.Code != remoting.RespSuccess {
		return 0, 0, 0, fmt.Errorf("code %d: %s", resp.Code, resp.Remark)
	}
	next, err = resp.ExtInt64("nextBeginOffset")
	if err != nil {
		return 0, 0, 0, err
	}
	if next <= off || next > end {
		return 0, 0, 0, fmt.Errorf("nextBeginOffset %d outside (%d, %d]", next, off, end)
	}
	body := resp.Body
	for len(body) > 0 {
		r, err := msg.Decode(body)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("record %d: %w", got, err)
		}
		if r.QueueOffset != off+got {
			return 0, 0, 0, fmt.Errorf("record %d has queue offset %d, want %d", got, r.QueueOffset, off+got)
		}
		got++
		bytes += int64(len(r.Body))
		body = body[len(r.Raw):]
	}
	if got != next-off {
		return 0, 0, 0, fmt.Errorf("decoded %d records, broker said %d", got, next-off)
	}
	return got, bytes, next, nil
}

// maxOffset asks GET_MAX_OFFSET for one queue.
func maxOffset(ctx context.Context, cli *remoting.Client, topic string, t *target) (int64, error) {
	req := remoting.NewRequest(remoting.CodeGetMaxOffset, map[string]string{"topic": topic, "queueId": t.qid}, nil)
	resp, err := invoke(ctx, cli, t.addr, req)
	if err != nil {
		return 0, fmt.Errorf("bench: max offset of %s/%d: %w", topic, t.queueID, err)
	}
	if resp.Code != remoting.RespSuccess {
		return 0, fmt.Errorf("bench: max offset of %s/%d: code %d: %s", topic, t.queueID, resp.Code, resp.Remark)
	}
	v, err := resp.ExtInt64("offset")
	if err != nil {
		return 0, fmt.Errorf("bench: max offset of %s/%d: %w", topic, t.queueID, err)
	}
	return v, nil
}
