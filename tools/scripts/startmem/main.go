// Command startmem measures how fast `wharf standalone` starts serving and
// how much memory it holds idle, under `wharf bench` load and after it, for
// BENCHMARKS.md ("Startup and memory"). It runs bin/wharf as a child on
// free loopback ports, so the figures are those of the real binary:
//
//	make build && go run ./tools/scripts/startmem -bin ./bin/wharf -data /tmp/wharf-startmem
//
// Phases: start on an empty data dir; idle; bench produce async and batch
// (1 KiB, -load each) and bench consume, sampling RSS every 100 ms; idle
// after the load; fill the CommitLog to -fill-gib; clean stop (SIGTERM) and
// restart on that data; kill -9 and restart (crash recovery). With -cold
// (root only) the page cache is dropped before each of those restarts. The
// data dir is removed first and left behind at the end.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wharfmq/wharf/remoting"
)

var (
	bin     = flag.String("bin", "./bin/wharf", "wharf binary")
	data    = flag.String("data", "/tmp/wharf-startmem", "data dir (removed first)")
	load    = flag.Duration("load", 10*time.Second, "duration of each produce load")
	fillGiB = flag.Float64("fill-gib", 1, "CommitLog size to reach before the restarts")
	idle    = flag.Duration("idle", 3*time.Second, "wait before an idle RSS sample")
	settle  = flag.Duration("settle", 5*time.Second, "wait between load phases")
	window  = flag.Int("window", 128, "bench --window (requests in flight per connection)")
	conf    = flag.String("conf", "", "broker.conf to pass with -c (e.g. flushDiskType=SYNC_FLUSH)")
	repeat  = flag.Int("repeat", 5, "starts measured per case (fresh, after a clean stop, after kill -9)")
	cold    = flag.Bool("cold", false, "drop the page cache before each restart on the filled data (needs root)")
)

func main() {
	flag.Parse()
	*repeat = max(*repeat, 1)
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "startmem:", err)
		os.Exit(1)
	}
}

// proc is a running `wharf standalone`.
type proc struct {
	cmd          *exec.Cmd
	ns, broker   string
	serveTime    time.Duration // start → the broker answers
	routeTime    time.Duration // start → the name server routes TBW102 to it
	exited       chan struct{}
	stderrClosed chan struct{}
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start runs the binary and polls (every 1 ms, at most 60 s) until the
// broker answers GET_MAX_OFFSET and the name server has a route to it.
func start(rc *remoting.Client) (*proc, error) {
	ns, err := freePort()
	if err != nil {
		return nil, err
	}
	br, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &proc{ns: ns, broker: br, exited: make(chan struct{}), stderrClosed: make(chan struct{})}
	args := []string{"standalone", "--data", *data, "--listen", br, "--namesrv-listen", ns, "--metrics", "127.0.0.1:0"}
	if *conf != "" {
		args = append(args, "-c", *conf)
	}
	p.cmd = exec.Command(*bin, args...)
	logf, err := os.OpenFile(logPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	p.cmd.Stderr = logf
	t0 := time.Now()
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { p.cmd.Wait(); logf.Close(); close(p.exited) }()
	deadline := t0.Add(60 * time.Second)
	ask := func(addr string, req *remoting.Command) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		resp, err := rc.Invoke(ctx, addr, req)
		return err == nil && resp.Code == remoting.RespSuccess && (req.Code != remoting.CodeGetRouteInfoByTopic || strings.Contains(string(resp.Body), br))
	}
	for p.serveTime == 0 || p.routeTime == 0 {
		if time.Now().After(deadline) {
			p.kill()
			return nil, errors.New("wharf did not serve within 60 s")
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("wharf exited: %v", p.cmd.ProcessState)
		default:
		}
		if p.serveTime == 0 && ask(br, remoting.NewRequest(remoting.CodeGetMaxOffset, map[string]string{"topic": "TBW102", "queueId": "0"}, nil)) {
			p.serveTime = time.Since(t0)
		}
		if p.routeTime == 0 && ask(ns, remoting.NewRequest(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": "TBW102"}, nil)) {
			p.routeTime = time.Since(t0)
		}
		time.Sleep(time.Millisecond)
	}
	return p, nil
}

// stop sends sig and waits at most 60 s.
func (p *proc) stop(sig os.Signal) (time.Duration, error) {
	t0 := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		return 0, err
	}
	select {
	case <-p.exited:
		if sig != os.Kill && !p.cmd.ProcessState.Success() {
			return 0, fmt.Errorf("wharf exit: %v", p.cmd.ProcessState)
		}
		return time.Since(t0), nil
	case <-time.After(60 * time.Second):
		p.kill()
		return 0, errors.New("wharf did not stop within 60 s")
	}
}

func (p *proc) kill() { p.cmd.Process.Kill(); <-p.exited }

// mem is one /proc/PID/status sample, in KiB.
type mem struct{ rss, anon, file, hwm int64 }

// String renders the sample in MiB.
func (m mem) String() string {
	return fmt.Sprintf("RSS %s (anon %s, file %s), peak %s", mib(m.rss), mib(m.anon), mib(m.file), mib(m.hwm))
}

func mib(kib int64) string { return fmt.Sprintf("%.0f MiB", float64(kib)/1024) }

func sample(pid int) (mem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return mem{}, err
	}
	var m mem
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.rss = n
		case "RssAnon":
			m.anon = n
		case "RssFile":
			m.file = n
		case "VmHWM":
			m.hwm = n
		}
	}
	return m, nil
}

// underLoad runs a bench command while sampling the broker's RSS every
// 100 ms; it returns the largest sample and the bench's summary line.
func underLoad(pid int, args ...string) (mem, string, error) {
	cmd := exec.Command(*bin, append([]string{"bench"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return mem{}, "", err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return mem{}, "", err
	}
	var summary string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			summary = sc.Text()
		}
	}()
	done := make(chan error, 1)
	go func() { wg.Wait(); done <- cmd.Wait() }()
	var peak mem
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			s, _ := sample(pid)
			peak.hwm = s.hwm
			return peak, summary, err
		case <-t.C:
			if s, err := sample(pid); err == nil && s.rss > peak.rss {
				peak = s
			}
		}
	}
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// idleSample waits d and samples.
func idleSample(p *proc, d time.Duration) (mem, error) {
	time.Sleep(d)
	return sample(p.cmd.Process.Pid)
}

func run() error {
	if err := os.RemoveAll(*data); err != nil {
		return err
	}
	rc := remoting.NewClient(remoting.ClientOptions{Logger: slog.New(slog.DiscardHandler)})
	defer rc.Close()
	report := func(format string, a ...any) { fmt.Printf(format+"\n", a...) }
	load1, _ := os.ReadFile("/proc/loadavg")
	report("machine: %d CPUs, loadavg %s", runtime.NumCPU(), strings.TrimSpace(string(load1)))

	var p *proc
	var times []*proc
	for i := range *repeat {
		if err := os.RemoveAll(*data); err != nil {
			return err
		}
		var err error
		if p, err = start(rc); err != nil {
			return err
		}
		times = append(times, p)
		if i < *repeat-1 {
			if _, err := p.stop(syscall.SIGTERM); err != nil {
				return err
			}
		}
	}
	report("fresh data dir, %s", startTimes(times))
	pid := p.cmd.Process.Pid
	m, err := idleSample(p, *idle)
	if err != nil {
		return err
	}
	report("idle after start (+%v): %v", *idle, m)

	b := "--broker=" + p.broker
	w := "--window=" + strconv.Itoa(*window)
	for i, mode := range []string{"async", "batch"} {
		if i > 0 {
			if m, err = idleSample(p, *settle); err != nil {
				return err
			}
			report("idle before the next load (+%v): %v", *settle, m)
		}
		peak, sum, err := underLoad(pid, "produce", b, w, "--topic=StartMem", "--mode="+mode, "--size=1024", "--duration="+load.String(), "--quiet")
		if err != nil {
			return fmt.Errorf("bench produce %s: %w", mode, err)
		}
		report("under produce %s 1 KiB %v: largest sample %v\n  %s", mode, *load, peak, sum)
	}
	if m, err = idleSample(p, *settle); err != nil {
		return err
	}
	report("idle before the next load (+%v): %v", *settle, m)
	peak, sum, err := underLoad(pid, "consume", b, "--topic=StartMem", "--duration=20s", "--quiet")
	if err != nil {
		return fmt.Errorf("bench consume: %w", err)
	}
	report("under consume: largest sample %v\n  %s", peak, sum)
	for _, d := range []time.Duration{5 * time.Second, 25 * time.Second} {
		if m, err = idleSample(p, d); err != nil {
			return err
		}
		report("after the load (+%v more): %v", d, m)
	}

	// Top the CommitLog up to the fill size.
	want := int64(*fillGiB * (1 << 30))
	// Segment files are created at full size: estimate what is written
	// from the messages stored (1 KiB body + ~150 bytes of record).
	const recSize = 1024 + 150
	stored, err := storedMsgs(rc, p.broker)
	if err != nil {
		return err
	}
	if have := stored * recSize; have < want {
		n := (want - have) / recSize
		if _, _, err := underLoad(pid, "produce", b, "--topic=StartMem", "--mode=batch", "--size=1024", "--count="+strconv.FormatInt(n, 10), "--quiet"); err != nil {
			return fmt.Errorf("fill: %w", err)
		}
	}
	d, err := p.stop(syscall.SIGTERM)
	if err != nil {
		return err
	}
	report("clean stop (SIGTERM) took %v; data dir %.2f GiB of files", d.Round(time.Millisecond), float64(dirSize(*data))/(1<<30))

	// Clean restarts: start, sample, SIGTERM; the last stays up.
	times = times[:0]
	for i := range *repeat {
		if err := maybeDropCaches(); err != nil {
			return err
		}
		if p, err = start(rc); err != nil {
			return err
		}
		times = append(times, p)
		if i == 0 {
			if m, err = idleSample(p, *idle); err != nil {
				return err
			}
			report("idle after a restart on that data (+%v): %v", *idle, m)
		}
		if i < *repeat-1 {
			if _, err := p.stop(syscall.SIGTERM); err != nil {
				return err
			}
		}
	}
	stored, err = storedMsgs(rc, p.broker)
	if err != nil {
		return err
	}
	report("restart after a clean stop with %d messages stored (%s), %s", stored, lastCommitLogEnd(), startTimes(times))
	// Crash restarts: kill -9 the running one, start again.
	times = times[:0]
	for range *repeat {
		if _, err := p.stop(os.Kill); err != nil {
			return err
		}
		if err := maybeDropCaches(); err != nil {
			return err
		}
		if p, err = start(rc); err != nil {
			return err
		}
		times = append(times, p)
	}
	report("restart after kill -9, %s", startTimes(times))
	if _, err := p.stop(syscall.SIGTERM); err != nil {
		return err
	}
	report("wharf logs: %s", logPath())
	return nil
}

// maybeDropCaches empties the page cache under -cold, so the next start
// reads its data from the disk.
func maybeDropCaches() error {
	if !*cold {
		return nil
	}
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
		return fmt.Errorf("-cold: dropping the page cache: %w", err)
	}
	return nil
}

// startTimes summarizes the start measurements: min, median and max.
func startTimes(ps []*proc) string {
	serve := make([]time.Duration, len(ps))
	route := make([]time.Duration, len(ps))
	for i, p := range ps {
		serve[i], route[i] = p.serveTime, p.routeTime
	}
	return fmt.Sprintf("%d starts: broker answers after %s; name server routes to it after %s", len(ps), spread(serve), spread(route))
}

func spread(d []time.Duration) string {
	slices.Sort(d)
	r := func(x time.Duration) time.Duration { return x.Round(100 * time.Microsecond) }
	return fmt.Sprintf("min %v / median %v / max %v", r(d[0]), r(d[len(d)/2]), r(d[len(d)-1]))
}

// storedMsgs sums the max offsets of the StartMem queues.
func storedMsgs(rc *remoting.Client, broker string) (int64, error) {
	var n int64
	for q := range 8 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := rc.Invoke(ctx, broker, remoting.NewRequest(remoting.CodeGetMaxOffset,
			map[string]string{"topic": "StartMem", "queueId": strconv.Itoa(q)}, nil))
		cancel()
		if err != nil {
			return 0, fmt.Errorf("GET_MAX_OFFSET: %w", err)
		}
		off, err := resp.ExtInt64("offset")
		if err != nil {
			return 0, err
		}
		n += off
	}
	return n, nil
}

// lastCommitLogEnd reads the CommitLog end the last start logged.
func lastCommitLogEnd() string {
	b, _ := os.ReadFile(logPath())
	i := strings.LastIndex(string(b), "commitlogEnd=")
	if i < 0 {
		return "CommitLog end unknown"
	}
	f := strings.Fields(string(b[i+len("commitlogEnd="):]))
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return "CommitLog end unknown"
	}
	return fmt.Sprintf("CommitLog %.2f GiB", float64(n)/(1<<30))
}

func logPath() string { return filepath.Join(os.TempDir(), "startmem-wharf.log") }
