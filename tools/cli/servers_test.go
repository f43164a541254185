package cli

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wharfmq/wharf/internal/testkit"
	"go.uber.org/goleak"
)

// execEnv makes the test binary run the wharf command line with its
// arguments instead of the tests, so the servers can be tested as a real
// process receiving real signals without building bin/wharf.
const execEnv = "WHARF_CLI_TEST_EXEC"

func TestMain(m *testing.M) {
	if os.Getenv(execEnv) == "1" {
		root := NewRoot()
		root.SetArgs(os.Args[1:])
		if err := root.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	// The tests themselves fail if they leave a goroutine behind.
	goleak.VerifyTestMain(m)
}

// wharfProc is `wharf ARGS` run as a child process.
type wharfProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs strings.Builder
	// lines receives each stderr line until stderr closes.
	lines chan string
	done  chan struct{} // closed when stderr is drained
}

func startWharf(t *testing.T, args ...string) *wharfProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), execEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &wharfProc{cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		defer close(p.lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default: // nobody waits for lines any more
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return p
}

func (p *wharfProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// addrOf waits (at most d) for a log line containing msg and returns its
// addr= field.
func (p *wharfProc) addrOf(t *testing.T, msg string, d time.Duration) string {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("wharf exited before logging %q:\n%s", msg, p.log())
			}
			if !strings.Contains(line, msg) {
				continue
			}
			for f := range strings.FieldsSeq(line) {
				if a, ok := strings.CutPrefix(f, "addr="); ok {
					return a
				}
			}
			t.Fatalf("no addr= in %q", line)
		case <-timer.C:
			t.Fatalf("no %q logged within %v:\n%s", msg, d, p.log())
		}
	}
}

// stop sends sig and waits (at most 20 s) for the exit status.
func (p *wharfProc) stop(t *testing.T, sig os.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { <-p.done; exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		return err
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("wharf did not exit within 20 s of %v:\n%s", sig, p.log())
		return nil
	}
}

// TestStandaloneFlagsAndSignals runs `wharf standalone` on ports the kernel
// picks, checks the broker registered with the embedded name server and
// answers admin requests, and that SIGTERM and SIGINT stop both cleanly
// (exit 0, store closed, broker unregistered) and the data reopens.
func TestStandaloneFlagsAndSignals(t *testing.T) {
	data := t.TempDir()
	for i, sig := range []os.Signal{syscall.SIGTERM, os.Interrupt} {
		// The first run serves the dashboard on a free port, the second
		// none.
		dash := map[bool]string{true: "127.0.0.1:0", false: "off"}[i == 0]
		p := startWharf(t, "standalone", "--data", data, "--listen", "127.0.0.1:0", "--namesrv-listen", "127.0.0.1:0", "--dashboard", dash)
		nsAddr := p.addrOf(t, "name server serving", 20*time.Second)
		dashAddr := ""
		if i == 0 {
			dashAddr = p.addrOf(t, "dashboard serving", 20*time.Second)
		}
		bAddr := p.addrOf(t, "broker serving", 20*time.Second)
		if nsAddr == "127.0.0.1:9876" || bAddr == "127.0.0.1:10911" || !strings.HasPrefix(bAddr, "127.0.0.1:") {
			t.Fatalf("listen flags ignored: name server %s, broker %s", nsAddr, bAddr)
		}
		run := func(args ...string) (string, error) { return adminAt(nsAddr, args...) }
		waitRegistered(t, nsAddr, bAddr)
		if i == 0 {
			checkDashboard(t, dashAddr, bAddr)
		} else if strings.Contains(p.log(), "dashboard serving") {
			t.Fatalf("--dashboard off served one:\n%s", p.log())
		}
		if i > 0 { // the first run stopped cleanly and its topic survived
			if !strings.Contains(p.log(), "cleanLastStop=true") {
				t.Fatalf("the store does not report a clean last stop:\n%s", p.log())
			}
			if out, err := run("topic", "status", "SigT", "-b", bAddr); err != nil || !strings.Contains(out, "2 queues") {
				t.Fatalf("topic of the first run after restart: %v\n%s", err, out)
			}
		}
		if out, err := run("topic", "create", "SigT", "-q", "2"); err != nil {
			t.Fatalf("create: %v %s", err, out)
		}
		if err := p.stop(t, sig); err != nil {
			t.Fatalf("exit after %v: %v\n%s", sig, err, p.log())
		}
		logs := p.log()
		for _, want := range []string{"store closed cleanly", "broker stopped", "name server stopped"} {
			if !strings.Contains(logs, want) {
				t.Fatalf("after %v the log lacks %q:\n%s", sig, want, logs)
			}
		}
		if _, err := run("cluster", "list"); err == nil {
			t.Fatalf("name server %s still answers after %v", nsAddr, sig)
		}
	}
}

// checkDashboard asks standalone's dashboard for the cluster: it must list
// the broker, read-only.
func checkDashboard(t *testing.T, dashAddr, bAddr string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	for path, want := range map[string]string{"/api/cluster": `"addr":"` + bAddr + `"`, "/api/info": `"admin":false`, "/": "app.js"} {
		resp, err := c.Get("http://" + dashAddr + path)
		if err != nil {
			t.Fatalf("dashboard %s: %v", path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Fatalf("dashboard %s: %d %v %.300s, want %q", path, resp.StatusCode, err, b, want)
		}
	}
}

// waitRegistered waits at most 10 s until the name server at nsAddr lists
// the broker at bAddr.
func waitRegistered(t *testing.T, nsAddr, bAddr string) {
	t.Helper()
	var out string
	var err error
	if !testkit.Within(10*time.Second, func() bool {
		out, err = adminAt(nsAddr, "cluster", "list")
		return err == nil && strings.Contains(out, bAddr)
	}) {
		t.Fatalf("broker %s not registered with %s: %v %s", bAddr, nsAddr, err, out)
	}
}

// TestAdminExitStatus runs the real process: an admin error exits 1.
func TestAdminExitStatus(t *testing.T) {
	p := startWharf(t, "admin", "-n", "127.0.0.1:1", "--timeout", "2s", "topic", "list")
	<-p.done
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(p.log(), "unreachable") {
		t.Fatalf("exit %v, stderr %q", err, p.log())
	}
}

// TestSighupIgnored sends SIGHUP to a real name server, broker and
// standalone: each logs it and keeps serving, and a SIGTERM afterwards
// still stops it cleanly (exit 0, the store closed cleanly and reopened
// as a clean stop).
func TestSighupIgnored(t *testing.T) {
	hup := func(t *testing.T, p *wharfProc) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(p.log(), "SIGHUP ignored") {
			select {
			case <-p.done:
				p.cmd.Wait()
				t.Fatalf("SIGHUP ended the process (%v):\n%s", p.cmd.ProcessState, p.log())
			case <-time.After(10 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("SIGHUP not logged:\n%s", p.log())
			}
		}
	}
	stopClean := func(t *testing.T, p *wharfProc, want ...string) {
		t.Helper()
		if err := p.stop(t, syscall.SIGTERM); err != nil {
			t.Fatalf("exit after SIGHUP then SIGTERM: %v\n%s", err, p.log())
		}
		for _, w := range want {
			if !strings.Contains(p.log(), w) {
				t.Fatalf("the log lacks %q:\n%s", w, p.log())
			}
		}
	}

	t.Run("namesrv and broker", func(t *testing.T) {
		data := t.TempDir()
		ns := startWharf(t, "namesrv", "--listen", "127.0.0.1:0")
		nsAddr := ns.addrOf(t, "name server serving", 20*time.Second)
		b := startWharf(t, "broker", "--listen", "127.0.0.1:0", "-n", nsAddr, "--data", data)
		bAddr := b.addrOf(t, "broker serving", 20*time.Second)
		waitRegistered(t, nsAddr, bAddr)
		hup(t, ns)
		hup(t, b)
		if out, err := adminAt(nsAddr, "topic", "create", "HupT", "-q", "2", "-b", bAddr); err != nil {
			t.Fatalf("create after SIGHUP: %v %s", err, out)
		}
		waitRegistered(t, nsAddr, bAddr)
		stopClean(t, b, "store closed cleanly", "broker stopped")
		stopClean(t, ns, "name server stopped")
		b = startWharf(t, "broker", "--listen", "127.0.0.1:0", "-n", "127.0.0.1:1", "--data", data)
		b.addrOf(t, "broker serving", 20*time.Second)
		stopClean(t, b, "cleanLastStop=true")
	})
	t.Run("standalone", func(t *testing.T) {
		p := startWharf(t, "standalone", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--namesrv-listen", "127.0.0.1:0")
		nsAddr := p.addrOf(t, "name server serving", 20*time.Second)
		bAddr := p.addrOf(t, "broker serving", 20*time.Second)
		hup(t, p)
		waitRegistered(t, nsAddr, bAddr)
		stopClean(t, p, "store closed cleanly", "broker stopped", "name server stopped")
	})
}

// TestDashboardCommand runs `wharf dashboard --admin` on a free port: it
// logs its URL, answers in admin mode and stops cleanly on SIGTERM.
func TestDashboardCommand(t *testing.T) {
	p := startWharf(t, "dashboard", "--listen", "127.0.0.1:0", "-n", "127.0.0.1:1", "--admin")
	addr := p.addrOf(t, "dashboard serving", 20*time.Second)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + addr + "/api/info")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"admin":true`) || !strings.Contains(p.log(), "url=http://"+addr+"/") {
		t.Fatalf("info: %d %s\n%s", resp.StatusCode, b, p.log())
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.log())
	}
}
