package broker

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
)

// RELIABILITY T10, power loss at the broker: the whole data directory
// (CommitLog, Pebble meta, key index) lives on one crashable pebble MemFS;
// producers send over loopback with SEND_MESSAGE_V2 and, at a random moment,
// the test takes fs.CrashClone — the power cut: only synced bytes survive,
// and with UnsyncedDataPercent > 0 a random share of unsynced 4 KiB blocks
// and directory entries survives too (torn, out-of-order writes). A new
// broker then opens the clone and every message acknowledged before the cut
// is read back through PULL.

const (
	plDir     = "data"
	plClients = 4 // connections
	plPerConn = 2 // concurrent senders per connection: pipelined sends share a group commit
	plQueues  = 4
)

var plTopics = [...]string{"PowerLossA", "PowerLossB"}

var plPointsFlag = flag.Int("powerloss-points", 0, "crash points of each TestPowerLoss test (RELIABILITY T10 nightly: 200; 0: 20, 10 under -short and for TestPowerLossAsyncFlush)")

// plIntervalFlag is TestPowerLossAsyncFlush's flushIntervalCommitLog.
var plIntervalFlag = flag.Duration("powerloss-interval", 200*time.Millisecond, "flushIntervalCommitLog of TestPowerLossAsyncFlush (make stress: 500ms, the default)")

// plSize returns the crash points and the time budget of a TestPowerLoss
// test: what CI runs, less under -short, or -powerloss-points with a budget
// to match. perPoint is a generous cost of one point.
func plSize(perPoint time.Duration) (int, time.Duration) {
	points := 20
	if testing.Short() {
		points = 10
	}
	if *plPointsFlag > 0 {
		points = *plPointsFlag
	}
	return points, time.Duration(points) * perPoint
}

// plAck is one send answered SEND_OK before the power cut.
type plAck struct {
	topic  string
	queue  int32
	offset int64
	sender int
	seq    int
	size   int
	ackAt  time.Time
}

type plKey struct {
	topic  string
	queue  int32
	offset int64
}

// plPoint is the outcome of one crash point.
type plPoint struct {
	acked     int           // SEND_OK received before the cut
	late      int           // SEND_OK received after the cut began (not counted)
	lost      int           // acked but absent after recovery
	unacked   int           // recovered records that were in flight at the cut
	maxWindow time.Duration // cut time minus the ack time of the earliest lost message
	schedLag  time.Duration // the most a 10 ms sleep overslept during the load
	recovered int64         // records read back
	tornTail  int
	pct       int
}

// plBody is the body of a sender's seq-th message: a header naming it and a
// filler derived from it, so a recovered body can be checked byte by byte.
func plBody(sender, seq, size int) []byte {
	b := fmt.Appendf(make([]byte, 0, size), "pl|%02d|%08d|%06d|", sender, seq, size)
	for i := len(b); i < size; i++ {
		b = append(b, byte('a'+(sender*31+seq*7+i)%26))
	}
	return b
}

// plParse returns the sender, seq and size a body names, and whether the
// body is exactly what plBody makes for them.
func plParse(body []byte) (sender, seq, size int, ok bool) {
	f := strings.SplitN(string(body[:min(len(body), 32)]), "|", 5)
	if len(f) != 5 || f[0] != "pl" {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	sender, err1 = strconv.Atoi(f[1])
	seq, err2 = strconv.Atoi(f[2])
	size, err3 = strconv.Atoi(f[3])
	if err := errors.Join(err1, err2, err3); err != nil || size != len(body) || size > 1<<20 {
		return 0, 0, 0, false
	}
	return sender, seq, size, string(plBody(sender, seq, size)) == string(body)
}

func plSendExt(topic string, queueID int32, props string) map[string]string {
	return map[string]string{
		"a": "PowerLossPG", "b": topic, "c": "TBW102", "d": strconv.Itoa(plQueues),
		"e": strconv.Itoa(int(queueID)), "f": "0", "g": strconv.FormatInt(time.Now().UnixMilli(), 10),
		"h": "0", "i": props, "j": "0", "k": "false", "l": "0", "m": "false",
	}
}

func plConfig(flush string, interval time.Duration, segSize int64) config.Config {
	cfg := testConfig(plDir)
	cfg.FlushDiskType = flush
	cfg.FlushIntervalCommitLog = interval
	cfg.DefaultTopicQueueNums = plQueues
	cfg.MappedFileSizeCommitLog = segSize
	// In memory: a small key index (its files are zero-filled).
	cfg.MaxHashSlotNum, cfg.MaxIndexNum = 1024, 8192
	return cfg
}

// plStart opens and starts a broker over fs.
func plStart(t *testing.T, cfg config.Config, fs vfs.FS) *Broker {
	t.Helper()
	b := openBroker(t, cfg, WithFS(fs))
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatalf("start broker: %v", err)
	}
	return b
}

// plCheck runs the engine's offline check over the store in fs. The
// segment size is given: inferred from a single segment it would be the
// 1 GiB default, and the check would scan that much zero past the file.
func plCheck(t *testing.T, fs vfs.FS, cfg config.Config, what string) *engine.CheckReport {
	t.Helper()
	rep, err := engine.Check(engine.CheckOptions{FS: fs, Dir: plDir, SegmentSize: cfg.MappedFileSizeCommitLog, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("check %s: %v", what, err)
	}
	if !rep.OK() {
		t.Fatalf("check %s: problems %v (notes %v)", what, rep.Problems, rep.Notes)
	}
	return rep
}

// plLoad is the producers of one crash point.
type plLoad struct {
	addr    string
	cut     atomic.Bool  // set just before the clone: later acks do not count
	acks    atomic.Int64 // counted acks so far
	failed  atomic.Bool  // a sender failed before the cut
	stop    chan struct{}
	wg      sync.WaitGroup
	clients []*remoting.Client

	mu    sync.Mutex
	acked []plAck
	late  int
	err   error // a failure before the cut
}

func startLoad(t *testing.T, addr string, rng *rand.Rand) *plLoad {
	l := &plLoad{addr: addr, stop: make(chan struct{})}
	for c := range plClients {
		cl := remoting.NewClient(remoting.ClientOptions{Logger: testLogger(t), Language: "GO", Version: 317})
		l.clients = append(l.clients, cl)
		for k := range plPerConn {
			sender := c*plPerConn + k
			r := rand.New(rand.NewPCG(rng.Uint64(), uint64(sender)))
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				l.send(cl, sender, r)
			}()
		}
	}
	return l
}

// plMaxSends bounds one sender within one crash point.
const plMaxSends = 1 << 20

func (l *plLoad) send(cl *remoting.Client, sender int, r *rand.Rand) {
	var acked []plAck
	late := 0
	var err error
	defer func() {
		l.mu.Lock()
		l.acked = append(l.acked, acked...)
		l.late += late
		if l.err == nil && err != nil {
			l.err = err
			l.failed.Store(true)
		}
		l.mu.Unlock()
	}()
	for seq := range plMaxSends {
		select {
		case <-l.stop:
			return
		default:
		}
		topic := plTopics[r.IntN(len(plTopics))]
		queue := int32(r.IntN(plQueues))
		size := 32 + r.IntN(2000)
		if r.IntN(50) == 0 {
			size = 8<<10 + r.IntN(32<<10) // some span several 4 KiB blocks
		}
		key := fmt.Sprintf("p%02d-%08d", sender, seq)
		pr := props("UNIQ_KEY", fmt.Sprintf("%032X", sender<<40|seq), "KEYS", key)
		req := remoting.NewRequest(remoting.CodeSendMessageV2, plSendExt(topic, queue, pr), plBody(sender, seq, size))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, ierr := cl.Invoke(ctx, l.addr, req)
		cancel()
		ackAt := time.Now()
		// Read the flag after the answer arrived: if it is still clear, the
		// answer (so the broker's fsync before it) came before the clone.
		cut := l.cut.Load()
		if cut {
			if ierr == nil && resp.Code == remoting.RespSuccess {
				late++
			}
			return
		}
		if ierr != nil {
			err = fmt.Errorf("sender %d seq %d: %w", sender, seq, ierr)
			return
		}
		if resp.Code != remoting.RespSuccess {
			err = fmt.Errorf("sender %d seq %d: code %d %q", sender, seq, resp.Code, resp.Remark)
			return
		}
		q, qerr := resp.ExtInt64("queueId")
		off, oerr := resp.ExtInt64("queueOffset")
		if qerr != nil || oerr != nil || q != int64(queue) {
			err = fmt.Errorf("sender %d seq %d: response %v", sender, seq, resp.ExtFields)
			return
		}
		acked = append(acked, plAck{topic: topic, queue: queue, offset: off, sender: sender, seq: seq, size: size, ackAt: ackAt})
		l.acks.Add(1)
	}
}

// finish stops the senders once the broker they talk to is closed.
func (l *plLoad) finish() {
	close(l.stop)
	for _, c := range l.clients {
		c.Close()
	}
	l.wg.Wait()
}

// powerLossPoint runs one crash point: load, cut after a random delay,
// recover, verify. window is the allowed loss window (0: no acked loss).
func powerLossPoint(t *testing.T, rng *rand.Rand, cfg config.Config, delayMin, delayMax time.Duration, pct int, window time.Duration) plPoint {
	t.Helper()
	fs := vfs.NewCrashableMem()
	b := plStart(t, cfg, fs)
	l := startLoad(t, b.Addr(), rng)
	lag := startLagProbe()
	testkit.Within(10*time.Second, func() bool { return l.acks.Load() >= 50 || l.failed.Load() })
	// The random moment of the cut (not a synchronisation: any moment will do).
	time.Sleep(delayMin + time.Duration(rng.Int64N(int64(delayMax-delayMin)+1)))
	l.cut.Store(true)
	cutAt := time.Now()
	schedLag := lag.stop()
	crashCfg := vfs.CrashCloneCfg{UnsyncedDataPercent: pct}
	if pct > 0 {
		crashCfg.RNG = rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	}
	crashed := fs.CrashClone(crashCfg)
	b.Close()
	l.finish()
	if l.err != nil {
		t.Fatalf("before the cut: %v", l.err)
	}
	if len(l.acked) < 50 {
		t.Fatalf("only %d acks before the cut", len(l.acked))
	}
	pt := plPoint{acked: len(l.acked), late: l.late, pct: pct, schedLag: schedLag}

	// The crash image itself: no damage before the checkpoint; a torn
	// tail past it is only a note.
	pt.tornTail = plCheck(t, crashed, cfg, "of the crash image").TornTail

	want := make(map[plKey]plAck, len(l.acked))
	for _, a := range l.acked {
		k := plKey{a.topic, a.queue, a.offset}
		if prev, dup := want[k]; dup {
			t.Fatalf("two acks for %v: p%d-%d and p%d-%d", k, prev.sender, prev.seq, a.sender, a.seq)
		}
		want[k] = a
	}

	nb := plStart(t, cfg, crashed)
	defer nb.Close() // on a failure; closed (and checked) below otherwise
	waitDispatched(t, nb)
	c := newTestClient(t, nb.Addr())
	ackedSeen := map[[2]int]bool{}
	maxOff := map[plKey]int64{}
	for _, topic := range plTopics {
		for q := range int32(plQueues) {
			n := plReadQueue(t, c, topic, q, func(off int64, sender, seq, size int) {
				a, ok := want[plKey{topic, q, off}]
				if !ok {
					pt.unacked++ // in flight at the cut
				} else if a.sender != sender || a.seq != seq || a.size != size {
					t.Fatalf("%s/%d@%d holds p%d-%d, acked p%d-%d", topic, q, off, sender, seq, a.sender, a.seq)
				}
				id := [2]int{sender, seq}
				if ackedSeen[id] {
					t.Fatalf("p%d-%d recovered twice (again at %s/%d@%d)", sender, seq, topic, q, off)
				}
				ackedSeen[id] = true
			})
			maxOff[plKey{topic: topic, queue: q}] = n
			pt.recovered += n
		}
	}
	var earliest plAck
	for k, a := range want {
		if k.offset < maxOff[plKey{topic: k.topic, queue: k.queue}] {
			continue // read back above, body and all
		}
		pt.lost++
		if w := cutAt.Sub(a.ackAt); w > pt.maxWindow {
			pt.maxWindow, earliest = w, a
		}
	}
	// The interval fsync runs on a timer: when the machine is so loaded
	// that goroutines oversleep, it runs that much late too (twice: the
	// timer fires late, and the flush's own work is starved alike). That
	// is the scheduler's delay, not a missed sync, so it widens the
	// allowance; a skipped sync still costs a whole interval more.
	allowed := window
	if window > 0 {
		allowed += 2 * pt.schedLag
	}
	if pt.lost > 0 && (window == 0 || pt.maxWindow > allowed) {
		t.Errorf("%d of %d acked messages lost; the earliest, p%d-%d at %s/%d@%d, was acked %v before the cut (allowed %v: %v + 2 × %v scheduling lag)",
			pt.lost, pt.acked, earliest.sender, earliest.seq, earliest.topic, earliest.queue, earliest.offset, pt.maxWindow, allowed, window, pt.schedLag)
	}
	// The queue continues densely after recovery.
	k := plKey{topic: plTopics[0], queue: 0}
	resp := c.call(remoting.CodeSendMessageV2, plSendExt(k.topic, 0, ""), plBody(99, 0, 100))
	expectCode(t, resp, remoting.RespSuccess, "send after recovery")
	if got := extInt(t, resp, "queueOffset"); got != maxOff[k] {
		t.Errorf("send after recovery got offset %d, want %d", got, maxOff[k])
	}
	c.c.Close()
	if err := nb.Close(); err != nil {
		t.Fatalf("close recovered broker: %v", err)
	}
	if rep := plCheck(t, crashed, cfg, "after recovery"); rep.UncleanStop {
		t.Fatal("recovered broker's close was not clean")
	}
	return pt
}

// plReadQueue pulls topic/q from offset 0 to its end, checking the
// offsets are dense and each body is well formed, and returns the count.
func plReadQueue(t *testing.T, c *testClient, topic string, q int32, fn func(off int64, sender, seq, size int)) int64 {
	t.Helper()
	var off, end int64
	for i := 0; i < 1<<16; i++ {
		resp := c.call(remoting.CodePullMessage, pullExt("PowerLossCheck", topic, int(q), off, 0, 0), nil)
		if resp.Code == remoting.RespTopicNotExist && off == 0 {
			return 0 // nothing of this topic survived (checked against the acks)
		}
		if lo := extInt(t, resp, "minOffset"); lo != 0 {
			t.Fatalf("%s/%d: min offset %d", topic, q, lo)
		}
		end = extInt(t, resp, "maxOffset")
		if off >= end {
			expectCode(t, resp, remoting.RespPullNotFound, fmt.Sprintf("pull %s/%d@%d at the end", topic, q, off))
			return off
		}
		expectCode(t, resp, remoting.RespSuccess, fmt.Sprintf("pull %s/%d@%d of %d", topic, q, off, end))
		for _, r := range decodeAll(t, resp.Body) {
			if string(r.Topic) != topic || r.QueueID != q || r.QueueOffset != off {
				t.Fatalf("pull %s/%d: record %s/%d@%d where %d was due", topic, q, r.Topic, r.QueueID, r.QueueOffset, off)
			}
			sender, seq, size, ok := plParse(r.Body)
			if !ok {
				t.Fatalf("%s/%d@%d: damaged body %.40q (%d bytes)", topic, q, off, r.Body, len(r.Body))
			}
			if key, _ := r.Property("KEYS"); key != fmt.Sprintf("p%02d-%08d", sender, seq) {
				t.Fatalf("%s/%d@%d: KEYS %q for body p%d-%d", topic, q, off, key, sender, seq)
			}
			fn(off, sender, seq, size)
			off++
		}
		if next := extInt(t, resp, "nextBeginOffset"); next != off {
			t.Fatalf("pull %s/%d: nextBeginOffset %d after reading to %d", topic, q, next, off)
		}
	}
	t.Fatalf("%s/%d: no end after %d pulls", topic, q, 1<<16)
	return 0
}

// runPowerLoss repeats crash points within a time budget and logs totals.
func runPowerLoss(t *testing.T, flush string, segSize int64, interval, window, delayMin, delayMax time.Duration, points int, budget time.Duration) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 10))
	cfg := plConfig(flush, interval, segSize)
	began := time.Now()
	var total plPoint
	done := 0
	for i := range points {
		if time.Since(began) > budget {
			t.Logf("time budget %v reached after %d of %d points", budget, done, points)
			break
		}
		pct := [...]int{0, 10, 50, 90}[i%4]
		ptBegan := time.Now()
		pt := powerLossPoint(t, rng, cfg, delayMin, delayMax, pct, window)
		if t.Failed() {
			t.Fatalf("point %d (unsynced kept %d%%): acked %d, lost %d, window %v", i, pct, pt.acked, pt.lost, pt.maxWindow)
		}
		done++
		total.acked += pt.acked
		total.late += pt.late
		total.lost += pt.lost
		total.unacked += pt.unacked
		total.recovered += pt.recovered
		total.tornTail += pt.tornTail
		total.maxWindow = max(total.maxWindow, pt.maxWindow)
		total.schedLag = max(total.schedLag, pt.schedLag)
		if testing.Verbose() {
			t.Logf("point %2d: unsynced kept %2d%%, acked %5d, late %3d, lost %4d, in-flight recovered %3d, torn tail %d, max loss window %v, scheduling lag %v (took %v)",
				i, pct, pt.acked, pt.late, pt.lost, pt.unacked, pt.tornTail, pt.maxWindow.Round(time.Millisecond),
				pt.schedLag.Round(time.Millisecond), time.Since(ptBegan).Round(time.Millisecond))
		}
	}
	if done == 0 {
		t.Fatal("no crash point ran")
	}
	t.Logf("%s: %d crash points in %v: acked %d, lost %d, acked after the cut %d, in-flight recovered %d, records read back %d, torn tails %d, max loss window %v (allowed %v + 2 × scheduling lag, at most %v)",
		flush, done, time.Since(began).Round(time.Millisecond), total.acked, total.lost, total.late, total.unacked,
		total.recovered, total.tornTail, total.maxWindow.Round(time.Millisecond), window, total.schedLag.Round(time.Millisecond))
}

// TestPowerLossSyncFlush: under SYNC_FLUSH no acknowledged message is lost,
// whatever share of unsynced data the power cut keeps. Small segments, so a
// point crosses several rolls (and each MemFS sync copies only a small file).
func TestPowerLossSyncFlush(t *testing.T) {
	points, budget := plSize(600 * time.Millisecond)
	runPowerLoss(t, config.SyncFlush, 256<<10, 500*time.Millisecond, 0, 10*time.Millisecond, 250*time.Millisecond, points, budget)
}

// TestPowerLossAsyncFlush: under ASYNC_FLUSH a power cut loses only
// messages acknowledged within the last flushIntervalCommitLog (plus one
// group commit, the +50 ms). On a MemFS the segments cannot be mapped
// (no file descriptor), so this runs the buffered write path: an append is
// acknowledged once written to the file, and the interval timer fsyncs.
// Segments are large enough that most cuts fall between rolls: a roll, and
// the zero-filling of a new log's first segment, fsync the file too, which
// only makes the window shorter. Under -race the check's scan of zeroed
// segments is slow, so the segments are small there: the race run checks
// the concurrency, the plain run measures the window.
//
// make test runs 10 points with a 200 ms interval: the window checked is
// the interval of the run, so a shorter one proves the same bound in less
// time per point. make stress runs 200 points at the 500 ms default.
func TestPowerLossAsyncFlush(t *testing.T) {
	interval := *plIntervalFlag
	points, budget := plSize(4 * interval)
	if *plPointsFlag == 0 {
		points, budget = 10, 10*4*interval
	}
	segSize := int64(8 << 20)
	if raceEnabled {
		segSize = 512 << 10
	}
	runPowerLoss(t, config.AsyncFlush, segSize, interval, interval+50*time.Millisecond, interval/2, 5*interval/2, points, budget)
}

// lagProbe measures how late a sleeping goroutine wakes while the load
// runs: the same delay the broker's flush timer suffers.
type lagProbe struct {
	done chan struct{}
	max  chan time.Duration
}

func startLagProbe() *lagProbe {
	p := &lagProbe{done: make(chan struct{}), max: make(chan time.Duration, 1)}
	go func() {
		var worst time.Duration
		for {
			select {
			case <-p.done:
				p.max <- worst
				return
			default:
			}
			t0 := time.Now()
			time.Sleep(10 * time.Millisecond)
			worst = max(worst, time.Since(t0)-10*time.Millisecond)
		}
	}()
	return p
}

// stop ends the probe and returns the largest oversleep it saw.
func (p *lagProbe) stop() time.Duration {
	close(p.done)
	return <-p.max
}
