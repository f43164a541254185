package schedule

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/testkit"
)

// TestMain fails the package if a test leaves a level goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openStore opens a small store in a temporary folder whose dispatcher
// notifies s, as the broker wires it.
func openStore(t *testing.T, s *Service, levels []time.Duration) *engine.Store {
	t.Helper()
	st := testkit.OpenStore(t, func(o *engine.Options) {
		o.DelayLevels = levels
		o.OnDispatch = func(topic string, queueID int32, _ int64) { s.Notify(topic, queueID) }
	})
	s.SetStore(st)
	return st
}

// TestServiceDeliversOnItsOwn runs the service on a bare store, without a
// broker: Route parks a message in its level's queue, the level goroutine
// writes it to its real topic once due and stores its progress, and Close
// stops every goroutine (goleak).
func TestServiceDeliversOnItsOwn(t *testing.T) {
	levels := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond}
	s := New(levels, testkit.StoreHost, testkit.Logger(t))
	st := openStore(t, s, levels)
	defer st.Close()
	if s.QueueNums() != 2 {
		t.Fatalf("QueueNums %d, want 2", s.QueueNums())
	}

	bad := msg.Message{Topic: "T", Properties: msg.AppendProperty("", msg.PropDelay, "soon")}
	if err := s.Route(&bad); err == nil {
		t.Fatal("Route accepted DELAY=soon")
	}
	m := msg.Message{Topic: "T", QueueID: 3, Body: []byte("late"), BornTimestamp: time.Now().UnixMilli(), BornHost: testkit.StoreHost,
		Properties: msg.AppendProperty(msg.AppendProperty("", msg.PropDelay, "9"), msg.PropKeys, "k")}
	if err := s.Route(&m); err != nil {
		t.Fatal(err)
	}
	if m.Topic != delayTopic || m.QueueID != 1 {
		t.Fatalf("routed to %s/%d, want %s/1 (DELAY past the last level is clamped)", m.Topic, m.QueueID, delayTopic)
	}
	if _, err := st.Put(&m); err != nil {
		t.Fatal(err)
	}
	s.Start()
	var rs []msg.Record
	testkit.Eventually(t, 5*time.Second, func() bool {
		rs = testkit.ReadQueue(t, st, "T", 3)
		return len(rs) == 1
	}, "delayed message delivered")
	if r := rs[0]; string(r.Body) != "late" || r.StoreTimestamp < testkit.ReadQueue(t, st, delayTopic, 1)[0].StoreTimestamp+100 {
		t.Fatalf("delivered %q at %d, before its level's delay", r.Body, r.StoreTimestamp)
	}
	if _, ok := rs[0].Property(msg.PropDelay); ok {
		t.Fatal("delivered with DELAY")
	}
	if k, _ := rs[0].Property(msg.PropKeys); k != "k" {
		t.Fatalf("KEYS %q after delivery", k)
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		off, ok, _ := st.ConsumerOffset(OffsetGroup, delayTopic, 1)
		return ok && off == 1
	}, "level progress stored")
	s.Close()
	s.Close() // a second Close is harmless
}

// TestServiceStopsAndStartsAgain: a stopped service delivers nothing
// (a broker that became a slave), and started again it delivers from its
// stored progress (the broker became master again); Start after Close
// does nothing.
func TestServiceStopsAndStartsAgain(t *testing.T) {
	levels := []time.Duration{20 * time.Millisecond}
	s := New(levels, testkit.StoreHost, testkit.Logger(t))
	st := openStore(t, s, levels)
	defer st.Close()
	put := func(body string) {
		t.Helper()
		m := msg.Message{Topic: "T", Body: []byte(body), BornTimestamp: time.Now().UnixMilli(), BornHost: testkit.StoreHost,
			Properties: msg.AppendProperty("", msg.PropDelay, "1")}
		if err := s.Route(&m); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Put(&m); err != nil {
			t.Fatal(err)
		}
	}
	s.Start()
	put("first")
	testkit.Eventually(t, 5*time.Second, func() bool { return len(testkit.ReadQueue(t, st, "T", 0)) == 1 }, "first delivered")
	s.Stop()
	s.Stop() // a second Stop is harmless
	put("second")
	if err := st.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Due 20 ms after its store time; the stopped service leaves it.
	testkit.Never(t, 200*time.Millisecond, func() bool { return len(testkit.ReadQueue(t, st, "T", 0)) > 1 },
		"delivery by a stopped service")
	s.Start()
	testkit.Eventually(t, 5*time.Second, func() bool { return len(testkit.ReadQueue(t, st, "T", 0)) == 2 }, "second delivered after Start")
	s.Close()
	s.Start()
	put("third")
	testkit.Never(t, 200*time.Millisecond, func() bool { return len(testkit.ReadQueue(t, st, "T", 0)) > 2 },
		"delivery after Close")
}
