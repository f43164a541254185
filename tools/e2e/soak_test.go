package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/tools/admin"
)

// Soak sizes (T23). make test runs 20 producers + 20 push consumers for
// 20 s (a run loads the broker to the send-rate cap within seconds, and
// the bars are ratios over the run's windows); make soak runs 30 min;
// the nightly run is e.g. WHARF_SOAK=30m (100 + 100 clients by default at
// that length).
var (
	soakFlag        = flag.Duration("soak", 0, "load time of TestSoak (0: $WHARF_SOAK, else 20s; make soak: 30m)")
	soakClientsFlag = flag.Int("soak-clients", 0, "producers, and as many push consumers, of TestSoak (0: $WHARF_SOAK_CLIENTS, else 20; 100 when the load runs >= 10m)")
	soakRateFlag    = flag.Int("soak-rate", 0, "cap on TestSoak's total send rate in msgs/s (0: $WHARF_SOAK_RATE, else 5000)")
)

// T23's bars.
const (
	soakMaxRSS        = 256 << 20 // RssAnon + RssShmem
	soakMaxHeap       = 128 << 20 // heapInuse
	soakGoroutineBase = 64        // goroutines <= base + perConn x connections
	soakPerConn       = 4
	soakMaxDrift      = 0.02 // goroutines, warm-up window to end window
	// soakDriftFloor: the least drift that fails, in goroutines. With
	// ~90 goroutines 2 % is under 2, while the handlers running at a
	// sample follow the load: beside the other packages' tests on the
	// 2-core CI box the medians moved by up to 3 with no leak. A leak per
	// request grows past any fixed slack over 200k sends, and one per
	// connection is caught once the clients left (soakGoroutineSlack).
	soakDriftFloor = 5
	soakFDSlack    = 5
	// soakGoroutineSlack: goroutines once the clients left, over the
	// baseline (a per-group task started by the first consumer may stay).
	soakGoroutineSlack = 3
	// RSS growth per stored byte after warm-up, while Pebble's memtables
	// are still filling (soakMaxRSSSlopeFill) and once they are all in use
	// (soakMaxRSSSlope). The consume-queue entries of one 1 KiB message
	// take ~160 B of memtable; the memtable starts at 256 KiB and doubles
	// to 64 MiB, and one flushed 64 MiB arena is kept for reuse, so RSS
	// rises until ~192 MiB of memtable (~1.3 M messages) went by and is
	// flat after that. Measured fill-phase slopes: 0.13-0.16 over 45 s,
	// 0.21 over the 20 s of make test (the small early memtables cost more per
	// entry). A broker keeping bodies (slope >= 1) fails the fill bar;
	// smaller per-message leaks fail the full bar of a long run.
	soakMaxRSSSlopeFill = 0.4
	soakMaxRSSSlope     = 0.02
	// soakMemtablesFull: stored bytes after which the memtables are all
	// allocated and touched (1.3 M records of ~1.2 KiB, rounded up).
	soakMemtablesFull = 2 << 30
)

const (
	soakTopic   = "SOAK_T"
	soakGroup   = "SOAK_CG"
	soakBody    = 1 << 10
	soakSendTTL = 5 * time.Second
)

type soakConfig struct {
	load    time.Duration
	clients int
	rate    int // msgs/s, all producers together
}

func soakSize() soakConfig {
	c := soakConfig{load: *soakFlag, clients: *soakClientsFlag, rate: *soakRateFlag}
	if c.load <= 0 {
		if d, err := time.ParseDuration(os.Getenv("WHARF_SOAK")); err == nil && d > 0 {
			c.load = d
		} else {
			c.load = 20 * time.Second
		}
	}
	if c.clients <= 0 {
		if n, err := strconv.Atoi(os.Getenv("WHARF_SOAK_CLIENTS")); err == nil && n > 0 {
			c.clients = n
		} else if c.load >= 10*time.Minute {
			c.clients = 100
		} else {
			c.clients = 20
		}
	}
	if c.rate <= 0 {
		if n, err := strconv.Atoi(os.Getenv("WHARF_SOAK_RATE")); err == nil && n > 0 {
			c.rate = n
		} else {
			c.rate = 5000
		}
	}
	return c
}

// soakSample is one look at the broker process.
type soakSample struct {
	at                                time.Duration // since the load started
	vmRSS, rssAnon, rssFile, rssShmem int64         // bytes, /proc/PID/status
	fds, storeFDs                     int           // entries of /proc/PID/fd, those of data files
	goroutines, conns                 int64         // from GET_BROKER_RUNTIME_INFO
	requestGoroutines                 int64         // handlers running and SYNC_FLUSH ackers
	heapInuse, heapLive, goSys        int64
	stored                            int64 // commitLogMaxOffset
	acked, consumed                   int64
}

// rss is the resident memory T23 bounds: anonymous plus shared-memory
// pages. Page cache is excluded: file-backed pages (RssFile) are the
// kernel's to drop, and under SYNC_FLUSH the CommitLog is written with
// write(2), not mapped, so RssFile is the binary's text; RssShmem would
// hold a shared mapping of a file on tmpfs, which the kernel cannot drop.
func (s soakSample) rss() int64 { return s.rssAnon + s.rssShmem }

// readStatus reads the memory lines of /proc/PID/status.
func readStatus(pid int, s *soakSample) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	for _, f := range []struct {
		key string
		dst *int64
	}{{"VmRSS:", &s.vmRSS}, {"RssAnon:", &s.rssAnon}, {"RssFile:", &s.rssFile}, {"RssShmem:", &s.rssShmem}} {
		i := bytes.Index(b, []byte("\n"+f.key))
		if i < 0 {
			return fmt.Errorf("pid %d status has no %s", pid, f.key)
		}
		line := b[i+1+len(f.key):]
		if j := bytes.IndexByte(line, '\n'); j >= 0 {
			line = line[:j]
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(line)), " kB"), 10, 64)
		if err != nil {
			return fmt.Errorf("pid %d status %s %q: %w", pid, f.key, line, err)
		}
		*f.dst = kb << 10
	}
	return nil
}

// fdCount is a process's open descriptors by kind.
type fdCount struct {
	total int
	// store: regular files under the data dir. The CommitLog keeps every
	// segment open and Pebble its tables, so these grow with stored bytes
	// by design and are not compared with the baseline.
	store int
	// deleted: descriptors of files already unlinked (a leak of disk space).
	deleted int
	kinds   map[string]int // socket, pipe, anon_inode, file (outside the data dir)
}

// others is what must come back to the baseline once clients leave.
func (c fdCount) others() int { return c.total - c.store }

func (c fdCount) String() string {
	return fmt.Sprintf("%d (store files %d, deleted %d, others %v)", c.total, c.store, c.deleted, c.kinds)
}

// countFDs classifies the entries of /proc/PID/fd.
func countFDs(pid int, storeDir string) (fdCount, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fdCount{}, fmt.Errorf("list fds of pid %d: %w", pid, err)
	}
	c := fdCount{kinds: map[string]int{}}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed while we listed
		}
		c.total++
		switch {
		case strings.HasSuffix(target, " (deleted)"):
			c.deleted++
			c.kinds["deleted"]++
		case strings.HasPrefix(target, storeDir+"/"):
			c.store++
		case strings.HasPrefix(target, "socket:"):
			c.kinds["socket"]++
		case strings.HasPrefix(target, "pipe:"):
			c.kinds["pipe"]++
		case strings.HasPrefix(target, "anon_inode:"):
			c.kinds["anon_inode"]++
		default:
			c.kinds["file"]++
		}
	}
	return c, nil
}

// soakProbe samples the broker process from outside (/proc) and inside
// (GET_BROKER_RUNTIME_INFO through the admin client, as `wharf admin
// broker status` does).
type soakProbe struct {
	pid   int
	addr  string
	store string // data dir
	ac    *admin.Client
}

func (p *soakProbe) sample(ctx context.Context) (soakSample, error) {
	var s soakSample
	if err := readStatus(p.pid, &s); err != nil {
		return s, err
	}
	fds, err := countFDs(p.pid, p.store)
	if err != nil {
		return s, err
	}
	s.fds, s.storeFDs = fds.total, fds.store
	tbl, err := p.ac.BrokerRuntimeInfo(ctx, p.addr)
	if err != nil {
		return s, fmt.Errorf("runtime info: %w", err)
	}
	for _, f := range []struct {
		key string
		dst *int64
	}{{"goroutines", &s.goroutines}, {"connections", &s.conns}, {"requestGoroutines", &s.requestGoroutines}, {"heapInuse", &s.heapInuse},
		{"heapLive", &s.heapLive}, {"goSys", &s.goSys}, {"commitLogMaxOffset", &s.stored}} {
		v, err := strconv.ParseInt(tbl[f.key], 10, 64)
		if err != nil {
			return s, fmt.Errorf("runtime info %s = %q: %w", f.key, tbl[f.key], err)
		}
		*f.dst = v
	}
	return s, nil
}

// latencyHist is a log-linear histogram of durations in microseconds:
// 16 linear steps per power of two, so a percentile is within ~6 %.
type latencyHist struct {
	counts [64 * 16]int64
	n      int64
}

func latencyBucket(us uint64) int {
	if us < 16 {
		return int(us)
	}
	e := bits.Len64(us) - 5 // us>>e is in [16, 32)
	return (e+1)*16 + int(us>>e) - 16
}

// bucketUpper is the largest value of bucket i, in microseconds.
func bucketUpper(i int) uint64 {
	if i < 16 {
		return uint64(i)
	}
	e := i/16 - 1
	return (uint64(i%16+16)+1)<<e - 1
}

func (h *latencyHist) add(d time.Duration) {
	h.counts[min(latencyBucket(uint64(max(d, 0)/time.Microsecond)), len(h.counts)-1)]++
	h.n++
}

func (h *latencyHist) merge(o *latencyHist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h *latencyHist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= max(rank, 1) {
			return time.Duration(bucketUpper(i)) * time.Microsecond
		}
	}
	return time.Duration(bucketUpper(len(h.counts)-1)) * time.Microsecond
}

// soakID packs (producer, seq) into the consumed set's key.
func soakID(p, seq int) uint64 { return uint64(p)<<32 | uint64(uint32(seq)) }

func soakKey(p, seq int) string { return "soak-p" + strconv.Itoa(p) + "-s" + strconv.Itoa(seq) }

func parseSoakKey(k string) (uint64, bool) {
	rest, ok := strings.CutPrefix(k, "soak-p")
	if !ok {
		return 0, false
	}
	ps, ss, ok := strings.Cut(rest, "-s")
	if !ok {
		return 0, false
	}
	p, err1 := strconv.Atoi(ps)
	s, err2 := strconv.Atoi(ss)
	if err1 != nil || err2 != nil || p < 0 || s < 0 {
		return 0, false
	}
	return soakID(p, s), true
}

// soakProducer is one official-client producer and what it was told.
type soakProducer struct {
	id       int
	acked    []int32 // seqs answered SEND_OK
	failures int
	lat      latencyHist
}

// run sends 1 KiB messages paced at one per interval until stop closes.
func (sp *soakProducer) run(send func(context.Context, ...*primitive.Message) (*primitive.SendResult, error),
	interval time.Duration, stop <-chan struct{}, ackedTotal *syncCounter) {
	b := make([]byte, soakBody)
	for i := range b {
		b[i] = byte('a' + (i+sp.id)%26)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	next := time.Now()
	for seq := 0; ; seq++ {
		// Pacing, not synchronization: wait for this send's slot.
		if wait := time.Until(next); wait > 0 {
			timer.Reset(wait)
			select {
			case <-stop:
				return
			case <-timer.C:
			}
		} else {
			select {
			case <-stop:
				return
			default:
			}
			if wait < -time.Second {
				next = time.Now() // far behind: do not burst to catch up
			}
		}
		next = next.Add(interval)
		m := primitive.NewMessage(soakTopic, b)
		m.WithKeys([]string{soakKey(sp.id, seq)})
		ctx, cancel := context.WithTimeout(context.Background(), soakSendTTL)
		start := time.Now()
		res, err := send(ctx, m)
		d := time.Since(start)
		cancel()
		if err != nil || res == nil || res.Status != primitive.SendOK {
			sp.failures++
			continue
		}
		sp.lat.add(d)
		sp.acked = append(sp.acked, int32(seq))
		ackedTotal.add(1)
	}
}

type syncCounter struct {
	mu sync.Mutex
	n  int64
}

func (c *syncCounter) add(d int64) {
	c.mu.Lock()
	c.n += d
	c.mu.Unlock()
}

func (c *syncCounter) load() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// consumedSet counts deliveries by unique key.
type consumedSet struct {
	mu         sync.Mutex
	seen       map[uint64]struct{}
	deliveries int64
	foreign    int64 // messages without a soak key
}

func (c *consumedSet) add(ms []*primitive.MessageExt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range ms {
		c.deliveries++
		id, ok := parseSoakKey(m.GetKeys())
		if !ok {
			c.foreign++
			continue
		}
		c.seen[id] = struct{}{}
	}
}

func (c *consumedSet) unique() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int64(len(c.seen))
}

// missing returns how many acked messages were not consumed, and a few.
func (c *consumedSet) missing(ps []*soakProducer) (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	var some []string
	for _, p := range ps {
		for _, seq := range p.acked {
			if _, ok := c.seen[soakID(p.id, int(seq))]; !ok {
				n++
				if len(some) < 5 {
					some = append(some, soakKey(p.id, int(seq)))
				}
			}
		}
	}
	return n, some
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// window returns the samples with at in [from, to].
func window(ss []soakSample, from, to time.Duration) []soakSample {
	var out []soakSample
	for _, s := range ss {
		if s.at >= from && s.at <= to {
			out = append(out, s)
		}
	}
	return out
}

func maxOf(ss []soakSample, f func(soakSample) int64) int64 {
	m := int64(math.MinInt64)
	for _, s := range ss {
		m = max(m, f(s))
	}
	return m
}

func medianOf(ss []soakSample, f func(soakSample) int64) int64 {
	v := make([]int64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// slope is the least-squares slope of y over x.
func slope(ss []soakSample, x, y func(soakSample) int64) float64 {
	n := float64(len(ss))
	var sx, sy, sxx, sxy float64
	for _, s := range ss {
		xv, yv := float64(x(s)), float64(y(s))
		sx += xv
		sy += yv
		sxx += xv * xv
		sxy += xv * yv
	}
	den := n*sxx - sx*sx
	if n < 2 || den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

// fsyncFloor times 1 KiB appends each followed by fdatasync in dir: what
// one SYNC_FLUSH acknowledgement cannot beat on this disk.
func fsyncFloor(dir string, n int) (p50, p99 time.Duration, err error) {
	f, err := os.CreateTemp(dir, "fsync-floor-")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	b := make([]byte, soakBody)
	ds := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := f.Write(b); err != nil {
			return 0, 0, fmt.Errorf("fsync floor write: %w", err)
		}
		if err := fdatasync(f); err != nil {
			return 0, 0, fmt.Errorf("fsync floor fdatasync: %w", err)
		}
		ds = append(ds, time.Since(start))
	}
	return percentile(ds, 0.5), percentile(ds, 0.99), nil
}

// TestSoak is T23: N official-client producers send 1 KiB messages
// synchronously to a SYNC_FLUSH broker process while N push consumers of
// one group consume them, for a bounded time. The broker is sampled from
// /proc (RSS, FDs) and through GET_BROKER_RUNTIME_INFO (goroutines, heap,
// connections, stored bytes). Checked:
//   - RSS (RssAnon + RssShmem, see soakSample.rss) <= 256 MiB throughout,
//     and its least-squares slope over stored bytes after warm-up below
//     0.02 once Pebble's memtables are all allocated, 0.4 before (a CI run
//     stores too little to get there; see soakMaxRSSSlopeFill);
//   - heapInuse <= 128 MiB throughout;
//   - goroutines <= 64 + 4 x connections throughout, and the window after
//     warm-up and the last window within 2 % of each other, counting
//     goroutines less those the broker reports as
//     request goroutines (handlers running, SYNC_FLUSH ackers), and
//     comparing the medians of the two windows: pull and heartbeat
//     handlers run in short-lived goroutines whose number follows the
//     load, and the two figures are read at slightly different instants;
//     a leak raises the median;
//   - goroutines back to the baseline + 3 once the clients left (polled);
//   - FDs other than the data files' back to the pre-client baseline +- 5
//     once every client shut down (polled: connections close
//     asynchronously), and none on a deleted file. Data files are counted
//     apart: the CommitLog keeps each segment open, so they grow with
//     stored bytes by design (one per 64 MiB segment here);
//   - every message answered SEND_OK consumed at least once, by key.
//
// SYNC_FLUSH send latency p50/p99 is reported next to the fsync floor of
// the same disk.
func TestSoak(t *testing.T) {
	skipUnderRace(t)
	checkNoOwnGoroutines(t)
	cfg := soakSize()
	ns := startNameServer(t)
	setup := newBrokerSetup(t, ns.Addr(), "SYNC_FLUSH")
	pc := newProbe(setup.addr)
	defer pc.Close()
	nsc := remoting.NewClient(remoting.ClientOptions{Logger: quietLogger()})
	defer nsc.Close()
	proc := setup.startWithTopics(t, pc)
	queues := max(cfg.clients, queuesPerTop)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := pc.createTopic(ctx, soakTopic, queues)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := proc.until(10*time.Second, func(ctx context.Context) error {
		return routed(ctx, nsc, ns.Addr(), soakTopic, setup.addr)
	}); err != nil {
		t.Fatal(err)
	}
	ac := admin.New(admin.Options{Namesrv: ns.Addr(), Logger: quietLogger()})
	defer ac.Close()
	store, err := filepath.EvalSymlinks(setup.store)
	if err != nil {
		t.Fatal(err)
	}
	probe := &soakProbe{pid: proc.cmd.Process.Pid, addr: setup.addr, store: store, ac: ac}
	sampleNow := func() soakSample {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := probe.sample(ctx)
		if err != nil {
			t.Fatalf("sample broker: %v", err)
		}
		return s
	}
	base := sampleNow()
	baseFDs, err := countFDs(probe.pid, probe.store)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("T23 soak: %d producers + %d push consumers, %d B bodies, SYNC_FLUSH, load %v, send rate cap %d msgs/s, %d queues",
		cfg.clients, cfg.clients, soakBody, cfg.load, cfg.rate, queues)
	t.Logf("baseline (no clients): RSS anon+shmem %s (VmRSS %s, file %s), heapInuse %s, goroutines %d, connections %d, FDs %v",
		mib(base.rss()), mib(base.vmRSS), mib(base.rssFile), mib(base.heapInuse), base.goroutines, base.conns, baseFDs)

	// Consumers first, so they are subscribed before the first send.
	consumed := &consumedSet{seen: make(map[uint64]struct{}, 1<<16)}
	resolver := primitive.NewPassthroughResolver([]string{ns.Addr()})
	type shutdowner interface{ Shutdown() error }
	var consumers []shutdowner
	shutdownAll := func(what string, cs []shutdowner) {
		t.Helper()
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Go(func() { _ = c.Shutdown() })
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("%d %s did not shut down within 30 s", len(cs), what)
		}
	}
	defer func() { shutdownAll("consumers", consumers) }() // on a failure path; a second Shutdown is a no-op
	for i := range cfg.clients {
		c, err := consumer.NewPushConsumer(consumer.WithGroupName(soakGroup), consumer.WithNsResolver(resolver),
			consumer.WithInstance(fmt.Sprintf("soak-c-%d", i)), consumer.WithConsumerModel(consumer.Clustering),
			consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
		if err != nil {
			t.Fatalf("consumer %d: %v", i, err)
		}
		err = c.Subscribe(soakTopic, consumer.MessageSelector{}, func(_ context.Context, ms ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			consumed.add(ms)
			return consumer.ConsumeSuccess, nil
		})
		if err != nil {
			t.Fatalf("consumer %d subscribe: %v", i, err)
		}
		if err := c.Start(); err != nil {
			t.Fatalf("consumer %d start: %v", i, err)
		}
		consumers = append(consumers, c)
	}

	producers := make([]*soakProducer, cfg.clients)
	var prodClients []shutdowner
	defer func() { shutdownAll("producers", prodClients) }()
	sends := make([]func(context.Context, ...*primitive.Message) (*primitive.SendResult, error), cfg.clients)
	for i := range producers {
		p, err := producer.NewDefaultProducer(producer.WithNsResolver(primitive.NewPassthroughResolver([]string{ns.Addr()})),
			producer.WithGroupName("SOAK_PG"), producer.WithInstanceName(fmt.Sprintf("soak-p-%d", i)),
			producer.WithRetry(2), producer.WithSendMsgTimeout(soakSendTTL))
		if err != nil {
			t.Fatalf("producer %d: %v", i, err)
		}
		if err := p.Start(); err != nil {
			t.Fatalf("producer %d start: %v", i, err)
		}
		producers[i] = &soakProducer{id: i}
		sends[i] = p.SendSync
		prodClients = append(prodClients, p)
	}

	// Load and sampling.
	interval := time.Duration(float64(time.Second) * float64(cfg.clients) / float64(cfg.rate))
	// Frequent samples give the goroutine windows enough points for a
	// stable minimum; at most ~300 samples.
	every := max(250*time.Millisecond, cfg.load/300)
	acked := &syncCounter{}
	stop := make(chan struct{})
	var prodWG sync.WaitGroup
	loadStart := time.Now()
	for i, sp := range producers {
		prodWG.Go(func() { sp.run(sends[i], interval, stop, acked) })
	}
	var samples []soakSample
	var sampleErr error
	tick := time.NewTicker(every)
	for deadline := loadStart.Add(cfg.load); time.Now().Before(deadline); {
		<-tick.C
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := probe.sample(ctx)
		cancel()
		if err != nil {
			sampleErr = err
			break
		}
		s.at = time.Since(loadStart)
		s.acked, s.consumed = acked.load(), consumed.unique()
		samples = append(samples, s)
	}
	tick.Stop()
	close(stop)
	stopped := make(chan struct{})
	go func() { prodWG.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * soakSendTTL):
		t.Fatalf("producers did not stop within %v", 2*soakSendTTL)
	}
	loadTime := time.Since(loadStart)
	if sampleErr != nil {
		t.Fatalf("sample broker during load: %v", sampleErr)
	}
	if len(samples) < 6 {
		t.Fatalf("only %d samples in %v", len(samples), cfg.load)
	}

	// Every acked message consumed at least once.
	var ackedN, failures int
	lat := &latencyHist{}
	for _, p := range producers {
		ackedN += len(p.acked)
		failures += p.failures
		lat.merge(&p.lat)
	}
	drainStart := time.Now()
	var missing int
	var someMissing []string
	for deadline := drainStart.Add(60 * time.Second); ; {
		missing, someMissing = consumed.missing(producers)
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // poll; the consumers run on
	}
	drain := time.Since(drainStart)
	consumed.mu.Lock()
	deliveries, unique, foreign := consumed.deliveries, len(consumed.seen), consumed.foreign
	consumed.mu.Unlock()

	// Everyone leaves; the broker's FDs must come back.
	leaveStart := time.Now()
	shutdownAll("consumers", consumers)
	shutdownAll("producers", prodClients)
	consumers, prodClients = nil, nil
	shutdownTime := time.Since(leaveStart)
	var fdsAfter fdCount
	fdsBack := func(c fdCount) bool {
		return c.deleted == 0 && c.others() >= baseFDs.others()-soakFDSlack && c.others() <= baseFDs.others()+soakFDSlack
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		fdsAfter, err = countFDs(probe.pid, probe.store)
		if err != nil {
			t.Fatal(err)
		}
		if fdsBack(fdsAfter) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	fdBack := time.Since(leaveStart)
	// Goroutines back too: a leak per connection shows here, as the
	// connections do not churn under load.
	var after soakSample
	for deadline := time.Now().Add(10 * time.Second); ; {
		after = sampleNow()
		if after.goroutines <= base.goroutines+soakGoroutineSlack || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	floor50, floor99, err := fsyncFloor(setup.dir, 200)
	if err != nil {
		t.Fatal(err)
	}

	// Report.
	last := samples[len(samples)-1]
	stride := max(1, len(samples)/40)
	t.Logf("series (every %v, %d samples; RSS = anon+shmem):", every, len(samples))
	t.Logf("  %7s %11s %11s %11s %11s %11s %10s %5s %5s %4s %5s %9s %9s", "t", "stored", "RSS", "VmRSS", "heapInuse",
		"heapLive", "goSys", "gor", "conns", "fds", "store", "acked", "consumed")
	for i, s := range samples {
		if i%stride != 0 && i != len(samples)-1 {
			continue
		}
		t.Logf("  %7s %11s %11s %11s %11s %11s %10s %5d %5d %4d %5d %9d %9d", s.at.Round(time.Second), mib(s.stored-base.stored),
			mib(s.rss()), mib(s.vmRSS), mib(s.heapInuse), mib(s.heapLive), mib(s.goSys), s.goroutines, s.conns, s.fds,
			s.storeFDs, s.acked, s.consumed)
	}
	t.Logf("load %v: acked %d (%.0f msgs/s), failed sends %d, stored %s; consumed %d unique of %d deliveries (%d duplicates, %d foreign), "+
		"drain after last send %v", loadTime.Round(time.Millisecond), ackedN, float64(ackedN)/loadTime.Seconds(), failures,
		mib(last.stored-base.stored), unique, deliveries, deliveries-int64(unique), foreign, drain.Round(time.Millisecond))
	t.Logf("SYNC_FLUSH send latency (client SendSync, %d sends): p50 %v p99 %v max-bucket %v; fsync floor (1 KiB append + fdatasync, same disk, idle): p50 %v p99 %v",
		lat.n, lat.quantile(0.5), lat.quantile(0.99), lat.quantile(1), floor50.Round(time.Microsecond), floor99.Round(time.Microsecond))

	// Checks.
	warm := cfg.load / 4
	span := max(3*every, cfg.load/8)
	early := window(samples, warm, warm+span)
	late := window(samples, last.at-span, last.at)
	post := window(samples, warm, last.at)
	if len(early) == 0 || len(late) == 0 {
		t.Fatalf("no samples in the warm-up window (%d) or the end window (%d)", len(early), len(late))
	}
	rss := func(s soakSample) int64 { return s.rss() }
	maxRSS, maxHeap := maxOf(samples, rss), maxOf(samples, func(s soakSample) int64 { return s.heapInuse })
	rssSlope := slope(post, func(s soakSample) int64 { return s.stored }, rss)
	storedPost := last.stored - post[0].stored
	slopeBar, phase := soakMaxRSSSlopeFill, "memtables still filling"
	if post[0].stored-base.stored >= soakMemtablesFull {
		slopeBar, phase = soakMaxRSSSlope, "memtables full"
	}
	t.Logf("RSS (anon+shmem): max %s (bar %s); after warm-up (%v, %s stored) %s -> end %s over %s more stored, "+
		"slope %.4f B RSS per stored B (bar %.2f, %s); VmRSS max %s", mib(maxRSS), mib(soakMaxRSS), warm,
		mib(post[0].stored-base.stored), mib(medianOf(early, rss)), mib(medianOf(late, rss)), mib(storedPost), rssSlope,
		slopeBar, phase, mib(maxOf(samples, func(s soakSample) int64 { return s.vmRSS })))
	t.Logf("heap: heapInuse max %s (bar %s); heapLive max %s; goSys max %s", mib(maxHeap), mib(soakMaxHeap),
		mib(maxOf(samples, func(s soakSample) int64 { return s.heapLive })), mib(maxOf(samples, func(s soakSample) int64 { return s.goSys })))
	if maxRSS > soakMaxRSS {
		t.Errorf("broker RSS (anon+shmem) reached %s, bar %s", mib(maxRSS), mib(soakMaxRSS))
	}
	if storedPost > 0 && rssSlope > slopeBar {
		t.Errorf("broker RSS grows with stored bytes: %.4f B per stored B after warm-up (bar %.2f, %s)", rssSlope, slopeBar, phase)
	}
	if maxHeap > soakMaxHeap {
		t.Errorf("broker heapInuse reached %s, bar %s", mib(maxHeap), mib(soakMaxHeap))
	}

	// The drift is taken on the goroutines that must stay flat: the
	// broker's own and one reader per connection. Request handlers and
	// SYNC_FLUSH ackers come and go with the load (more of them when the
	// machine is busier), which on a shared 2-core box moves the raw
	// count by more than 2 % without any leak; a leak shows here.
	gor := func(s soakSample) int64 { return s.goroutines - s.requestGoroutines }
	raw := func(s soakSample) int64 { return s.goroutines }
	var worst soakSample
	worstHead := int64(math.MinInt64)
	for _, s := range samples {
		if h := s.goroutines - (soakGoroutineBase + soakPerConn*s.conns); h > worstHead {
			worst, worstHead = s, h
		}
	}
	g0, g1 := medianOf(early, gor), medianOf(late, gor)
	drift := math.Abs(float64(g1-g0)) / float64(g0)
	t.Logf("goroutines: max %d at %d connections (bar %d + %d x conns = %d at that sample); median less handlers and ackers after warm-up %d "+
		"[%v..%v] -> end %d [%v..%v], drift %.2f %% (bar %.0f %% and %d goroutines); raw medians %d -> %d; after clients left %d (baseline %d, bar + %d)",
		worst.goroutines, worst.conns, soakGoroutineBase, soakPerConn, soakGoroutineBase+soakPerConn*worst.conns, g0,
		early[0].at.Round(time.Second), early[len(early)-1].at.Round(time.Second), g1, late[0].at.Round(time.Second),
		last.at.Round(time.Second), 100*drift, 100*soakMaxDrift, soakDriftFloor, medianOf(early, raw), medianOf(late, raw), after.goroutines, base.goroutines, soakGoroutineSlack)
	if worstHead > 0 {
		t.Errorf("%d goroutines at %d connections exceed %d + %d x connections", worst.goroutines, worst.conns,
			soakGoroutineBase, soakPerConn)
	}
	if drift >= soakMaxDrift && abs64(g1-g0) >= soakDriftFloor {
		t.Errorf("goroutines (less handlers and ackers) drifted %.2f %% from a median of %d after warm-up to %d at the end (bar %.0f %%)", 100*drift, g0, g1, 100*soakMaxDrift)
	}
	if after.goroutines > base.goroutines+soakGoroutineSlack {
		t.Errorf("%d goroutines 10 s after the clients left, baseline %d + %d", after.goroutines, base.goroutines, soakGoroutineSlack)
	}

	t.Logf("FDs: baseline %v; max under load %d; %v at %v after the clients began to leave (their shutdown took %v); "+
		"non-store FDs %d -> %d (bar +- %d); store files open %d -> %d over %s stored; connections %d -> %d; RSS after %s",
		baseFDs, maxOf(samples, func(s soakSample) int64 { return int64(s.fds) }), fdsAfter, fdBack.Round(time.Millisecond),
		shutdownTime.Round(time.Millisecond), baseFDs.others(), fdsAfter.others(), soakFDSlack, baseFDs.store, fdsAfter.store,
		mib(last.stored-base.stored), base.conns, after.conns, mib(after.rss()))
	if !fdsBack(fdsAfter) {
		t.Errorf("30 s after the clients left the broker holds %d FDs besides its data files (baseline %d +- %d) and %d of deleted files",
			fdsAfter.others(), baseFDs.others(), soakFDSlack, fdsAfter.deleted)
	}

	if ackedN == 0 {
		t.Error("nothing was acked: the load did not run")
	}
	if missing > 0 {
		t.Errorf("%d of %d acked messages not consumed within 60 s of the last send, e.g. %v", missing, ackedN, someMissing)
	}
	if t.Failed() {
		t.Logf("broker log tail:\n%s", proc.logTail())
	}
}

// TestSoakLatencyHist checks the histogram's buckets against a sort.
func TestSoakLatencyHist(t *testing.T) {
	var h latencyHist
	var ds []time.Duration
	for i := range 10000 {
		d := time.Duration(i*i%99991) * time.Microsecond
		h.add(d)
		ds = append(ds, d)
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 1} {
		got, want := h.quantile(q), percentile(ds, q)
		if got < want || float64(got) > 1.07*float64(want)+float64(time.Microsecond) {
			t.Errorf("q%.2f: %v, exact %v", q, got, want)
		}
	}
	for us := range uint64(1 << 16) {
		if b := latencyBucket(us); bucketUpper(b) < us || (b > 0 && bucketUpper(b-1) >= us) {
			t.Fatalf("%d us in bucket %d of upper %d", us, b, bucketUpper(b))
		}
	}
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
