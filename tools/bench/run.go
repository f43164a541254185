package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharfmq/wharf/acl"
	"github.com/wharfmq/wharf/remoting"
)

// Defaults of Common.
const (
	DefaultConc     = 16
	DefaultWindow   = 128
	DefaultDuration = 10 * time.Second
	DefaultStall    = 10 * time.Second
)

// Common holds the settings produce and consume share.
type Common struct {
	Route
	// TLS, if set, makes every connection a TLS one.
	TLS *tls.Config
	// Conc is the number of connections (producers or consumers), each a
	// client of its own.
	Conc int
	// Window is the number of requests in flight per connection where the
	// mode pipelines (async, batch, consume).
	Window int
	// Header is "json" (default) or "rocketmq", the request header
	// serialization.
	Header string
	// Count stops the run after this many messages; Duration after this
	// long. With neither, produce runs for DefaultDuration and consume
	// reads everything stored at its start.
	Count    int64
	Duration time.Duration
	// Stall aborts the run when no request completes for this long;
	// 0 means DefaultStall.
	Stall time.Duration
	// BrokerPID is the broker process whose CPU time is reported; 0 means
	// find the process listening on the broker's port, -1 means don't.
	BrokerPID int
	// OnTick, if set, receives a snapshot every ProgressInterval (default
	// 1 s; the CLI draws its progress bar from them). It runs on the
	// goroutine that also watches for stalls.
	OnTick           func(Tick)
	ProgressInterval time.Duration
	// Logger for the remoting clients; nil discards.
	Logger *slog.Logger
	// AccessKey and SecretKey, when set, sign every request (RocketMQ's
	// plain ACL).
	AccessKey, SecretKey string
}

func (c *Common) serializeType() (remoting.SerializeType, error) {
	switch c.Header {
	case "", "json":
		return remoting.SerializeJSON, nil
	case "rocketmq":
		return remoting.SerializeRocketMQ, nil
	}
	return 0, fmt.Errorf("bench: header %q: want json or rocketmq", c.Header)
}

func (c *Common) check(defaultDuration time.Duration) error {
	if c.Conc < 0 || c.Window < 0 || c.Count < 0 || c.Duration < 0 {
		return errors.New("bench: conc, window, count and duration must not be negative")
	}
	if c.Conc == 0 {
		c.Conc = DefaultConc
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Count == 0 && c.Duration == 0 {
		c.Duration = defaultDuration
	}
	if c.Stall <= 0 {
		c.Stall = DefaultStall
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	_, err := c.serializeType()
	return err
}

func (c *Common) newClient() *remoting.Client {
	return remoting.NewClient(remoting.ClientOptions{Logger: c.Logger, TLS: c.TLS, Sign: acl.Signer(c.AccessKey, c.SecretKey)})
}

// limiter hands out message sequence numbers up to Count and until the
// duration ends.
type limiter struct {
	count   int64 // 0 = unlimited
	claimed atomic.Int64
	stopped atomic.Bool
}

// claim reserves up to n messages and returns the first sequence number
// and how many it got (0: the run is over).
func (l *limiter) claim(n int64) (seq, got int64) {
	if l.stopped.Load() {
		return 0, 0
	}
	end := l.claimed.Add(n)
	seq = end - n
	if l.count > 0 {
		if seq >= l.count {
			return 0, 0
		}
		n = min(n, l.count-seq)
	}
	return seq, n
}

// worker runs one pipeline slot until the limiter or ctx ends it. A
// transport error should cancel the run through cancel.
type worker func(ctx context.Context, cli *remoting.Client, h *Histogram, cancel context.CancelCauseFunc)

// runWorkers runs conc clients with window workers each and fills in the
// measured parts of res.
func runWorkers(ctx context.Context, c *Common, brokerAddr string, lim *limiter, m *meter, res *Result, window int, w worker) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	clients := make([]*remoting.Client, c.Conc)
	hists := make([]*Histogram, c.Conc)
	for i := range clients {
		clients[i] = c.newClient()
		hists[i] = new(Histogram)
	}
	defer func() {
		for _, cli := range clients {
			cli.Close()
		}
	}()

	pid := c.BrokerPID
	if pid == 0 {
		pid = findListener(brokerAddr)
	}
	clock := cpuClock{brokerPID: pid}
	p := &progress{interval: c.ProgressInterval, stall: c.Stall, m: m, cancel: cancel, onTick: c.OnTick}

	cpu0, bcpu0, mach0 := clock.self(), clock.broker(), machineBusy()
	start := time.Now()
	var timer *time.Timer
	if c.Duration > 0 {
		timer = time.AfterFunc(c.Duration, func() { lim.stopped.Store(true) })
	}
	startProgress(p)
	var wg sync.WaitGroup
	for i, cli := range clients {
		for range window {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w(ctx, cli, hists[i], cancel)
			}()
		}
	}
	wg.Wait()
	res.Wall = time.Since(start)
	cpu1, bcpu1, mach1 := clock.self(), clock.broker(), machineBusy()
	if timer != nil {
		timer.Stop()
	}
	p.finish()

	total := new(Histogram)
	for _, h := range hists {
		total.Merge(h)
	}
	res.Msgs, res.Errors, res.Bytes, res.Requests = m.msgs.Load(), m.errors.Load(), m.bytes.Load(), m.reqs.Load()
	res.P50, res.P99, res.P999, res.Max = total.Quantile(0.50), total.Quantile(0.99), total.Quantile(0.999), total.Max()
	res.CPU = cpu1 - cpu0
	res.BrokerCPU, res.BrokerPID = -1, 0
	if bcpu0 >= 0 && bcpu1 >= 0 {
		res.BrokerCPU, res.BrokerPID = bcpu1-bcpu0, pid
	}
	res.MachineBusy = -1
	if mach0 >= 0 && mach1 >= 0 {
		res.MachineBusy = mach1 - mach0
	}
	res.Bound = bound(res)
	if e := m.firstErr.Load(); e != nil {
		res.FirstError = *e
	}
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("bench: %s aborted: %w", res.Op, err)
	}
	if res.Errors > 0 {
		return fmt.Errorf("%w: %d of %d messages (first: %s)", ErrFailures, res.Errors, res.Errors+res.Msgs, res.FirstError)
	}
	return nil
}
