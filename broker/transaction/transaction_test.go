package transaction

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/testkit"
)

// TestMain fails the package if a test leaves the checker goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// checks records the check-backs the service sends.
type checks struct {
	mu    sync.Mutex
	sent  []Check
	group string // the only group with a live producer
}

func (c *checks) SendCheck(ch *Check) error {
	if ch.Group != c.group {
		return ErrNoProducer
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, *ch)
	return nil
}

func (c *checks) list() []Check {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Check(nil), c.sent...)
}

// newService opens a small store in a temporary folder and a service on
// it, without a broker.
func newService(t *testing.T, mut func(*Config)) (*Service, *engine.Store, *checks) {
	t.Helper()
	st := testkit.OpenStore(t, nil)
	ck := &checks{group: "PG"}
	cfg := Config{
		Store: st, EnsureTopic: func(string) error { return nil }, Route: func(*msg.Message) error { return nil },
		Checker: ck, StoreHost: testkit.StoreHost, BrokerName: "b1",
		Timeout: time.Hour, Interval: time.Hour, CheckMax: 15,
	}
	if mut != nil {
		mut(&cfg)
	}
	return startService(t, cfg), st, ck
}

// startService starts a service from cfg and waits for its state to load.
func startService(t *testing.T, cfg Config) *Service {
	t.Helper()
	s := New(cfg, testkit.Logger(t))
	s.Start()
	t.Cleanup(s.Close)
	<-s.Ready()
	return s
}

// sendHalf prepares and stores a transactional message for topic T.
func sendHalf(t *testing.T, s *Service, st *engine.Store, body string) engine.PutResult {
	t.Helper()
	props := msg.AppendProperty(msg.AppendProperty("", msg.PropTranMsg, "true"), PropProducerGroup, "PG")
	m := msg.Message{Topic: "T", QueueID: 2, Body: []byte(body), Properties: msg.AppendProperty(props, msg.PropUniqKey, "U-"+body),
		SysFlag: msg.FlagTransactionPrep, BornTimestamp: time.Now().UnixMilli(), BornHost: testkit.StoreHost}
	if !IsTranMsg(m.Properties) {
		t.Fatal("IsTranMsg false for TRAN_MSG=true")
	}
	if err := s.Prepare(&m); err != nil {
		t.Fatal(err)
	}
	res, err := st.Put(&m)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func end(s *Service, res engine.PutResult, typ int32) (string, error) {
	return s.End(context.Background(), nil, EndRequest{ProducerGroup: "PG", TranStateTableOffset: res.QueueOffset,
		CommitLogOffset: res.Phys, CommitOrRollback: typ})
}

func kindOf(err error) Kind {
	var te *Error
	if errors.As(err, &te) {
		return te.Kind
	}
	return 0
}

// TestEndOnItsOwn commits and rolls back half messages through the service
// alone and checks the refusals come back as Kinds, not response codes.
func TestEndOnItsOwn(t *testing.T) {
	s, st, _ := newService(t, nil)
	a, b := sendHalf(t, s, st, "a"), sendHalf(t, s, st, "b")
	if note, err := end(s, a, TypeCommit); err != nil || note != "" {
		t.Fatalf("commit a: %q %v", note, err)
	}
	if _, err := end(s, b, TypeRollback); err != nil {
		t.Fatalf("rollback b: %v", err)
	}
	for _, res := range []engine.PutResult{a, b} {
		if note, err := end(s, res, TypeCommit); err != nil || note != "transaction already ended" {
			t.Fatalf("second end: %q %v", note, err)
		}
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		qs, _ := st.QueueState(opTopic, 0)
		return qs.Max == 2
	}, "two op records")
	if qs, ok := st.QueueState("T", 2); !ok || qs.Max != 1 {
		t.Fatalf("T/2 holds %+v %v, want the one committed message", qs, ok)
	}
	if _, err := end(s, a, 5); kindOf(err) != KindBadType {
		t.Fatalf("commitOrRollback 5: %v", err)
	}
	wrong := a
	wrong.QueueOffset++
	if _, err := end(s, wrong, TypeCommit); kindOf(err) != KindSystem || err.Error() != "The transaction state table offset wrong" {
		t.Fatalf("wrong table offset: %v", err)
	}
	// A route that fails at Prepare refuses the half; one that fails only
	// at the commit (the levels changed in between) fails the END.
	route := errors.New("no such level")
	var badRoute atomic.Bool
	s2, st2, _ := newService(t, func(c *Config) {
		c.Route = func(*msg.Message) error {
			if badRoute.Load() {
				return route
			}
			return nil
		}
	})
	c := sendHalf(t, s2, st2, "c")
	badRoute.Store(true)
	if err := s2.Prepare(&msg.Message{Topic: "T", Properties: msg.AppendProperty("", msg.PropDelay, "x")}); kindOf(err) != KindIllegal || !errors.Is(err, route) {
		t.Fatalf("Prepare with a bad DELAY: %v", err)
	}
	if _, err := end(s2, c, TypeCommit); kindOf(err) != KindIllegal || !errors.Is(err, route) {
		t.Fatalf("commit with a bad DELAY: %v", err)
	}
	s3, _, _ := newService(t, func(c *Config) { c.Reject = true })
	if err := s3.Prepare(&msg.Message{Topic: "T"}); kindOf(err) != KindForbidden {
		t.Fatalf("Prepare with Reject: %v", err)
	}
}

// TestCheckBackOnItsOwn lets a half message age past the timeout and
// expects a check through the Checker naming its copy, which a commit then
// resolves; Close stops the checker (goleak).
func TestCheckBackOnItsOwn(t *testing.T) {
	s, st, ck := newService(t, func(c *Config) { c.Timeout, c.Interval = 50*time.Millisecond, 20*time.Millisecond })
	first := sendHalf(t, s, st, "x")
	testkit.Eventually(t, 5*time.Second, func() bool { return len(ck.list()) > 0 }, "a check-back")
	c := ck.list()[0]
	if c.Group != "PG" || c.Topic != "T" || c.MsgID != "U-x" || c.TranStateTableOffset <= first.QueueOffset || c.OffsetMsgID == "" {
		t.Fatalf("check %+v", c)
	}
	r, err := msg.Decode(c.Body)
	if err != nil || string(r.Topic) != "T" || r.QueueID != 2 || string(r.Body) != "x" || r.QueueOffset != c.TranStateTableOffset {
		t.Fatalf("check body %+v %v", r, err)
	}
	if n, _ := r.Property(PropTranCheckTimes); n != "1" {
		t.Fatalf("TRANSACTION_CHECK_TIMES %q", n)
	}
	copyRes := engine.PutResult{QueueOffset: c.TranStateTableOffset, Phys: c.CommitLogOffset}
	if _, err := end(s, copyRes, TypeCommit); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		qs, _ := st.QueueState("T", 2)
		return qs.Max == 1
	}, "the committed message in T/2")
	s.Close()
}

// TestServiceStopsAndStartsAgain: Stop stops the checker; Start loads the
// state again from the store, with what was appended meanwhile (a broker
// that was a slave for a while), and END_TRANSACTION works on it.
func TestServiceStopsAndStartsAgain(t *testing.T) {
	s, st, _ := newService(t, nil)
	a := sendHalf(t, s, st, "a")
	s.Stop()
	s.Stop()                     // a second Stop is harmless
	b := sendHalf(t, s, st, "b") // as replication would append it
	if err := st.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	s.Start()
	select {
	case <-s.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("state not loaded again after Start")
	}
	for _, res := range []engine.PutResult{a, b} {
		if note, err := end(s, res, TypeCommit); err != nil || note != "" {
			t.Fatalf("commit after restart: %q %v", note, err)
		}
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		qs, ok := st.QueueState("T", 2)
		return ok && qs.Max == 2
	}, "both committed messages in T/2")
}

// halfWith prepares and stores a transactional message for T/2 with one
// more property, key=value.
func halfWith(s *Service, st *engine.Store, body, key, value string) (engine.PutResult, error) {
	props := msg.AppendProperty(msg.AppendProperty("", msg.PropTranMsg, "true"), PropProducerGroup, "PG")
	props = msg.AppendProperty(msg.AppendProperty(props, msg.PropUniqKey, "U-"+body), key, value)
	m := msg.Message{Topic: "T", QueueID: 2, Body: []byte(body), Properties: props,
		SysFlag: msg.FlagTransactionPrep, BornTimestamp: time.Now().UnixMilli(), BornHost: testkit.StoreHost}
	if err := s.Prepare(&m); err != nil {
		return engine.PutResult{}, err
	}
	return st.Put(&m)
}

// A half the store accepts but whose check copy it refuses (its properties
// and the check's over the limit) goes to the check-max topic: retried, it
// stopped every check of every half behind it, for ever.
func TestUncopyableHalfDoesNotStallTheChecks(t *testing.T) {
	s, st, ck := newService(t, func(c *Config) { c.Timeout, c.Interval = 50*time.Millisecond, 20*time.Millisecond })
	s.Stop() // no pass until both halves are stored
	var stored bool
	for pad := 32767 - 120; pad > 32767-400 && !stored; pad -= 4 {
		// The largest padding the store takes: no room left for the
		// properties a check copy adds.
		_, err := halfWith(s, st, "poison", "PAD", strings.Repeat("p", pad))
		stored = err == nil
	}
	if !stored {
		t.Fatal("no padded half was accepted")
	}
	sendHalf(t, s, st, "ok")
	s.Start()
	<-s.Ready()
	testkit.Eventually(t, 5*time.Second, func() bool {
		for _, c := range ck.list() {
			if c.MsgID == "U-ok" {
				return true
			}
		}
		return false
	}, "a check-back of the half behind the uncopyable one")
	testkit.Eventually(t, 5*time.Second, func() bool { qs, _ := st.QueueState(checkMaxTopic, 0); return qs.Max == 1 },
		"the uncopyable half in %s", checkMaxTopic)
}

// A producer's TRAN_PREPARED_QUEUE_OFFSET does not make its half another
// (ended) transaction: its commit is delivered, not dropped as "already
// ended".
func TestProducerCannotNameAnotherTransaction(t *testing.T) {
	s, st, _ := newService(t, nil)
	old := sendHalf(t, s, st, "old")
	if _, err := end(s, old, TypeRollback); err != nil {
		t.Fatal(err)
	}
	res, err := halfWith(s, st, "new", PropTranPreparedQueueOffset, strconv.FormatInt(old.QueueOffset, 10))
	if err != nil {
		t.Fatal(err)
	}
	if note, err := end(s, res, TypeCommit); err != nil || note != "" {
		t.Fatalf("commit of the new transaction: %q %v", note, err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { qs, _ := st.QueueState("T", 2); return qs.Max == 1 },
		"the committed message in T/2")
}

// holdStore stores the message of the first Put that match accepts, then
// holds that Put until release is closed: an END_TRANSACTION whose op
// record has landed but that has not recorded it yet.
type holdStore struct {
	*engine.Store
	match   func(m *msg.Message) bool // set before the service's first Put
	once    sync.Once
	held    chan struct{} // closed once the matching Put has stored its message
	release chan struct{}
}

func (h *holdStore) Put(m *msg.Message) (engine.PutResult, error) {
	hold := h.match != nil && h.match(m)
	res, err := h.Store.Put(m)
	if hold {
		h.once.Do(func() { close(h.held) })
		<-h.release
	}
	return res, err
}

// The op-queue progress advances while an END_TRANSACTION is in flight (it
// stayed put under steady END traffic, so a restart scanned the op queue
// from far back), but never past the op record that END writes, even when
// ENDs that claimed later have recorded theirs: the load after a restart
// must find it, or the checker asks the producer again about a transaction
// already committed, and a commit answer delivers the message twice.
func TestOpProgressAdvancesPastAnEndInFlight(t *testing.T) {
	var hold *holdStore
	s, st, _ := newService(t, func(c *Config) {
		hold = &holdStore{Store: c.Store.(*engine.Store), held: make(chan struct{}), release: make(chan struct{})}
		c.Store = hold
	})
	// Half offsets 0..3; the ops land at 0 (a), 1 (b), 2 (slow), 3 (c).
	a, b, slow, c := sendHalf(t, s, st, "a"), sendHalf(t, s, st, "b"), sendHalf(t, s, st, "slow"), sendHalf(t, s, st, "c")
	const slowOp = 2
	slowBody := strconv.FormatInt(slow.QueueOffset, 10)
	hold.match = func(m *msg.Message) bool { return m.Topic == opTopic && string(m.Body) == slowBody }
	for _, res := range []engine.PutResult{a, b} {
		if _, err := end(s, res, TypeRollback); err != nil {
			t.Fatal(err)
		}
	}
	var slowErr error
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		_, slowErr = end(s, slow, TypeCommit)
	}()
	release := sync.OnceFunc(func() { close(hold.release) })
	t.Cleanup(func() { release(); <-finished })
	select {
	case <-hold.held:
	case <-time.After(5 * time.Second):
		t.Fatal("the op record of the slow commit was not written")
	}
	// c claims after slow's op landed and records its op above it.
	if _, err := end(s, c, TypeRollback); err != nil {
		t.Fatal(err)
	}
	if err := st.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// One check pass and persist, run here: the checker goroutine idles
	// (hour-long interval). The pass skips a and b and stops at slow.
	s.pass()
	s.persist()
	if half, _ := s.Progress(); half != slow.QueueOffset {
		t.Fatalf("checker at half %d, want %d (stopped at the END in flight)", half, slow.QueueOffset)
	}
	if off, ok, err := st.ConsumerOffset(OffsetGroup, opTopic, 0); err != nil || !ok || off != slowOp {
		t.Fatalf("stored op progress %d (stored %v, %v), want %d: past the ops of a and b, not past slow's",
			off, ok, err, slowOp)
	}

	// Restart with the END still in flight when the checker stops; it
	// ends afterwards.
	s.Close()
	release()
	<-finished
	if slowErr != nil {
		t.Fatal(slowErr)
	}
	cfg := s.cfg
	ck := &checks{group: "PG"}
	cfg.Store, cfg.Checker, cfg.Timeout, cfg.Interval = st, ck, 50*time.Millisecond, 20*time.Millisecond
	s2 := startService(t, cfg)
	testkit.Eventually(t, 5*time.Second, func() bool { half, _ := s2.Progress(); return half == c.QueueOffset+1 },
		"the restarted checker past every half")
	if got := ck.list(); len(got) != 0 {
		t.Fatalf("check-backs after the restart: %+v, want none (every transaction ended)", got)
	}
	if qs, _ := st.QueueState("T", 2); qs.Max != 1 {
		t.Fatalf("T/2 holds %d messages, want slow's commit once", qs.Max)
	}
}

// An END_TRANSACTION in flight across a Stop and Start (a broker that
// became slave and master again) records its resolution in the state the
// new load built (it went to the replaced one, and the checker asked the
// producer about the committed transaction again), and its claim goes on
// holding the op progress back.
func TestEndInFlightAcrossStopAndStart(t *testing.T) {
	var armed atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	s, st, ck := newService(t, func(c *Config) {
		c.Timeout = 50 * time.Millisecond
		c.Route = func(m *msg.Message) error {
			if armed.Load() && string(m.Body) == "slow" {
				close(entered)
				<-release
			}
			return nil
		}
	})
	slow := sendHalf(t, s, st, "slow")
	armed.Store(true)
	var slowErr error
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		_, slowErr = end(s, slow, TypeCommit)
	}()
	unblock := sync.OnceFunc(func() { close(release) })
	t.Cleanup(func() { unblock(); <-finished })
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow commit did not reach its delivery")
	}
	s.Stop()
	s.Start()
	<-s.Ready()
	unblock()
	<-finished
	if slowErr != nil {
		t.Fatal(slowErr)
	}
	time.Sleep(60 * time.Millisecond) // the half is now old enough to be checked
	if err := st.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	s.pass() // the checker goroutine idles (hour-long interval)
	s.persist()
	if got := ck.list(); len(got) != 0 {
		t.Fatalf("check-backs: %+v, want none (the transaction ended)", got)
	}
	if half, _ := s.Progress(); half != slow.QueueOffset+1 {
		t.Fatalf("checker at half %d, want %d", half, slow.QueueOffset+1)
	}
	if off, ok, err := st.ConsumerOffset(OffsetGroup, opTopic, 0); err != nil || !ok || off != 1 {
		t.Fatalf("stored op progress %d (stored %v, %v), want 1", off, ok, err)
	}
}
