//go:build linux

// Command habench measures master–slave replication for BENCHMARKS.md
// (issue 11, "Benchmarks"): send throughput and latency with no slave,
// ASYNC_MASTER + slave and SYNC_MASTER + slave; a slave's catch-up rate
// after being down, against loopback TCP and disk rates measured in the
// same run; and ASYNC_MASTER replication lag under pipelined load. Every
// server is a child `wharf namesrv` or `wharf broker` on free loopback
// ports and every load is a child `wharf bench produce`, so the figures are
// those of the real binary:
//
//	make build && go run ./tools/scripts/habench -bin ./bin/wharf -dir /tmp/wharf-habench
//
// The data dir is removed first and at the end. Segments are -seg-mib
// (default 256 MiB) on master and slave; the catch-up phase writes
// -catchup-mib of CommitLog while the slave is stopped.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharfmq/wharf/tools/admin"
	"github.com/wharfmq/wharf/tools/scripts/internal/benchkit"
)

var (
	bin         = flag.String("bin", "./bin/wharf", "wharf binary")
	dir         = flag.String("dir", "/tmp/wharf-habench", "work dir for data and logs (removed first and at the end)")
	keep        = flag.Bool("keep", false, "leave the work dir behind (logs, profiles)")
	segMiB      = flag.Int("seg-mib", 256, "mappedFileSizeCommitLog in MiB, master and slave")
	dur         = flag.Duration("dur", 5*time.Second, "duration of each measured produce run")
	rounds      = flag.Int("rounds", 2, "rounds of the throughput cases (order alternates per round)")
	syncConcs   = flag.String("sync-conc", "16", "synchronous producer counts to run, comma-separated")
	pipeConc    = flag.Int("pipe-conc", 2, "pipelined producers (0: no pipelined case)")
	pipeWindow  = flag.Int("pipe-window", 128, "requests in flight per pipelined producer")
	catchupMiB  = flag.Int("catchup-mib", 1024, "CommitLog MiB written while the slave is down")
	catchupReps = flag.Int("catchup-reps", 3, "catch-up measurements (each stops the slave and writes -catchup-mib)")
	lagDur      = flag.Duration("lag-dur", 10*time.Second, "duration of the pipelined load during the lag sampling")
	only        = flag.String("only", "throughput,lag,catchup", "phases to run")
	profile     = flag.Bool("profile", false, "write a CPU profile of every broker into the work dir (NAME.pprof; use -keep)")
	traceSlave  = flag.Bool("trace-catchup", false, "write a runtime trace of the catching-up slave into the work dir (catchup-REP.trace; use -keep)")
	extra       = flag.String("conf", "", "extra broker.conf keys for every broker, k=v,k=v")
	pin         = flag.String("pin", "", "slave: the slave alone on CPU 1, everything else on CPU 0 (as if the slave had its own machine); master: the master alone on CPU 0, the client, name server and slave on CPU 1 (as if the master had its own machine); empty: no pinning (taskset)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "habench:", err)
		os.Exit(1)
	}
}

func run() error {
	if *pin != "" && *pin != "slave" && *pin != "master" {
		return fmt.Errorf("-pin %q: want slave, master or nothing", *pin)
	}
	if err := os.RemoveAll(*dir); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(*dir)
	}
	// Children die with this process; on an error path, here.
	defer func() { _ = benchkit.KillAll() }()
	ac := admin.New(admin.Options{Timeout: 2 * time.Second})
	defer ac.Close()
	fmt.Printf("# habench %s, %d CPUs, segments %d MiB, produce runs of %s\n",
		time.Now().UTC().Format(time.RFC3339), benchkit.NumCPU(), *segMiB, *dur)
	phases := strings.Split(*only, ",")
	if slices.Contains(phases, "throughput") {
		if err := throughput(ac); err != nil {
			return fmt.Errorf("throughput: %w", err)
		}
	}
	if slices.Contains(phases, "lag") || slices.Contains(phases, "catchup") {
		if err := lagAndCatchup(ac, slices.Contains(phases, "lag"), slices.Contains(phases, "catchup")); err != nil {
			return err
		}
	}
	return nil
}

// startProc starts a child of the wharf binary, logging into the work
// dir; with -profile a broker writes a CPU profile there.
func startProc(name string, args ...string) (*benchkit.Proc, error) {
	if *profile && args[0] == "broker" {
		args = append(slices.Clone(args), "--cpuprofile", filepath.Join(*dir, name+".pprof"))
	}
	b, args := pinned(name, *bin, args)
	return benchkit.Start(*dir, b, name, args...)
}

// cpuOf is the CPU -pin puts a process on (by its name: the master ends
// in -0, the slave in -1; "client" is the bench), "" without -pin.
func cpuOf(name string) string {
	alone := map[string]string{"slave": "-1", "master": "-0"}[*pin]
	switch {
	case alone == "":
		return ""
	case strings.HasSuffix(name, alone) == (*pin == "slave"):
		return "1"
	}
	return "0"
}

// pinned runs bin through taskset on its -pin CPU.
func pinned(name, bin string, args []string) (string, []string) {
	cpu := cpuOf(name)
	if cpu == "" {
		return bin, args
	}
	return "taskset", append([]string{"-c", cpu, bin}, args...)
}

// group is a name server, a master and optionally a slave.
type group struct {
	ns, master, slave *benchkit.Proc
	nsAddr            string
	addr              [2]string // master, slave client addresses
	args              [2][]string
}

// startGroup starts a name server and a master in role (NONE: no slave is
// started, the master is ASYNC_MASTER), plus a slave unless role is NONE.
func startGroup(ac *admin.Client, tag, role string) (*group, error) {
	ports, err := benchkit.FreePorts(4)
	if err != nil {
		return nil, err
	}
	g := &group{nsAddr: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	if g.ns, err = startProc(tag+"-namesrv", "namesrv", "--listen", g.nsAddr); err != nil {
		return nil, err
	}
	mrole := role
	if role == "NONE" {
		mrole = "ASYNC_MASTER"
	}
	for i, r := range []string{mrole, "SLAVE"} {
		keys := map[string]string{
			"brokerClusterName": "HABench", "brokerName": "broker-" + tag,
			"brokerId": strconv.Itoa(i), "brokerRole": r, "flushDiskType": "ASYNC_FLUSH",
			"mappedFileSizeCommitLog": strconv.Itoa(*segMiB << 20), "autoCreateTopicEnable": "true",
			"listenPort": strconv.Itoa(ports[1+i]), "haListenPort": strconv.Itoa(ports[3]),
			"haSendHeartbeatInterval": "1000",
		}
		for kv := range strings.SplitSeq(*extra, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				keys[k] = v
			}
		}
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			fmt.Fprintf(&b, "%s=%s\n", k, keys[k])
		}
		name := fmt.Sprintf("%s-%d", tag, i)
		conf := filepath.Join(*dir, name+".conf")
		if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
			return nil, err
		}
		g.addr[i] = fmt.Sprintf("127.0.0.1:%d", ports[1+i])
		g.args[i] = []string{"broker", "-c", conf, "--listen", g.addr[i], "--namesrv", g.nsAddr,
			"--data", filepath.Join(*dir, name+"-data")}
	}
	if g.master, err = startProc(tag+"-0", g.args[0]...); err != nil {
		g.stop()
		return nil, err
	}
	if role != "NONE" {
		// The slave learns its master from its registration reply, so it
		// starts once the master is registered (else it waits for its
		// next registration, registerNameServerPeriod later).
		if err := g.waitRegistered("broker-" + tag); err != nil {
			g.stop()
			return nil, err
		}
		if g.slave, err = startProc(tag+"-1", g.args[1]...); err != nil {
			g.stop()
			return nil, err
		}
	}
	if err := g.waitReady(ac); err != nil {
		g.stop()
		return nil, err
	}
	return g, nil
}

// waitRegistered polls (every 20 ms, at most 60 s) until the name server
// lists the master of brokerName.
func (g *group) waitRegistered(brokerName string) error {
	nc := admin.New(admin.Options{Namesrv: g.nsAddr, Timeout: 2 * time.Second})
	defer nc.Close()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ci, err := nc.ClusterInfo(ctx)
		cancel()
		if err == nil && ci.BrokerAddrTable[brokerName].BrokerAddrs[0] != "" {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("master %s not registered with the name server within 60 s", brokerName)
}

// waitReady polls (every 20 ms, at most 60 s) until the master answers
// and, with a slave, the master lists it trusted and in sync.
func (g *group) waitReady(ac *admin.Client) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		t, err := runtimeInfo(ac, g.addr[0])
		if err == nil && (g.slave == nil || inSync(t)) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("group not ready (master answering, slave trusted and in sync) within 60 s")
}

// inSync says whether a master's runtime table lists a trusted slave with
// no lag.
func inSync(t map[string]string) bool {
	for k, v := range t {
		if strings.HasPrefix(k, "haSlave.") && strings.Contains(v, "trusted=true") && strings.Contains(v, "lagBytes=0 ") {
			return true
		}
	}
	return false
}

// haFrames is the number of frames the master has sent its slaves (the
// frames= field of its haSlave.ADDR runtime keys); 0 when unknown.
func haFrames(ac *admin.Client, g *group) int64 {
	t, err := runtimeInfo(ac, g.addr[0])
	if err != nil {
		return 0
	}
	var n int64
	for k, v := range t {
		if !strings.HasPrefix(k, "haSlave.") {
			continue
		}
		if _, f, ok := strings.Cut(v, "frames="); ok {
			x, _ := strconv.ParseInt(f, 10, 64)
			n += x
		}
	}
	return n
}

func (g *group) stop() {
	g.slave.Stop(30 * time.Second)
	g.master.Stop(30 * time.Second)
	g.ns.Stop(30 * time.Second)
}

func runtimeInfo(ac *admin.Client, addr string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return ac.BrokerRuntimeInfo(ctx, addr)
}

func runtimeInt(ac *admin.Client, addr, key string) (int64, error) {
	t, err := runtimeInfo(ac, addr)
	if err != nil {
		return 0, err
	}
	v, ok := t[key]
	if !ok {
		return 0, fmt.Errorf("%s: no %s in the runtime table", addr, key)
	}
	return strconv.ParseInt(v, 10, 64)
}

// benchProduce runs `wharf bench produce` against the master and returns
// its summary line's key=value pairs. Failed sends do not fail the run;
// they are in errors=.
func benchProduce(g *group, topic string, args ...string) (map[string]string, error) {
	all := append([]string{"--broker", g.addr[0], "--topic", topic, "--quiet",
		"--broker-pid", strconv.Itoa(g.master.Pid())}, args...)
	var prefix []string
	if cpu := cpuOf("client"); cpu != "" {
		prefix = []string{"taskset", "-c", cpu}
	}
	return benchkit.ProduceVia(context.Background(), prefix, *bin, all...)
}

// throughput runs sync and pipelined produce against each role, rounds
// times, alternating the order of the roles per round.
func throughput(ac *admin.Client) error {
	roles := []string{"NONE", "ASYNC_MASTER", "SYNC_MASTER"}
	for r := range *rounds {
		order := slices.Clone(roles)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, role := range order {
			tag := fmt.Sprintf("%s-r%d", strings.ToLower(role), r)
			g, err := startGroup(ac, tag, role)
			if err != nil {
				return fmt.Errorf("%s: %w", tag, err)
			}
			err = throughputRuns(ac, g, role, r)
			g.stop()
			if !*keep {
				_ = os.RemoveAll(filepath.Join(*dir, tag+"-0-data"))
				_ = os.RemoveAll(filepath.Join(*dir, tag+"-1-data"))
			}
			if err != nil {
				return fmt.Errorf("%s: %w", tag, err)
			}
		}
	}
	return nil
}

func throughputRuns(ac *admin.Client, g *group, role string, round int) error {
	// A short warm-up creates the topic and fills the first pages.
	if _, err := benchProduce(g, "HaBench", "--mode", "async", "--conc", "2", "--window", "64", "--duration", "1s"); err != nil {
		return err
	}
	type benchCase struct{ name, conc string }
	var cases []benchCase
	for c := range strings.SplitSeq(*syncConcs, ",") {
		cases = append(cases, benchCase{"sync", strings.TrimSpace(c)})
	}
	if *pipeConc > 0 {
		cases = append(cases, benchCase{"async", strconv.Itoa(*pipeConc)})
	}
	for _, c := range cases {
		var s0 time.Duration
		var f0 int64
		if g.slave != nil {
			s0 = g.slave.CPU()
			f0 = haFrames(ac, g)
		}
		kv, err := benchProduce(g, "HaBench", "--mode", c.name, "--conc", c.conc,
			"--window", strconv.Itoa(*pipeWindow), "--duration", dur.String())
		if err != nil {
			return err
		}
		slaveCores, perFrame := "-", "-"
		if g.slave != nil {
			secs, _ := strconv.ParseFloat(kv["secs"], 64)
			slaveCores = fmt.Sprintf("%.2f", (g.slave.CPU()-s0).Seconds()/secs)
			msgs, _ := strconv.ParseFloat(kv["msgs"], 64)
			if frames := haFrames(ac, g) - f0; frames > 0 && msgs > 0 {
				perFrame = fmt.Sprintf("%.1f", msgs/float64(frames))
			}
		}
		fmt.Printf("throughput round=%d role=%s mode=%s conc=%s msgs/s=%s p50_us=%s p99_us=%s errors=%s client_cores=%s master_cores=%s slave_cores=%s machine_busy_cores=%s msgs_per_frame=%s\n",
			round, role, c.name, c.conc, kv["msgs/s"], kv["p50_us"], kv["p99_us"], kv["errors"],
			kv["client_cores"], kv["broker_cores"], slaveCores, kv["machine_busy_cores"], perFrame)
	}
	return nil
}

// lagAndCatchup runs an ASYNC_MASTER + slave: the lag under pipelined
// load sampled every 100 ms, then the slave's catch-up after
// -catchup-mib written while it was stopped.
func lagAndCatchup(ac *admin.Client, lag, catchup bool) error {
	g, err := startGroup(ac, "async-lag", "ASYNC_MASTER")
	if err != nil {
		return err
	}
	defer g.stop()
	if _, err := benchProduce(g, "HaBench", "--mode", "async", "--conc", "2", "--window", "64", "--duration", "1s"); err != nil {
		return err
	}
	if lag {
		if err := lagRun(ac, g); err != nil {
			return fmt.Errorf("lag: %w", err)
		}
	}
	if catchup {
		for rep := range *catchupReps {
			if err := catchupRun(ac, g, rep); err != nil {
				return fmt.Errorf("catch-up: %w", err)
			}
		}
	}
	return nil
}

func lagRun(ac *admin.Client, g *group) error {
	type sample struct{ bytes, millis int64 }
	var samples []sample
	done := make(chan struct{})
	var samplerErr error
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		deadline := time.Now().Add(*lagDur + 5*time.Second)
		for time.Now().Before(deadline) {
			<-tick.C
			t, err := runtimeInfo(ac, g.addr[0])
			if err != nil {
				samplerErr = err
				return
			}
			for k, v := range t {
				if !strings.HasPrefix(k, "haSlave.") {
					continue
				}
				var acked, b, ms int64
				var trusted bool
				if _, err := fmt.Sscanf(v, "acked=%d lagBytes=%d lagMillis=%d trusted=%t", &acked, &b, &ms, &trusted); err == nil {
					samples = append(samples, sample{b, ms})
				}
			}
			if time.Since(deadline.Add(-5*time.Second)) >= 0 {
				return
			}
		}
	}()
	kv, err := benchProduce(g, "HaBench", "--mode", "async", "--conc", strconv.Itoa(*pipeConc),
		"--window", strconv.Itoa(*pipeWindow), "--duration", lagDur.String())
	<-done
	if err != nil {
		return err
	}
	if samplerErr != nil {
		return samplerErr
	}
	if len(samples) == 0 {
		return errors.New("no haSlave samples (slave not connected?)")
	}
	bs := make([]int64, len(samples))
	ms := make([]int64, len(samples))
	for i, s := range samples {
		bs[i], ms[i] = s.bytes, s.millis
	}
	slices.Sort(bs)
	slices.Sort(ms)
	q := func(v []int64, p float64) int64 { return v[min(len(v)-1, int(p*float64(len(v))))] }
	fmt.Printf("lag ASYNC_MASTER pipelined conc=%d window=%d msgs/s=%s samples=%d lagBytes p50=%d p99=%d max=%d lagMillis p50=%d p99=%d max=%d\n",
		*pipeConc, *pipeWindow, kv["msgs/s"], len(samples), q(bs, 0.5), q(bs, 0.99), bs[len(bs)-1], q(ms, 0.5), q(ms, 0.99), ms[len(ms)-1])
	return nil
}

func catchupRun(ac *admin.Client, g *group, rep int) error {
	// Baselines first, on an idle machine: loopback TCP and disk.
	tcp32, err := tcpStream(32<<10, 3*time.Second)
	if err != nil {
		return err
	}
	tcp1m, err := tcpStream(1<<20, 3*time.Second)
	if err != nil {
		return err
	}
	diskBuf, err := diskWrite(false)
	if err != nil {
		return err
	}
	diskSync, err := diskWrite(true)
	if err != nil {
		return err
	}
	fmt.Printf("rep=%d baseline loopback TCP stream 32 KiB writes %.0f MB/s, 1 MiB writes %.0f MB/s; disk sequential 1 MiB writes of %d MiB: no sync %.0f MB/s, fdatasync each %.0f MB/s\n",
		rep, tcp32, tcp1m, *catchupMiB, diskBuf, diskSync)

	g.slave.Stop(30 * time.Second)
	slaveEnd0, err := runtimeInt(ac, g.addr[0], "commitLogMaxOffset")
	if err != nil {
		return err
	}
	// Write until the master holds catchupMiB more than the slave.
	want := int64(*catchupMiB) << 20
	t0 := time.Now()
	for i := 0; ; i++ {
		end, err := runtimeInt(ac, g.addr[0], "commitLogMaxOffset")
		if err != nil {
			return err
		}
		if end-slaveEnd0 >= want {
			break
		}
		if i >= 1000 || time.Since(t0) > 5*time.Minute {
			return errors.New("could not write the catch-up backlog in 1000 runs or 5 min")
		}
		if _, err := benchProduce(g, "HaBench", "--mode", "batch", "--conc", "2", "--window", "32", "--batch", "32",
			"--count", strconv.FormatInt(max((want-(end-slaveEnd0))/1200, 10000), 10)); err != nil {
			return err
		}
	}
	masterEnd, err := runtimeInt(ac, g.addr[0], "commitLogMaxOffset")
	if err != nil {
		return err
	}
	fmt.Printf("rep=%d catch-up backlog %d MiB written in %s\n", rep, (masterEnd-slaveEnd0)>>20, time.Since(t0).Round(time.Millisecond))

	m0, busy0 := g.master.CPU(), benchkit.MachineBusy()
	s0 := time.Now()
	sargs := g.args[1]
	if *traceSlave {
		sargs = append(slices.Clone(sargs), "--trace", filepath.Join(*dir, fmt.Sprintf("catchup-%d.trace", rep)))
	}
	if g.slave, err = startProc(fmt.Sprintf("async-lag-1-rep%d", rep), sargs...); err != nil {
		return err
	}
	var first time.Time // the slave answers
	var firstEnd int64
	var samples []string
	deadline := s0.Add(5 * time.Minute)
	for {
		if time.Now().After(deadline) {
			return fmt.Errorf("slave did not catch up in 5 min (%s)", strings.Join(samples, " "))
		}
		t, err := runtimeInfo(ac, g.addr[1])
		if err == nil {
			end, _ := strconv.ParseInt(t["commitLogMaxOffset"], 10, 64)
			if first.IsZero() {
				first, firstEnd = time.Now(), end
			}
			if end >= masterEnd {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	done := time.Now()
	total, fromFirst := done.Sub(s0), done.Sub(first)
	mcores := (g.master.CPU() - m0).Seconds() / total.Seconds()
	scores := g.slave.CPU().Seconds() / total.Seconds()
	busy := (benchkit.MachineBusy() - busy0).Seconds() / total.Seconds()
	mb := float64(masterEnd-slaveEnd0) / 1e6
	rate := mb / total.Seconds()
	fmt.Printf("rep=%d catch-up %.0f MB in %s from slave start (%.0f MB/s); slave answered after %s at end %d; %.0f MB/s from then; cores: master %.2f slave %.2f machine %.2f\n",
		rep, mb, total.Round(time.Millisecond), rate, first.Sub(s0).Round(time.Millisecond), firstEnd,
		float64(masterEnd-firstEnd)/1e6/fromFirst.Seconds(), mcores, scores, busy)
	slower := min(tcp32, diskSync)
	fmt.Printf("rep=%d catch-up ratio to the slower of loopback TCP (32 KiB) and disk (fdatasync): %.2f (%.0f / %.0f MB/s); to page-cache write: %.2f\n",
		rep, rate/slower, rate, slower, rate/diskBuf)
	return nil
}

// tcpStream writes bs-byte chunks over one loopback connection for d and
// returns the rate the reader got, in MB/s.
func tcpStream(bs int, d time.Duration) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- 0
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	buf := make([]byte, bs)
	start := time.Now()
	for time.Since(start) < d {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, err
		}
	}
	c.Close()
	n := <-got
	return float64(n) / 1e6 / time.Since(start).Seconds(), nil
}

// diskWrite writes catchupMiB in 1 MiB sequential writes to a fresh file
// in the work dir, with or without fdatasync after each, and returns MB/s.
// Without sync the figure is the page cache's ingest rate.
func diskWrite(sync bool) (float64, error) {
	path := filepath.Join(*dir, "disk-probe")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i*7 + 1)
	}
	start := time.Now()
	for range *catchupMiB {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
		if sync {
			if err := unix.Fdatasync(int(f.Fd())); err != nil {
				return 0, err
			}
		}
	}
	return float64(*catchupMiB<<20) / 1e6 / time.Since(start).Seconds(), nil
}
