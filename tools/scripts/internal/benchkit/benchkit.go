//go:build linux

// Package benchkit holds what the benchmark drivers under tools/scripts
// share: child processes of the wharf binary that cannot outlive the
// driver, their CPU time, the machine's, free loopback ports, and runs of
// `wharf bench produce`. Linux-only, as the drivers (it reads /proc).
package benchkit

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Proc is one child process.
type Proc struct {
	Name   string
	Cmd    *exec.Cmd
	exited chan struct{}
}

// started are every process Start started, so KillAll can kill what is
// left on any exit path.
var started struct {
	sync.Mutex
	all []*Proc
}

// sysProcAttr puts a child in its own process group (a Ctrl-C reaches
// only the driver, which cleans up in order) and has the kernel kill it
// when the driver dies, even by SIGKILL.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// Start runs bin with args, its output appended to dir/NAME.log.
func Start(dir, bin, name string, args ...string) (*Proc, error) {
	logf, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	p := &Proc{Name: name, Cmd: exec.Command(bin, args...), exited: make(chan struct{})}
	p.Cmd.Stdout, p.Cmd.Stderr = logf, logf
	p.Cmd.SysProcAttr = sysProcAttr()
	if err := p.Cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	started.Lock()
	started.all = append(started.all, p)
	started.Unlock()
	go func() { _ = p.Cmd.Wait(); logf.Close(); close(p.exited) }()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Alive says whether the process has not exited yet.
func (p *Proc) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and waits at most timeout, then kills. A nil Proc
// is a no-op.
func (p *Proc) Stop(timeout time.Duration) {
	if p == nil {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(timeout):
		fmt.Fprintf(os.Stderr, "%s did not stop in %s; killing\n", p.Name, timeout)
		_ = p.Cmd.Process.Kill()
		<-p.exited
	}
}

// Kill sends SIGKILL and waits for the exit, at most 10 s.
func (p *Proc) Kill() error {
	if p == nil || !p.Alive() {
		return nil
	}
	_ = p.Cmd.Process.Kill()
	select {
	case <-p.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit 10 s after SIGKILL", p.Name, p.Pid())
	}
}

// KillAll kills every process Start started that still runs, and waits
// for each.
func KillAll() error {
	started.Lock()
	all := started.all
	started.all = nil
	started.Unlock()
	var errs []string
	for _, p := range all {
		if err := p.Kill(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("benchkit: %s", strings.Join(errs, "; "))
	}
	return nil
}

// CPU is the process's user+system time so far (0 once it was reaped).
func (p *Proc) CPU() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * (time.Second / 100) // CLK_TCK is 100 on Linux
}

// MachineBusy is the CPU time all processes of the machine have used
// (/proc/stat: everything but idle and iowait), or 0 when unknown.
func MachineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 && i < 8 { // idle, iowait; guest time is counted in user
			busy += n
		}
	}
	return time.Duration(busy) * (time.Second / 100)
}

// NumCPU is the number of CPUs this process may run on, 0 when unknown.
func NumCPU() int {
	var s unix.CPUSet
	if unix.SchedGetaffinity(0, &s) != nil {
		return 0
	}
	return s.Count()
}

// FreePorts returns n loopback ports free at the time of the call.
func FreePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var out []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// Produce runs `BIN bench produce ARGS...` and returns its summary
// line's key=value pairs (msgs, msgs/s, p50_us, client_cpu_s, ...).
// Failed sends do not fail the run; they are in errors=. The child dies
// with ctx and with the driver.
func Produce(ctx context.Context, bin string, args ...string) (map[string]string, error) {
	return ProduceVia(ctx, nil, bin, args...)
}

// ProduceVia is Produce run through a launcher, prefix (e.g. taskset -c
// 0), when prefix is not empty.
func ProduceVia(ctx context.Context, prefix []string, bin string, args ...string) (map[string]string, error) {
	all := append([]string{"bench", "produce"}, args...)
	if len(prefix) > 0 {
		all = append(append(slices.Clone(prefix[1:]), bin), all...)
		bin = prefix[0]
	}
	cmd := exec.CommandContext(ctx, bin, all...)
	cmd.SysProcAttr = sysProcAttr()
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	line := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	if !strings.HasPrefix(line, "produce ") {
		return nil, fmt.Errorf("%s %s: %v: %s", bin, strings.Join(all, " "), err, errb.String())
	}
	kv := map[string]string{}
	for f := range strings.FieldsSeq(line) {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	return kv, nil
}
