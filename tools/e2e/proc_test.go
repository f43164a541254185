package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/remoting"
)

// segmentSize keeps CommitLog segments small so the data dir stays small.
const segmentSize = 64 << 20

func quietLogger() *slog.Logger {
	if os.Getenv("WHARF_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startNameServer runs an in-process name server on a free port for the
// whole test; only the broker is killed.
func startNameServer(t *testing.T) *nameserver.Server {
	t.Helper()
	ns, err := nameserver.New(nameserver.Options{Listen: "127.0.0.1:0", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// brokerSetup is what every start of the broker process shares: its
// binary, data dir, broker.conf and addresses, which stay the same across
// restarts.
type brokerSetup struct {
	bin, dir, store, conf, addr, namesrv string
	// haAddr is "127.0.0.1:haListenPort" when the config sets
	// haListenPort (newBrokerSetupWith sets it unless only listenPort
	// is given), else empty.
	haAddr string
	keys   map[string]string // what conf holds; setKey rewrites it
	runs   int
}

// brokerOpts configures a brokerSetup.
type brokerOpts struct {
	// namesrv lists the name servers, passed as --namesrv "a;b".
	namesrv []string
	// keys are broker.conf keys over defaultConf's (brokerName,
	// brokerId, brokerRole, haListenPort, slaveTimeout, ...). Without
	// listenPort a free port is chosen; the broker listens on
	// 127.0.0.1:listenPort (--listen) either way.
	keys map[string]string
}

// defaultConf is the broker.conf every setup starts from.
func defaultConf() map[string]string {
	return map[string]string{
		"brokerClusterName":       "E2ECluster",
		"brokerName":              "broker-e2e",
		"brokerId":                "0",
		"flushDiskType":           "ASYNC_FLUSH",
		"mappedFileSizeCommitLog": strconv.Itoa(segmentSize),
		"autoCreateTopicEnable":   "true",
	}
}

// newBrokerSetup is the single broker of most tests: defaultConf with
// flushDiskType, one name server.
func newBrokerSetup(t *testing.T, nsAddr, flushDiskType string) *brokerSetup {
	t.Helper()
	return newBrokerSetupWith(t, brokerOpts{namesrv: []string{nsAddr}, keys: map[string]string{"flushDiskType": flushDiskType}})
}

// newBrokerSetupWith writes the broker.conf of o into a new temporary
// directory, which also holds the store and the logs of every run.
func newBrokerSetupWith(t *testing.T, o brokerOpts) *brokerSetup {
	t.Helper()
	dir := t.TempDir()
	keys := defaultConf()
	maps.Copy(keys, o.keys)
	_, lp := keys["listenPort"]
	_, hp := keys["haListenPort"]
	// Every master opens an HA port, listenPort+1 unless set, which
	// nothing reserves (a client's ephemeral port can hold it): pick both.
	if !lp && !hp {
		ports := testkit.FreePorts(t, 2)
		_, keys["listenPort"], _ = net.SplitHostPort(ports[0])
		_, keys["haListenPort"], _ = net.SplitHostPort(ports[1])
	} else if !lp {
		_, keys["listenPort"], _ = net.SplitHostPort(testkit.FreePort(t))
	}
	s := &brokerSetup{bin: wharfBinary(t), dir: dir, store: filepath.Join(dir, "store"),
		conf: filepath.Join(dir, "broker.conf"), addr: "127.0.0.1:" + keys["listenPort"],
		namesrv: strings.Join(o.namesrv, ";"), keys: keys}
	if p, ok := keys["haListenPort"]; ok {
		s.haAddr = "127.0.0.1:" + p
	}
	s.writeConf(t)
	return s
}

// setKey changes one broker.conf key for the next start (a role change,
// a new haMasterAddress). The addresses are fixed: not listenPort nor
// haListenPort.
func (s *brokerSetup) setKey(t *testing.T, key, value string) {
	t.Helper()
	if key == "listenPort" || key == "haListenPort" {
		t.Fatalf("setKey %s: a setup's ports are fixed at creation", key)
	}
	s.keys[key] = value
	s.writeConf(t)
}

// writeConf writes keys as a Java properties file, sorted by key.
func (s *brokerSetup) writeConf(t *testing.T) {
	t.Helper()
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(s.keys)) {
		fmt.Fprintf(&b, "%s=%s\n", k, s.keys[k])
	}
	if err := os.WriteFile(s.conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// brokerProc is one run of `wharf broker`.
type brokerProc struct {
	cmd     *exec.Cmd
	started time.Time
	logPath string
	exited  chan struct{} // closed when Wait returned
	waitErr error
}

// startWithTopics starts the broker, waits until it serves, and creates the
// load topics on it.
func (s *brokerSetup) startWithTopics(t *testing.T, pc *probeClient) *brokerProc {
	t.Helper()
	proc := s.start(t)
	if _, err := proc.until(10*time.Second, pc.serving); err != nil {
		t.Fatal(err)
	}
	for _, topic := range loadTopics {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := pc.createTopic(ctx, topic, queuesPerTop)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	return proc
}

// startProc runs the wharf binary with args, its output in logPath.
func startProc(t *testing.T, bin, logPath string, args ...string) *brokerProc {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p := &brokerProc{cmd: cmd, logPath: logPath, exited: make(chan struct{}), started: time.Now()}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatal(err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	t.Cleanup(func() { p.kill(t) })
	return p
}

func (s *brokerSetup) start(t *testing.T) *brokerProc {
	t.Helper()
	s.runs++
	logPath := filepath.Join(s.dir, fmt.Sprintf("broker-%03d.log", s.runs))
	return startProc(t, s.bin, logPath, "broker", "-c", s.conf, "--listen", s.addr, "--namesrv", s.namesrv, "--data", s.store)
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *brokerProc) kill(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("broker pid %d did not die within 10 s of SIGKILL", p.cmd.Process.Pid)
	}
}

// terminate sends SIGTERM and waits for a clean exit.
func (p *brokerProc) terminate(t *testing.T, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(within):
		t.Fatalf("broker did not exit within %v of SIGTERM; log:\n%s", within, p.logTail())
	}
	if p.waitErr != nil {
		t.Fatalf("broker exited with %v after SIGTERM; log:\n%s", p.waitErr, p.logTail())
	}
	return time.Since(start)
}

func (p *brokerProc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// errExited is returned when the process died while we waited for it.
var errExited = errors.New("broker process exited")

// until calls probe every 2 ms until it succeeds, the process exits or d
// passes. It returns the time from process start to success.
func (p *brokerProc) until(d time.Duration, probe func(ctx context.Context) error) (time.Duration, error) {
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return 0, fmt.Errorf("%w (%v); log:\n%s", errExited, p.waitErr, p.logTail())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
		last = probe(ctx)
		cancel()
		if last == nil {
			return time.Since(p.started), nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, fmt.Errorf("not ready after %v: %v; log:\n%s", d, last, p.logTail())
}

// probeClient is a lean remoting client for readiness checks and pulls.
type probeClient struct {
	c    *remoting.Client
	addr string
}

func newProbe(addr string) *probeClient {
	return &probeClient{c: remoting.NewClient(remoting.ClientOptions{Logger: quietLogger(), Language: "GO",
		DialTimeout: 200 * time.Millisecond}), addr: addr}
}

func (pc *probeClient) Close() { pc.c.Close() }

func (pc *probeClient) invoke(ctx context.Context, code int16, ext map[string]string) (*remoting.Command, error) {
	return pc.c.Invoke(ctx, pc.addr, remoting.NewRequest(code, ext, nil))
}

// serving asks for a max offset: any SUCCESS means the broker serves.
func (pc *probeClient) serving(ctx context.Context) error {
	resp, err := pc.invoke(ctx, remoting.CodeGetMaxOffset, map[string]string{"topic": "TBW102", "queueId": "0"})
	if err != nil {
		return err
	}
	if resp.Code != remoting.RespSuccess {
		return fmt.Errorf("GET_MAX_OFFSET: code %d %s", resp.Code, resp.Remark)
	}
	return nil
}

// pullOne pulls the record at (topic, queue, offset) through the broker.
func (pc *probeClient) pullOne(ctx context.Context, topic string, queueID int32, offset int64) (msg.Record, error) {
	resp, err := pc.invoke(ctx, remoting.CodePullMessage, map[string]string{
		"consumerGroup": "e2e_verify", "topic": topic, "queueId": strconv.Itoa(int(queueID)),
		"queueOffset": strconv.FormatInt(offset, 10), "maxMsgNums": "1", "sysFlag": "0", "commitOffset": "0",
		"suspendTimeoutMillis": "0", "subscription": "*", "subVersion": "0", "expressionType": "TAG",
	})
	if err != nil {
		return msg.Record{}, err
	}
	if resp.Code != remoting.RespSuccess {
		return msg.Record{}, fmt.Errorf("pull %s/%d@%d: code %d %s", topic, queueID, offset, resp.Code, resp.Remark)
	}
	r, err := msg.Decode(resp.Body)
	if err != nil {
		return msg.Record{}, fmt.Errorf("pull %s/%d@%d: %w", topic, queueID, offset, err)
	}
	if r.QueueOffset != offset {
		return msg.Record{}, fmt.Errorf("pull %s/%d@%d returned offset %d", topic, queueID, offset, r.QueueOffset)
	}
	r.Body = bytes.Clone(r.Body)
	r.Properties = bytes.Clone(r.Properties)
	return r, nil
}

// createTopic creates a topic with n queues on the broker.
func (pc *probeClient) createTopic(ctx context.Context, topic string, n int) error {
	q := strconv.Itoa(n)
	resp, err := pc.invoke(ctx, remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": topic,
		"readQueueNums": q, "writeQueueNums": q, "perm": "6"})
	if err != nil {
		return err
	}
	if resp.Code != remoting.RespSuccess {
		return fmt.Errorf("create topic %s: code %d %s", topic, resp.Code, resp.Remark)
	}
	return nil
}

// routed reports whether the name server routes topic to addr.
func routed(ctx context.Context, c *remoting.Client, nsAddr, topic, brokerAddr string) error {
	resp, err := c.Invoke(ctx, nsAddr, remoting.NewRequest(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": topic}, nil))
	if err != nil {
		return err
	}
	if resp.Code != remoting.RespSuccess || !bytes.Contains(resp.Body, []byte(brokerAddr)) {
		return fmt.Errorf("no route of %s to %s yet (code %d)", topic, brokerAddr, resp.Code)
	}
	return nil
}

// checkNoOwnGoroutines fails the test if, once every cleanup registered
// after it has run, a goroutine of this module (the name server, the probe
// clients, the load) is still running. The official client's own
// leftovers are not counted: they are not ours to stop.
func checkNoOwnGoroutines(t *testing.T) {
	t.Cleanup(func() {
		var left []string
		deadline := time.Now().Add(5 * time.Second)
		for {
			left = left[:0]
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			for g := range strings.SplitSeq(string(buf), "\n\n") {
				// The test binary's main and parent tests waiting in Run are not leaks.
				if strings.Contains(g, "github.com/wharfmq/wharf/") && !strings.Contains(g, "checkNoOwnGoroutines") &&
					!strings.Contains(g, "testing.(*M).Run(") && !strings.Contains(g, "testing.(*T).Run(") {
					left = append(left, g)
				}
			}
			if len(left) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(left) > 0 {
			t.Errorf("%d goroutines of this module left running; first:\n%s", len(left), left[0])
		}
	})
}
