//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one child process of the wharf binary.
type proc struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
}

// children are every process started, so cleanup can kill what is left
// on any exit path.
var children struct {
	sync.Mutex
	all []*proc
}

// startProc starts bin with args, its output appended to dir/NAME.log.
// Each child gets its own process group (a Ctrl-C reaches only us, and we
// clean up in order) and dies with SIGKILL if this process dies first.
func startProc(name string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(filepath.Join(*dir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: exec.Command(*bin, args...), exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	children.Lock()
	children.all = append(children.all, p)
	children.Unlock()
	go func() { _ = p.cmd.Wait(); logf.Close(); close(p.exited) }()
	return p, nil
}

func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the exit (at most 10 s).
func (p *proc) kill() error {
	if p == nil || !p.alive() {
		return nil
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit 10 s after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// killChildren kills every child still running and waits for each.
func killChildren() {
	children.Lock()
	all := children.all
	children.all = nil
	children.Unlock()
	for _, p := range all {
		if err := p.kill(); err != nil {
			fmt.Fprintln(os.Stderr, "failbench:", err)
		}
	}
}

// cpu is the process's user+system time so far (0 once it exited).
func (p *proc) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
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

// selfCPU is this process's user+system time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy is the CPU time all processes of the machine have used
// (/proc/stat: everything but idle and iowait), or 0 when unknown.
func machineBusy() time.Duration {
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

// freePorts returns n loopback addresses free at the time of the call.
func freePorts(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

// poll calls cond every interval until it returns true, the timeout
// passes or ctx ends; what says what was awaited.
func poll(ctx context.Context, timeout, interval time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, context.Cause(ctx))
		case <-t.C:
		}
	}
}
