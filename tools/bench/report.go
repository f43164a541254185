package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrFailures is wrapped by the error a run returns when any request got
// an error or a non-OK answer; the summary is printed all the same.
var ErrFailures = errors.New("bench: some requests failed")

// clockTicks is USER_HZ, the unit of /proc/PID/stat CPU times; it is 100
// on every Linux architecture Go supports.
const clockTicks = 100

// Result is the outcome of one run.
type Result struct {
	Op     string // "produce" or "consume"
	Params string // the run's settings as key=value pairs
	// Msgs counts messages acknowledged (produce) or read (consume);
	// failed ones are in Errors, never in Msgs.
	Msgs, Errors int64
	// Bytes counts message bodies in Msgs.
	Bytes int64
	// Requests counts requests answered, failed ones included.
	Requests int64
	Wall     time.Duration
	// Latency per request: P50, P99, P999 are bucket upper bounds.
	P50, P99, P999, Max time.Duration
	// CPU is this process's user+system time during the run.
	CPU time.Duration
	// BrokerCPU is the broker process's user+system time during the run,
	// or -1 when unknown; BrokerPID is that process (0 unknown).
	BrokerCPU time.Duration
	BrokerPID int
	// MachineBusy is the CPU time all processes of the machine used
	// during the run (from /proc/stat), or -1 when unknown: on a shared
	// machine, what is neither ours nor the broker's is someone else's.
	MachineBusy time.Duration
	// Bound is the verdict of which side ran out of CPU first; see bound.
	Bound      string
	FirstError string
}

// MsgsPerSec returns the throughput in messages per second.
func (r *Result) MsgsPerSec() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.Msgs) / r.Wall.Seconds()
}

// MBPerSec returns the body throughput in 10^6 bytes per second.
func (r *Result) MBPerSec() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.Bytes) / 1e6 / r.Wall.Seconds()
}

// Line formats the result as one line of key=value pairs, in a fixed
// order: latencies in microseconds, CPU in seconds and in cores used.
func (r *Result) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s msgs=%d errors=%d secs=%.2f msgs/s=%.0f MB/s=%.1f reqs=%d p50_us=%d p99_us=%d p999_us=%d max_us=%d",
		r.Op, r.Params, r.Msgs, r.Errors, r.Wall.Seconds(), r.MsgsPerSec(), r.MBPerSec(), r.Requests,
		r.P50.Microseconds(), r.P99.Microseconds(), r.P999.Microseconds(), r.Max.Microseconds())
	fmt.Fprintf(&b, " client_cpu_s=%.2f client_cores=%.2f", r.CPU.Seconds(), cores(r.CPU, r.Wall))
	if r.BrokerCPU >= 0 {
		fmt.Fprintf(&b, " broker_pid=%d broker_cpu_s=%.2f broker_cores=%.2f", r.BrokerPID, r.BrokerCPU.Seconds(), cores(r.BrokerCPU, r.Wall))
	}
	if r.MachineBusy >= 0 {
		fmt.Fprintf(&b, " machine_busy_cores=%.2f", cores(r.MachineBusy, r.Wall))
	}
	fmt.Fprintf(&b, " ncpu=%d bound=%s", runtime.NumCPU(), r.Bound)
	if r.FirstError != "" {
		fmt.Fprintf(&b, " first_error=%q", r.FirstError)
	}
	return b.String()
}

func cores(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return cpu.Seconds() / wall.Seconds()
}

// bound says what limited the run. When the machine's CPUs were nearly
// all busy it names the biggest user: "cpu:client", "cpu:broker" or
// "cpu:other" (other processes of a shared machine). "wait" means CPU was
// left idle: round trips, disk or too little concurrency bound the run.
// "in-process" means the broker shares our process and cannot be told
// apart; "unknown" that neither machine nor broker CPU could be read.
func bound(r *Result) string {
	ncpu := float64(runtime.NumCPU())
	if r.BrokerPID == os.Getpid() {
		return "in-process"
	}
	c := cores(r.CPU, r.Wall)
	b := 0.0
	if r.BrokerCPU >= 0 {
		b = cores(r.BrokerCPU, r.Wall)
	}
	busy := c + b
	if r.MachineBusy >= 0 {
		busy = max(busy, cores(r.MachineBusy, r.Wall))
	} else if r.BrokerCPU < 0 && c < 0.85*ncpu {
		return "unknown"
	}
	if busy < 0.85*ncpu {
		return "wait"
	}
	other := busy - c - b
	switch {
	case c >= b && c >= other:
		return "cpu:client"
	case b >= other:
		return "cpu:broker"
	}
	return "cpu:other"
}

// machineBusy reads the busy CPU time of the whole machine from the first
// line of /proc/stat (user nice system idle iowait irq softirq steal ...,
// in USER_HZ); -1 when it cannot.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return -1
	}
	var busy int64
	for i, v := range f[1:9] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return -1
		}
		if i != 3 && i != 4 { // idle and iowait are not busy
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / clockTicks
}

// cpuClock samples this process's and the broker's CPU time.
type cpuClock struct {
	brokerPID int
}

func (c cpuClock) self() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (c cpuClock) broker() time.Duration {
	if c.brokerPID <= 0 {
		return -1
	}
	d, err := procCPU(c.brokerPID)
	if err != nil {
		return -1
	}
	return d
}

// procCPU reads utime+stime of a process from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; fields resume after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': state is field 3 of stat(5), utime 14, stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: /proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: /proc/%d/stat: bad utime/stime", pid)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// findListener returns the pid of the local process listening on addr's
// TCP port, from /proc/net/tcp{,6} and /proc/*/fd; 0 when it cannot tell
// (not Linux, not loopback-visible, or no permission).
func findListener(addr string) int {
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return 0
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		listeningInodes(f, uint16(port), inodes)
	}
	if len(inodes) == 0 {
		return 0
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	const maxProcs = 100000 // bound the scan
	for i, p := range procs {
		if i >= maxProcs {
			break
		}
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		dir := "/proc/" + p.Name() + "/fd"
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(dir + "/" + fd.Name())
			if err != nil {
				continue
			}
			if ino, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
				return pid
			}
		}
	}
	return 0
}

// listeningInodes adds the socket inodes listening on port in a
// /proc/net/tcp-format file.
func listeningInodes(path string, port uint16, into map[string]bool) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		// sl local rem st tx:rx tr:when retrnsmt uid timeout inode
		if len(fs) < 10 || fs[3] != "0A" || !strings.HasSuffix(fs[1], want) {
			continue
		}
		into[fs[9]] = true
	}
}

// meter is what the hot path updates and the progress loop reads.
type meter struct {
	msgs, errors, bytes, reqs atomic.Int64
	firstErr                  atomic.Pointer[string]
}

func (m *meter) fail(n int64, format string, args ...any) {
	m.errors.Add(n)
	m.reqs.Add(1)
	if m.firstErr.Load() == nil {
		s := fmt.Sprintf(format, args...)
		m.firstErr.CompareAndSwap(nil, &s)
	}
}

// Tick is a snapshot of a running bench (Common.OnTick).
type Tick struct {
	Elapsed             time.Duration
	Msgs, Bytes, Errors int64
}

// progress hands a Tick to onTick every interval until stop is closed,
// and cancels the run through cancel when nothing completes for stall.
type progress struct {
	interval time.Duration
	stall    time.Duration
	m        *meter
	cancel   context.CancelCauseFunc
	onTick   func(Tick)
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startProgress(p *progress) {
	if p.interval <= 0 {
		p.interval = time.Second
	}
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go p.loop()
}

func (p *progress) loop() {
	defer p.wg.Done()
	t := time.NewTicker(p.interval)
	defer t.Stop()
	start := time.Now()
	lastChange := start
	var last int64 = -1
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			done := p.m.reqs.Load()
			if done != last {
				last, lastChange = done, now
			} else if p.stall > 0 && now.Sub(lastChange) >= p.stall {
				p.cancel(fmt.Errorf("bench: no request completed for %v", p.stall))
			}
			if p.onTick != nil {
				p.onTick(Tick{Elapsed: now.Sub(start), Msgs: p.m.msgs.Load(), Bytes: p.m.bytes.Load(), Errors: p.m.errors.Load()})
			}
		}
	}
}

func (p *progress) finish() {
	close(p.stop)
	p.wg.Wait()
}
