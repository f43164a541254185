package nodeclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/rlog"
	"go.uber.org/goleak"

	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/tools/admin"
)

// requiredEnv makes a missing node or node_modules a failure, not a skip.
const requiredEnv = "WHARF_NODE_REQUIRED"

// segmentSize is every test broker's mappedFileSizeCommitLog: small, as
// the disk is shared.
const segmentSize = 4 << 20

// delayLevels is the test broker's messageDelayLevel: level 2 is the delay
// test's 2 s; level 3, where a first retry goes, is 1 s; every other level
// is short too.
const delayLevels = "1s 2s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s 1s"

// wharf is the server binary, built once for this run.
var wharf testkit.WharfBuild

func TestMain(m *testing.M) {
	rlog.SetLogLevel("fatal")
	dir, err := os.MkdirTemp("", "wharf-nodeclient-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "nodeclient:", err)
		os.Exit(1)
	}
	wharf.Dir = dir
	goleak.VerifyTestMain(m, append(testkit.IgnoreGoClient(), goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))...)
}

// nodeEnv is where the scripts run: node's path and this directory.
type nodeEnv struct {
	node, dir string
}

// requireNode returns node and this package's directory, skipping the test
// when node or node_modules/ali-ons is missing (failing when
// WHARF_NODE_REQUIRED is set).
func requireNode(t *testing.T) nodeEnv {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv(requiredEnv) != "" {
			t.Fatalf(requiredEnv+" is set but "+format, args...)
		}
		t.Skipf(format+" (run `npm ci` in tools/nodeclient; .ci/run does)", args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("no node on PATH: %v", err)
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ali-ons", "package.json")); err != nil {
		missing("ali-ons is not installed: %v", err)
	}
	return nodeEnv{node: node, dir: dir}
}

// proc is one wharf process on loopback.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed when it has exited
}

// startProc runs `wharf ARGS...` with its output in logPath and stops it
// by PID (SIGTERM, then SIGKILL) at cleanup.
func startProc(t *testing.T, name, logPath string, args ...string) *proc {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: exec.Command(wharf.Path(t), args...), logPath: logPath, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop sends SIGTERM to the process, then SIGKILL if it has not exited
// within 10 s.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return
	case <-time.After(10 * time.Second):
	}
	t.Errorf("%s pid %d did not exit within 10 s of SIGTERM; killing it", p.name, p.cmd.Process.Pid)
	p.kill(t)
}

// kill sends SIGKILL and waits until the process is gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("%s pid %d did not die within 10 s of SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// until polls probe every 100 ms until it succeeds, failing t if the
// process exits first or d passes.
func (p *proc) until(t *testing.T, d time.Duration, what string, probe func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := probe(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before %s; log:\n%s", p.name, what, p.logTail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %s within %v: %v; log:\n%s", p.name, what, d, err, p.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeConf writes lines to path, a broker.conf, and returns path.
func writeConf(t *testing.T, path string, lines ...string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// server is one `wharf standalone` process on loopback.
type server struct {
	*proc
	namesrv, broker string
	admin           *admin.Client
}

// startWharf starts `wharf standalone` with 4 MiB CommitLog segments in a
// temporary directory (removed after the test), waits until its broker is
// registered, and stops it by PID at cleanup.
func startWharf(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	ports := testkit.FreePorts(t, 3)
	_, haPort, _ := net.SplitHostPort(ports[2])
	conf := writeConf(t, filepath.Join(dir, "broker.conf"),
		"brokerClusterName=NodeCluster",
		"brokerName=broker-node",
		"mappedFileSizeCommitLog="+fmt.Sprint(segmentSize),
		"autoCreateTopicEnable=true",
		"haListenPort="+haPort,
		"messageDelayLevel="+delayLevels,
	)
	s := &server{namesrv: ports[0], broker: ports[1]}
	s.proc = startProc(t, "wharf standalone", filepath.Join(dir, "wharf.log"), "standalone", "-c", conf,
		"--data", filepath.Join(dir, "data"), "--listen", s.broker, "--namesrv-listen", s.namesrv,
		"--dashboard", "off", "--metrics", "off")
	s.admin = admin.New(admin.Options{Namesrv: s.namesrv, Timeout: 3 * time.Second})
	t.Cleanup(func() { s.admin.Close() })
	s.until(t, 15*time.Second, "serving", func(ctx context.Context) error {
		_, err := s.admin.Route(ctx, "TBW102")
		return err
	})
	return s
}

// createTopic creates topic with queues read and write queues on the
// broker (ali-ons never creates topics itself).
func (s *server) createTopic(t *testing.T, topic string, queues int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.admin.CreateTopic(ctx, s.broker, admin.TopicConfig{TopicName: topic, ReadQueueNums: queues, WriteQueueNums: queues, Perm: 6}); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	// ali-ons asks the name server for the route before its first send.
	for {
		route, err := s.admin.Route(ctx, topic)
		if err == nil && len(route.QueueDatas) == 1 && route.QueueDatas[0].WriteQueueNums == queues {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("no route of %s with %d queues within 5 s: %v", topic, queues, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// event is one JSON line a script printed; the fields are the union of
// what the scripts print.
type event struct {
	Event          string            `json:"event,omitempty"`
	Error          string            `json:"error,omitempty"`
	I              int               `json:"i,omitempty"`
	Status         string            `json:"status,omitempty"`
	MsgID          string            `json:"msgId,omitempty"`
	QueueID        int32             `json:"queueId,omitempty"`
	QueueOffset    int64             `json:"queueOffset,omitempty"`
	SentAt         int64             `json:"sentAt,omitempty"`
	Topic          string            `json:"topic,omitempty"`
	Tags           string            `json:"tags,omitempty"`
	Keys           string            `json:"keys,omitempty"`
	Body           string            `json:"body,omitempty"`
	Props          map[string]string `json:"props,omitempty"`
	ReconsumeTimes int32             `json:"reconsumeTimes,omitempty"`
	BornTimestamp  int64             `json:"bornTimestamp,omitempty"`
	At             int64             `json:"at,omitempty"`
	Sent           int               `json:"sent,omitempty"`
	Distinct       int               `json:"distinct,omitempty"`
}

// nodeProc is one run of a script.
type nodeProc struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser // closing it stops a consumer run with untilStdinEnds
	lines  chan event     // every line, closed at EOF
	mu     sync.Mutex
	events []event
	stderr strings.Builder
	done   chan struct{} // closed when the process exited and stdout was read
	err    error
}

// startNode runs `node js/SCRIPT CONFIG` in the background. The process
// is killed by PID if it outlives limit or the test.
func startNode(t *testing.T, env nodeEnv, script string, cfg map[string]any, limit time.Duration) *nodeProc {
	t.Helper()
	cfg["timeoutMs"] = limit.Milliseconds()
	arg, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &nodeProc{name: script, lines: make(chan event, 1024), done: make(chan struct{})}
	p.cmd = exec.Command(env.node, filepath.Join("js", script), string(arg))
	p.cmd.Dir = env.dir
	p.cmd.Stderr = &lockedWriter{mu: &p.mu, b: &p.stderr}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start node %s: %v", script, err)
	}
	go func() {
		defer close(p.done)
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var e event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				e = event{Event: "unparsed", Error: sc.Text()}
			}
			p.mu.Lock()
			p.events = append(p.events, e)
			p.mu.Unlock()
			select {
			case p.lines <- e:
			default: // nobody is following the lines; events keeps them
			}
		}
		p.err = p.cmd.Wait()
	}()
	// The script's own deadline is limit; the process gets 5 s more
	// before it is killed.
	timer := time.AfterFunc(limit+5*time.Second, func() { _ = p.cmd.Process.Kill() })
	t.Cleanup(func() {
		timer.Stop()
		_ = p.stdin.Close()
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// waitFor reads lines until one has event kind, failing after d.
func (p *nodeProc) waitFor(t *testing.T, kind string, d time.Duration) event {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case e, ok := <-p.lines:
			if !ok {
				<-p.done
				t.Fatalf("node %s exited (%v) before printing %q; output:\n%s", p.name, p.err, kind, p.output())
			}
			if e.Event == kind {
				return e
			}
		case <-timeout:
			t.Fatalf("node %s printed no %q within %v; output:\n%s", p.name, kind, d, p.output())
		}
	}
}

// wait waits for the script to exit and returns what it printed, failing
// unless it exited 0 with a "done" line.
func (p *nodeProc) wait(t *testing.T) []event {
	t.Helper()
	go func() {
		for range p.lines { // drain so the reader never blocks
		}
	}()
	<-p.done
	events := p.snapshot()
	if p.err != nil || len(events) == 0 || events[len(events)-1].Event != "done" {
		t.Fatalf("node %s: %v; output:\n%s", p.name, errOr(p.err, errors.New("no final done line")), p.output())
	}
	return events
}

// snapshot returns the lines printed so far.
func (p *nodeProc) snapshot() []event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

func (p *nodeProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, e := range p.events {
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
	}
	b.WriteString("stderr:\n")
	s := p.stderr.String()
	if len(s) > 8192 {
		s = s[len(s)-8192:]
	}
	b.WriteString(s)
	return b.String()
}

// runNode runs a script to its end and returns its events.
func runNode(t *testing.T, env nodeEnv, script string, cfg map[string]any, limit time.Duration) []event {
	t.Helper()
	return startNode(t, env, script, cfg, limit).wait(t)
}

func errOr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// only returns the events of one kind.
func only(events []event, kind string) []event {
	var out []event
	for _, e := range events {
		if e.Event == kind {
			out = append(out, e)
		}
	}
	return out
}
