//go:build linux

package benchkit

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/wharfmq/wharf/internal/testkit"
)

// TestStartKillAll: a real child runs in its own process group, logs into
// the dir, and KillAll ends it and reaps it.
func TestStartKillAll(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(dir, "/bin/sh", "child", "-c", "echo up; exec sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	pgid, err := syscall.Getpgid(p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	if pgid != p.Pid() {
		t.Fatalf("child's process group %d, want its own (%d)", pgid, p.Pid())
	}
	if !p.Alive() {
		t.Fatal("child not alive after Start")
	}
	if err := KillAll(); err != nil {
		t.Fatal(err)
	}
	if p.Alive() {
		t.Fatal("child alive after KillAll")
	}
	if err := syscall.Kill(p.Pid(), 0); err == nil {
		t.Fatal("child's pid still exists after KillAll")
	}
	// Output goes to dir/NAME.log once the child has written it.
	b, err := os.ReadFile(filepath.Join(dir, "child.log"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "" && string(b) != "up\n" {
		t.Fatalf("log %q", b)
	}
}

// TestStopAndCPU: Stop ends a child that honours SIGTERM; CPU reads a
// busy child's time from /proc.
func TestStopAndCPU(t *testing.T) {
	p, err := Start(t.TempDir(), "/bin/sh", "busy", "-c", "while :; do :; done")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = KillAll() }()
	testkit.Eventually(t, 10*time.Second, func() bool { return p.CPU() > 0 }, "a busy child has CPU time")
	p.Stop(5 * time.Second)
	if p.Alive() {
		t.Fatal("child alive after Stop")
	}
	if MachineBusy() <= 0 {
		t.Fatal("MachineBusy: no busy time on a machine that ran a busy child")
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v: not 5 distinct ports", ports)
		}
		seen[p] = true
	}
}
