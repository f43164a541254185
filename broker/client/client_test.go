package client

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfmq/wharf/remoting/body"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// conn is a connection of the tests.
type conn struct {
	id   uint64
	done chan struct{}
}

func newConn(id uint64) *conn         { return &conn{id: id, done: make(chan struct{})} }
func (c *conn) ID() uint64            { return c.id }
func (c *conn) Done() <-chan struct{} { return c.done }
func sub(topic string, v int64) SubscriptionData {
	return SubscriptionData{Topic: topic, SubString: "*", SubVersion: v, ExpressionType: "TAG"}
}

// TestRegisterConsumerChanges: a group is told when a connection joins or
// a subscription is added, dropped or replaced by a higher subVersion, and
// not on a repeated heartbeat.
func TestRegisterConsumerChanges(t *testing.T) {
	r := New[*conn](Options{})
	c1, c2 := newConn(1), newConn(2)
	now := time.Unix(100, 0)
	steps := []struct {
		name string
		c    *conn
		subs []SubscriptionData
		want bool
	}{
		{"join", c1, []SubscriptionData{sub("T", 1)}, true},
		{"again", c1, []SubscriptionData{sub("T", 1)}, false},
		{"older version", c1, []SubscriptionData{sub("T", 0)}, false},
		{"higher version", c1, []SubscriptionData{sub("T", 2)}, true},
		{"topic added", c1, []SubscriptionData{sub("T", 2), sub("U", 1)}, true},
		{"topic dropped", c1, []SubscriptionData{sub("U", 1)}, true},
		{"no topic ignored", c1, []SubscriptionData{sub("U", 1), sub("", 9)}, false},
		{"second conn", c2, []SubscriptionData{sub("U", 1)}, true},
	}
	for _, s := range steps {
		if got := r.RegisterConsumer(Consumer{Group: "G", Subscriptions: s.subs}, s.c, Ident{ClientID: "cid"}, now); got != s.want {
			t.Fatalf("%s: changed = %v, want %v", s.name, got, s.want)
		}
	}
	if _, ok := r.Subscription("G", "T"); ok {
		t.Error("dropped subscription to T still there")
	}
	if s, ok := r.Subscription("G", "U"); !ok || s.SubVersion != 1 || s.Filter == nil {
		t.Errorf("subscription to U = %+v, %v", s, ok)
	}
	if ids := r.ConsumerIDs("G"); !slices.Equal(ids, []string{"cid"}) {
		t.Errorf("ConsumerIDs = %v, want one distinct id", ids)
	}
	if n := len(r.Conns("G")); n != 2 {
		t.Errorf("%d conns, want 2", n)
	}
}

// TestSubscriptionFilters: tags come from tagsSet, else from the
// expression; a SQL92 expression that does not compile keeps its error.
func TestSubscriptionFilters(t *testing.T) {
	s := newSubscription(SubscriptionData{Topic: "T", SubString: "a || b", Tags: []string{" x ", ""}})
	if !slices.Equal(s.Tags, []string{"x"}) {
		t.Errorf("tags from tagsSet = %q", s.Tags)
	}
	s = newSubscription(SubscriptionData{Topic: "T", SubString: " a || b ||"})
	if !slices.Equal(s.Tags, []string{"a", "b"}) {
		t.Errorf("tags from expression = %q", s.Tags)
	}
	s = newSubscription(SubscriptionData{Topic: "T", SubString: "a >", ExpressionType: "SQL92"})
	if s.SQLErr == nil || s.Filter != nil {
		t.Errorf("bad SQL92: err %v filter %v", s.SQLErr, s.Filter)
	}
	s = newSubscription(SubscriptionData{Topic: "T", SubString: "a > 1", ExpressionType: "SQL92"})
	if s.SQLErr != nil || s.Filter == nil {
		t.Errorf("SQL92: err %v", s.SQLErr)
	}
	r := New[*conn](Options{})
	if _, err := r.PullFilter("CLASS", "x"); err == nil {
		t.Error("PullFilter took expression type CLASS")
	}
	if ParseTags(" * ") != nil || ParseTags("") != nil {
		t.Error("* and empty must mean all tags")
	}
}

// TestExpireAndConnClosed: silent memberships go, and a connection is
// reported dead only when it is in no group any more.
func TestExpireAndConnClosed(t *testing.T) {
	r := New[*conn](Options{})
	c1, c2 := newConn(1), newConn(2)
	old, fresh := time.Unix(100, 0), time.Unix(200, 0)
	r.RegisterConsumer(Consumer{Group: "G"}, c1, Ident{ClientID: "a"}, old)
	r.RegisterProducer("P", c1, Ident{ClientID: "a"}, fresh)
	r.RegisterConsumer(Consumer{Group: "G"}, c2, Ident{ClientID: "b"}, old)
	groups, dead := r.Expire(time.Unix(150, 0))
	if !slices.Equal(groups, []string{"G"}) || len(dead) != 1 || dead[0] != c2 {
		t.Fatalf("Expire = %v, %v; want [G] and c2 dead (c1 still produces)", groups, dead)
	}
	if r.ConsumerIDs("G") != nil {
		t.Error("G still has members")
	}
	if got, _ := r.ClientConn("a"); r.ProducerConn("P") != c1 || got != c1 {
		t.Error("producer c1 lost")
	}
	r.RegisterConsumer(Consumer{Group: "H"}, c1, Ident{ClientID: "a"}, fresh)
	if got := r.ConnClosed(1); !slices.Equal(got, []string{"H"}) {
		t.Errorf("ConnClosed = %v, want [H]", got)
	}
	if r.ProducerConn("P") != nil {
		t.Error("producer survives its connection")
	}
	r.RegisterConsumer(Consumer{Group: "H"}, c2, Ident{ClientID: "b"}, fresh)
	if got := r.Unregister(2, "", "H"); !slices.Equal(got, []string{"H"}) {
		t.Errorf("Unregister = %v", got)
	}
}

// clientConn is ClientConn that fails the test on an error.
func clientConn(t *testing.T, r *Registry[*conn], id string) *conn {
	t.Helper()
	c, err := r.ClientConn(id)
	if err != nil {
		t.Fatalf("ClientConn(%q): %v", id, err)
	}
	return c
}

// TestRequesters: bounded, forgotten when their connection closes, and a
// producer connection of the same client is preferred.
func TestRequesters(t *testing.T) {
	r := New[*conn](Options{MaxRequesters: 2})
	c1, c2, c3 := newConn(1), newConn(2), newConn(3)
	r.NoteRequester("a", c1, "")
	r.NoteRequester("b", c2, "")
	r.NoteRequester("c", c3, "")
	r.NoteRequester("a", c3, "") // known ids are still updated
	if r.Requesters() != 2 || clientConn(t, r, "c") != nil || clientConn(t, r, "a") != c3 {
		t.Fatalf("requesters %d, c -> %v, a -> %v", r.Requesters(), clientConn(t, r, "c"), clientConn(t, r, "a"))
	}
	r.RegisterProducer("P", c1, Ident{ClientID: "a"}, time.Unix(1, 0))
	if clientConn(t, r, "a") != c1 {
		t.Error("producer connection not preferred")
	}
	r.ConnClosed(2)
	if clientConn(t, r, "b") != nil {
		t.Error("requester b survives its connection")
	}
	closed := newConn(4)
	close(closed.done)
	r.NoteRequester("d", closed, "")
	if clientConn(t, r, "d") != nil {
		t.Error("closed connection noted")
	}
}

// TestClientIDUnderTwoAccounts: a client id that live connections claim
// under two accounts, by a producer heartbeat or a request message, leads
// to none of them, whoever claimed first and last, until the other
// account's connection goes; the same account's claims choose as before.
func TestClientIDUnderTwoAccounts(t *testing.T) {
	t0 := time.Unix(100, 0)
	for _, tc := range []struct {
		name   string
		claims func(r *Registry[*conn], own, other *conn)
	}{
		{"heartbeat after heartbeat", func(r *Registry[*conn], own, other *conn) {
			r.RegisterProducer("P", own, Ident{ClientID: "a", Account: "A"}, t0)
			r.RegisterProducer("Q", other, Ident{ClientID: "a", Account: "B"}, t0.Add(time.Second))
		}},
		{"squatter's heartbeat first", func(r *Registry[*conn], own, other *conn) {
			r.RegisterProducer("Q", other, Ident{ClientID: "a", Account: "B"}, t0)
			r.RegisterProducer("P", own, Ident{ClientID: "a", Account: "A"}, t0.Add(time.Second))
		}},
		{"request after request", func(r *Registry[*conn], own, other *conn) {
			r.NoteRequester("a", own, "A")
			r.NoteRequester("a", other, "B")
		}},
		{"squatter's request first", func(r *Registry[*conn], own, other *conn) {
			r.NoteRequester("a", other, "B")
			r.NoteRequester("a", own, "A")
		}},
		{"request against a heartbeat", func(r *Registry[*conn], own, other *conn) {
			r.RegisterProducer("P", own, Ident{ClientID: "a", Account: "A"}, t0)
			r.NoteRequester("a", other, "B")
		}},
		{"heartbeat against a request", func(r *Registry[*conn], own, other *conn) {
			r.NoteRequester("a", own, "A")
			r.RegisterProducer("Q", other, Ident{ClientID: "a", Account: "B"}, t0)
		}},
	} {
		r := New[*conn](Options{})
		own, other := newConn(1), newConn(2)
		tc.claims(r, own, other)
		if c, err := r.ClientConn("a"); !errors.Is(err, ErrContested) || c != nil {
			t.Errorf("%s: ClientConn = %v, %v; want ErrContested", tc.name, c, err)
		}
		r.ConnClosed(other.ID())
		if c, err := r.ClientConn("a"); err != nil || c != own {
			t.Errorf("%s, the other account gone: ClientConn = %v, %v; want the own connection", tc.name, c, err)
		}
	}

	// One account: the latest heartbeat, or a reconnected requester.
	r := New[*conn](Options{})
	c1, c2, c3 := newConn(1), newConn(2), newConn(3)
	r.RegisterProducer("P", c1, Ident{ClientID: "a", Account: "A"}, t0)
	r.RegisterProducer("P", c2, Ident{ClientID: "a", Account: "A"}, t0.Add(time.Second))
	if clientConn(t, r, "a") != c2 {
		t.Error("same account: not the latest heartbeat")
	}
	r.NoteRequester("b", c1, "A")
	r.NoteRequester("b", c3, "A")
	if clientConn(t, r, "b") != c3 {
		t.Error("same account: the reconnected requester not taken")
	}
}

// TestProducerConnWhere: the latest heartbeat among the members keep
// accepts, given their accounts.
func TestProducerConnWhere(t *testing.T) {
	r := New[*conn](Options{})
	c1, c2, c3 := newConn(1), newConn(2), newConn(3)
	t0 := time.Unix(100, 0)
	r.RegisterProducer("P", c1, Ident{ClientID: "a", Account: "A"}, t0)
	r.RegisterProducer("P", c2, Ident{ClientID: "b", Account: "A"}, t0.Add(time.Second))
	r.RegisterProducer("P", c3, Ident{ClientID: "c", Account: "B"}, t0.Add(2*time.Second))
	only := func(acct string) func(*conn, string) bool {
		return func(_ *conn, a string) bool { return a == acct }
	}
	if got := r.ProducerConnWhere("P", only("A")); got != c2 {
		t.Errorf("account A: %v, want c2 (its latest)", got)
	}
	if got := r.ProducerConnWhere("P", only("C")); got != nil {
		t.Errorf("account C: %v, want none", got)
	}
	if got := r.ProducerConnWhere("P", nil); got != c3 || r.ProducerConn("P") != c3 {
		t.Errorf("no filter: %v, want c3", got)
	}
}

// TestExpiryScan: Start drops silent clients on its own goroutine and
// tells onExpired; Close stops it (goleak checks).
func TestExpiryScan(t *testing.T) {
	r := New[*conn](Options{})
	c := newConn(1)
	r.RegisterConsumer(Consumer{Group: "G"}, c, Ident{ClientID: "a"}, time.Now().Add(-time.Hour))
	got := make(chan []*conn, 1)
	r.Start(time.Minute, time.Millisecond, func(groups []string, dead []*conn) { got <- dead })
	defer r.Close()
	select {
	case dead := <-got:
		if len(dead) != 1 || dead[0] != c {
			t.Fatalf("dead = %v", dead)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no expiry")
	}
}

func queues(ids ...int32) []body.MessageQueue {
	var out []body.MessageQueue
	for _, id := range ids {
		out = append(out, body.MessageQueue{Topic: "T", BrokerName: "b", QueueID: id})
	}
	return out
}

func ids(mqs []body.MessageQueue) []int32 {
	var out []int32
	for _, mq := range mqs {
		out = append(out, mq.QueueID)
	}
	slices.Sort(out)
	return out
}

// TestLocks: a queue goes to the first client, again to the same one, to
// another once unlocked or expired.
func TestLocks(t *testing.T) {
	var aged atomic.Int64
	l := NewLocks(time.Minute, func() time.Time { return time.Unix(1000, 0).Add(time.Duration(aged.Load())) })
	if got := ids(l.Lock("G", "A", queues(0, 1))); !slices.Equal(got, []int32{0, 1}) {
		t.Fatalf("A locked %v", got)
	}
	if got := ids(l.Lock("G", "B", queues(1, 2))); !slices.Equal(got, []int32{2}) {
		t.Fatalf("B locked %v", got)
	}
	if got := l.Lock("H", "B", nil); got == nil {
		t.Fatal("Lock returned nil, want an empty set")
	}
	l.Unlock("G", "B", queues(0)) // not B's: stays A's
	l.Unlock("G", "A", queues(1))
	if got := ids(l.Lock("G", "B", queues(0, 1))); !slices.Equal(got, []int32{1}) {
		t.Fatalf("B after A's unlock %v", got)
	}
	if l.Held("G") != 3 {
		t.Fatalf("%d held, want A's 0 and B's 1 and 2", l.Held("G"))
	}
	aged.Store(int64(time.Minute + time.Millisecond))
	if l.Held("G") != 0 {
		t.Fatalf("%d held after maxLive, want none", l.Held("G"))
	}
	if got := ids(l.Lock("G", "C", queues(0, 1, 2))); !slices.Equal(got, []int32{0, 1, 2}) {
		t.Fatalf("C after expiry %v", got)
	}
}

// TestLockLivesUntilMaxLive: a lock is another client's for maxLive after
// its last renewal, whatever became of its holder's connection (Java
// RebalanceLockManager; the table knows no connections); renewing keeps
// it, and expired locks are swept.
func TestLockLivesUntilMaxLive(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewLocks(LockMaxLive, func() time.Time { return now })
	if got := ids(l.Lock("G", "A", queues(0, 1))); !slices.Equal(got, []int32{0, 1}) {
		t.Fatalf("A locked %v", got)
	}
	now = now.Add(LockMaxLive)
	if got := l.Lock("G", "B", queues(0, 1)); len(got) != 0 {
		t.Fatalf("B took %v from A at maxLive", ids(got))
	}
	if got := ids(l.Lock("G", "A", queues(0))); !slices.Equal(got, []int32{0}) { // renews 0 only
		t.Fatalf("A renewed %v", got)
	}
	now = now.Add(time.Millisecond)
	if got := ids(l.Lock("G", "B", queues(0, 1))); !slices.Equal(got, []int32{1}) {
		t.Fatalf("B after A's queue 1 expired got %v, want [1]", got)
	}
	now = now.Add(3 * LockMaxLive)
	l.Lock("other", "C", nil) // sweeps
	l.mu.Lock()
	left := len(l.groups)
	l.mu.Unlock()
	if left != 0 {
		t.Errorf("%d groups left after every lock expired", left)
	}
}

// TestNoMemberOnClosedConn: a heartbeat handler still running when its
// connection closed, so ConnClosed already ran, registers nothing: no
// consumer listed to its group (GET_CONSUMER_LIST_BY_GROUP) until expiry,
// no producer, no requester. A registration that started before the close
// is removed by ConnClosed as usual.
func TestNoMemberOnClosedConn(t *testing.T) {
	r := New[*conn](Options{})
	c := newConn(1)
	close(c.done) // the reader saw EOF: Done closes, then the close hook runs
	r.ConnClosed(c.ID())
	if r.RegisterConsumer(Consumer{Group: "G", Subscriptions: []SubscriptionData{sub("T", 1)}}, c, Ident{ClientID: "a"}, time.Now()) {
		t.Error("RegisterConsumer on a closed connection reported a change")
	}
	r.RegisterProducer("P", c, Ident{ClientID: "a"}, time.Now())
	r.NoteRequester("a", c, "")
	if ids := r.ConsumerIDs("G"); ids != nil {
		t.Errorf("consumer group G lists %v after its only connection closed", ids)
	}
	if got, _ := r.ClientConn("a"); r.ProducerGroup("P") != nil || got != nil || r.Requesters() != 0 {
		t.Error("producer or requester registered on a closed connection")
	}

	open := newConn(2)
	r.RegisterConsumer(Consumer{Group: "G"}, open, Ident{ClientID: "b"}, time.Now())
	close(open.done)
	if got := r.ConnClosed(open.ID()); !slices.Equal(got, []string{"G"}) {
		t.Errorf("ConnClosed = %v, want [G]", got)
	}
}
