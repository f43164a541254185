package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options (RocketMQ 5's where it has the key).
const (
	DefaultHeartbeatInterval = time.Second      // brokerHeartbeatInterval
	DefaultHeartbeatTimeout  = 3 * time.Second  // controllerHeartBeatTimeoutMills (RocketMQ 10 s)
	DefaultLease             = 2 * time.Second  // brokerLeaseMillis: the controller's value
	DefaultPoll              = time.Second      // syncBrokerMetadataPeriod (RocketMQ 5 s)
	DefaultCheckSyncStateSet = time.Second      // checkSyncStateSetPeriod (RocketMQ 5 s)
	DefaultMaxNotCatchup     = 15 * time.Second // haMaxTimeSlaveNotCatchup
	DefaultCallTimeout       = 3 * time.Second

	// alterSettle bounds how long an expansion whose answer was lost
	// keeps counting the new member's acknowledgements: by then the
	// controller has applied or dropped the request.
	alterSettle = 10 * time.Second

	// A connected replica within joinGap bytes of the master's end, but
	// short of the confirm offset, is waited for: the master counts its
	// acknowledgements (which stops the confirm offset, and the sends)
	// for up to joinWait, polling every joinPoll, and it joins once it
	// holds the confirm offset. Under a steady load a catching-up
	// replica's acknowledgement trails the moving confirm offset by a
	// frame, so a sample would rarely see it level. One that does not
	// make it is not waited for again for joinBackoff, so a replica too
	// slow to keep up stalls sends for at most joinWait per joinBackoff.
	joinGap     = 1 << 20
	joinWait    = 300 * time.Millisecond
	joinPoll    = 5 * time.Millisecond
	joinBackoff = 10 * time.Second
)

// Options configure a Driver. Zero durations take the defaults above.
type Options struct {
	Cluster, BrokerName string
	// Addr is the broker's remoting address, registered as its address.
	Addr string
	// Dir holds the identity files (storePathRootDir).
	Dir        string
	Controller Controller
	Node       Node

	HeartbeatInterval, HeartbeatTimeout time.Duration
	Lease, Poll                         time.Duration
	CheckSyncStateSet, MaxNotCatchup    time.Duration
	CallTimeout                         time.Duration
	ElectionPriority                    int32
	// FenceOnLeaseLoss makes a master whose lease lapsed refuse writes
	// (package doc: needed unless allAckInSyncStateSet with clean
	// elections).
	FenceOnLeaseLoss bool
	Logger           *slog.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Role is a replica's role as the driver last applied it.
type Role int32

// Roles.
const (
	RoleNone Role = iota // not registered yet, or no master known
	RoleMaster
	RoleSlave
)

func (r Role) String() string {
	switch r {
	case RoleMaster:
		return "MASTER"
	case RoleSlave:
		return "SLAVE"
	}
	return "NONE"
}

// Status is the driver's state, for admin and logs.
type Status struct {
	ID          int64
	Role        Role
	MasterEpoch int32
	MasterAddr  string
	Sync        SyncStateSet
	// LeaseLeft is what remains of a master's lease (negative: lapsed).
	LeaseLeft time.Duration
	Fenced    bool
	LastError string
}

// Driver runs a broker in controller mode (package doc).
type Driver struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	base time.Time // leaseUntil counts from here

	// Read lock-free on the request path.
	role       atomic.Int32
	leaseUntil atomic.Int64 // nanoseconds after base

	// The loop's state; mu guards it for Status.
	mu         sync.Mutex
	id         int64
	epoch      int32
	masterAddr string
	sync       SyncStateSet // the controller's, as last confirmed
	pending    []int64      // an expansion whose answer was lost
	pendingAt  time.Time
	lastErr    error
	lastWhat   string // what failed, for logging once per kind
	started    bool

	// joinFailed: when a near replica last failed to join (awaitJoin);
	// only the loop's goroutine uses it.
	joinFailed map[int64]time.Time

	kick    chan struct{}
	closing chan struct{}
	done    chan struct{}
	once    sync.Once
}

// New returns a driver; Start runs it.
func New(opts Options) *Driver {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.HeartbeatInterval, DefaultHeartbeatInterval)
	def(&opts.HeartbeatTimeout, DefaultHeartbeatTimeout)
	def(&opts.Lease, DefaultLease)
	def(&opts.Poll, DefaultPoll)
	def(&opts.CheckSyncStateSet, DefaultCheckSyncStateSet)
	def(&opts.MaxNotCatchup, DefaultMaxNotCatchup)
	def(&opts.CallTimeout, DefaultCallTimeout)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Driver{
		opts: opts, log: opts.Logger.With("component", "failover"), now: opts.Now, base: opts.Now(),
		kick: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{}),
	}
}

// Start checks the identity file (a file of another broker is an error)
// and runs the driver until Close.
func (d *Driver) Start() error {
	if err := CheckIdentity(d.opts.Dir, d.opts.Cluster, d.opts.BrokerName); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.closing:
		return errors.New("failover: driver closed")
	default:
	}
	if d.started {
		return errors.New("failover: driver already started")
	}
	d.started = true
	go d.run()
	return nil
}

// CheckIdentity returns an error naming the file when dir's
// brokerIdentity is another broker's or cannot be read; a missing one is
// fine (a new replica).
func CheckIdentity(dir, cluster, brokerName string) error {
	have, ok, err := readIdentity(identityPath(dir))
	if err != nil {
		return err
	}
	if ok && (have.cluster != cluster || have.brokerName != brokerName) {
		return fmt.Errorf("%s: this data belongs to broker %s of cluster %s, not %s of %s",
			identityPath(dir), have.brokerName, have.cluster, brokerName, cluster)
	}
	return nil
}

// Close stops the driver and waits for it (a driver never started has
// nothing to wait for).
func (d *Driver) Close() {
	d.mu.Lock()
	d.once.Do(func() { close(d.closing) })
	started := d.started
	d.mu.Unlock()
	if started {
		<-d.done
	}
}

// Notify asks for the group's state now (NOTIFY_BROKER_ROLE_CHANGED).
func (d *Driver) Notify() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Role is the role last applied.
func (d *Driver) Role() Role { return Role(d.role.Load()) }

// Fenced reports whether a master must refuse writes now: its lease
// lapsed and Options.FenceOnLeaseLoss. The broker asks on every write.
func (d *Driver) Fenced() bool {
	return d.opts.FenceOnLeaseLoss && d.Role() == RoleMaster && d.leaseLeft() <= 0
}

func (d *Driver) leaseLeft() time.Duration {
	return time.Duration(d.leaseUntil.Load() - int64(d.now().Sub(d.base)))
}

// Status returns the driver's state.
func (d *Driver) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := Status{ID: d.id, Role: d.Role(), MasterEpoch: d.epoch, MasterAddr: d.masterAddr,
		Sync: SyncStateSet{IDs: slices.Clone(d.sync.IDs), Epoch: d.sync.Epoch}, Fenced: d.Fenced()}
	if st.Role == RoleMaster {
		st.LeaseLeft = d.leaseLeft()
	}
	if d.lastErr != nil {
		st.LastError = d.lastErr.Error()
	}
	return st
}

func identityPath(dir string) string { return filepath.Join(dir, IdentityFile) }

func (d *Driver) run() {
	defer close(d.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.closing:
			cancel()
		case <-d.done:
		}
	}()
	if !d.join(ctx) {
		return
	}
	hb := time.NewTicker(d.opts.HeartbeatInterval)
	defer hb.Stop()
	renew := time.NewTicker(d.opts.Lease / 4)
	defer renew.Stop()
	poll := time.NewTicker(d.opts.Poll)
	defer poll.Stop()
	check := time.NewTicker(d.opts.CheckSyncStateSet)
	defer check.Stop()
	for {
		select {
		case <-d.closing:
			return
		case <-hb.C:
			d.opts.Controller.Heartbeat(d.heartbeat())
		case <-renew.C:
			d.renew(ctx)
		case <-poll.C:
			d.poll(ctx)
		case <-d.kick:
			d.poll(ctx)
		case <-check.C:
			d.checkSyncStateSet(ctx)
		}
	}
}

// join resolves the broker's id and registers it, retrying each second
// until it succeeds or the driver closes; it reports whether it did.
func (d *Driver) join(ctx context.Context) bool {
	for {
		err := d.register(ctx)
		if err == nil {
			return true
		}
		d.setErr("joining the controller group failed; retrying", err)
		select {
		case <-d.closing:
			return false
		case <-time.After(time.Second):
		}
	}
}

func (d *Driver) register(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, d.opts.CallTimeout)
	defer cancel()
	id, err := resolveID(cctx, d.opts.Controller, d.opts.Dir, d.opts.Cluster, d.opts.BrokerName, d.opts.Addr, d.now)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.id = id
	d.mu.Unlock()
	r, err := d.opts.Controller.Register(cctx, d.opts.Cluster, d.opts.BrokerName, id, d.opts.Addr)
	if err != nil {
		return fmt.Errorf("register broker id %d: %w", id, err)
	}
	d.log.Info("registered with the controller", "brokerId", id, "master", r.MasterID, "masterEpoch", r.MasterEpoch)
	d.opts.Controller.Heartbeat(d.heartbeat())
	return d.apply(ctx, r)
}

func (d *Driver) heartbeat() Heartbeat {
	p := d.opts.Node.Progress()
	d.mu.Lock()
	id := d.id
	d.mu.Unlock()
	return Heartbeat{Cluster: d.opts.Cluster, BrokerName: d.opts.BrokerName, Addr: d.opts.Addr, ID: id,
		Epoch: p.Epoch, MaxOffset: p.MaxOffset, ConfirmOffset: p.ConfirmOffset,
		ElectionPriority: d.opts.ElectionPriority, TimeoutMillis: d.opts.HeartbeatTimeout.Milliseconds()}
}

// poll reads the group from the controller and applies it.
func (d *Driver) poll(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, d.opts.CallTimeout)
	defer cancel()
	r, err := d.opts.Controller.ReplicaInfo(cctx, d.opts.BrokerName)
	if err == nil {
		err = d.apply(ctx, r)
	}
	if err != nil {
		d.setErr("reading the replica group from the controller failed", err)
	}
}

// renew renews a master's lease: from the moment the request left, when
// the leader names this broker master at its epoch.
func (d *Driver) renew(ctx context.Context) {
	if d.Role() != RoleMaster {
		return
	}
	hb := d.heartbeat()
	sent := d.now()
	cctx, cancel := context.WithTimeout(ctx, d.opts.CallTimeout)
	defer cancel()
	r, err := d.opts.Controller.RenewLease(cctx, hb)
	if err != nil {
		if d.leaseLeft() <= 0 {
			d.setErr("the master's lease lapsed: the controller leader does not answer", err)
		}
		return
	}
	d.mu.Lock()
	mine := r.MasterID == d.id && r.MasterEpoch == d.epoch
	d.mu.Unlock()
	if mine {
		if d.leaseLeft() <= 0 {
			d.log.Info("the master's lease is renewed")
		}
		d.leaseUntil.Store(int64(sent.Sub(d.base) + d.opts.Lease))
		return
	}
	if err := d.apply(ctx, r); err != nil {
		d.setErr("applying the controller's answer failed", err)
	}
}

// apply makes the broker what r says, electing a master when r has none.
// It runs on the driver's goroutine only.
func (d *Driver) apply(ctx context.Context, r Replicas) error {
	if r.MasterID == NoMaster {
		cctx, cancel := context.WithTimeout(ctx, d.opts.CallTimeout)
		defer cancel()
		d.mu.Lock()
		id := d.id
		d.mu.Unlock()
		e, err := d.opts.Controller.Elect(cctx, d.opts.Cluster, d.opts.BrokerName, id)
		if err != nil {
			return fmt.Errorf("the group has no master and electing one failed: %w", err)
		}
		if e.MasterID == NoMaster {
			return errors.New("the group has no master and none could be elected (no in-sync replica is alive)")
		}
		r = e
	}
	d.mu.Lock()
	id, epoch, role, addr := d.id, d.epoch, d.Role(), d.masterAddr
	d.mu.Unlock()
	switch {
	case r.MasterEpoch < epoch:
		return nil // older news
	case r.MasterID == id && (role != RoleMaster || r.MasterEpoch != epoch):
		if err := d.opts.Node.BecomeMaster(ctx, r.MasterEpoch, r.Sync); err != nil {
			return fmt.Errorf("become master of epoch %d: %w", r.MasterEpoch, err)
		}
		d.mu.Lock()
		d.epoch, d.masterAddr, d.sync, d.pending = r.MasterEpoch, d.opts.Addr, r.Sync, nil
		d.mu.Unlock()
		d.opts.Node.SetAckSet(r.Sync.IDs)
		d.role.Store(int32(RoleMaster))
		d.log.Info("this broker is the master", "brokerId", id, "masterEpoch", r.MasterEpoch, "syncStateSet", r.Sync.IDs)
		d.renew(ctx)
	case r.MasterID == id:
		d.adoptSync(r.Sync)
	case role != RoleSlave || r.MasterEpoch != epoch || r.MasterAddr != addr:
		// Stop acknowledging before following: a deposed master's lease
		// no longer matters.
		d.role.Store(int32(RoleSlave))
		if err := d.opts.Node.BecomeSlave(ctx, r.MasterAddr, id, r.MasterEpoch); err != nil {
			return fmt.Errorf("become a slave of %s in epoch %d: %w", r.MasterAddr, r.MasterEpoch, err)
		}
		d.mu.Lock()
		d.epoch, d.masterAddr, d.sync, d.pending = r.MasterEpoch, r.MasterAddr, r.Sync, nil
		d.mu.Unlock()
		d.log.Info("this broker is a slave", "brokerId", id, "master", r.MasterAddr, "masterEpoch", r.MasterEpoch)
	}
	d.clearErr()
	return nil
}

// adoptSync takes a master's set as the controller has it, when it is
// newer than the one the master holds, or when a lost expansion has
// settled.
func (d *Driver) adoptSync(s SyncStateSet) {
	d.mu.Lock()
	settled := d.pending != nil && d.now().Sub(d.pendingAt) >= alterSettle
	if s.Epoch < d.sync.Epoch || (s.Epoch == d.sync.Epoch && !settled) {
		d.mu.Unlock()
		return
	}
	d.sync, d.pending = s, nil
	d.mu.Unlock()
	d.opts.Node.SetAckSet(s.IDs)
}

// checkSyncStateSet shrinks or grows a master's set (package doc).
func (d *Driver) checkSyncStateSet(ctx context.Context) {
	if d.Role() != RoleMaster {
		return
	}
	d.mu.Lock()
	id, epoch, cur, pending := d.id, d.epoch, d.sync, d.pending
	d.mu.Unlock()
	if pending != nil {
		return // wait until the lost expansion settles
	}
	fs, p := d.opts.Node.Followers(), d.opts.Node.Progress()
	next := nextSyncStateSet(id, cur.IDs, fs, p, d.now(), d.opts.MaxNotCatchup)
	if near := d.nearReplicas(union(cur.IDs, next), fs, p); len(near) > 0 {
		next = union(next, d.awaitJoin(union(cur.IDs, next), near))
	}
	grows := false
	for _, m := range next {
		grows = grows || !slices.Contains(cur.IDs, m)
	}
	if grows {
		// Count the newcomers before the controller can elect them, then
		// look again: a send confirmed between the first look and the
		// widening may have passed a newcomer that does not hold it.
		d.opts.Node.SetAckSet(union(cur.IDs, next))
		if kept := holdingConfirmed(cur.IDs, next, d.opts.Node.Progress(), d.opts.Node.Followers()); len(kept) < len(next) {
			next = kept
			d.opts.Node.SetAckSet(union(cur.IDs, next))
		}
	}
	if slices.Equal(next, cur.IDs) {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, d.opts.CallTimeout)
	defer cancel()
	got, err := d.opts.Controller.AlterSyncStateSet(cctx, d.opts.BrokerName, id, epoch, SyncStateSet{IDs: next, Epoch: cur.Epoch})
	if err != nil {
		if grows {
			d.mu.Lock()
			d.pending, d.pendingAt = next, d.now()
			d.mu.Unlock()
		}
		d.setErr("changing the SyncStateSet failed", err, "from", cur.IDs, "to", next)
		if errors.Is(err, ErrFenced) {
			d.Notify()
		}
		return
	}
	d.mu.Lock()
	d.sync = got
	d.mu.Unlock()
	d.opts.Node.SetAckSet(got.IDs)
	d.log.Info("SyncStateSet changed", "from", cur.IDs, "to", got.IDs, "epoch", got.Epoch)
}

// nextSyncStateSet is the set a master should have now: itself, the
// members that are connected and caught up within maxNotCatchup, and the
// connected replicas that reached both the confirm offset and the start
// of the current epoch and that also caught up within maxNotCatchup.
// Sorted.
//
// A newcomer must pass the test a member is kept by: while a member that
// stopped acknowledging (a stalled link) is in the set, the confirm
// offset stands still at what every replica acknowledged, so a replica
// just dropped for lagging would reach it at once and rejoin, and two
// such replicas, dropped at different checks, would take turns in the
// set for ever (the master never acknowledging alone). RocketMQ grows the
// set only when an acknowledgement arrives, which a stalled replica
// never sends.
func nextSyncStateSet(self int64, cur []int64, fs []Follower, p Progress, now time.Time, maxNotCatchup time.Duration) []int64 {
	next := []int64{self}
	for _, f := range fs {
		if f.ID == self || !f.Connected || now.Sub(time.Unix(0, f.CaughtUp)) > maxNotCatchup {
			continue
		}
		if slices.Contains(cur, f.ID) || (f.Acked >= p.ConfirmOffset && f.Acked >= p.EpochStart) {
			next = append(next, f.ID)
		}
	}
	slices.Sort(next)
	return slices.Compact(next)
}

// holdingConfirmed is next without the newcomers (not in cur) whose
// acknowledgement is below p's confirm offset. Read after the newcomers
// are counted, so the confirm offset no longer passes them.
func holdingConfirmed(cur, next []int64, p Progress, fs []Follower) []int64 {
	return slices.DeleteFunc(slices.Clone(next), func(id int64) bool {
		if slices.Contains(cur, id) {
			return false
		}
		i := slices.IndexFunc(fs, func(f Follower) bool { return f.ID == id })
		return i < 0 || fs[i].Acked < p.ConfirmOffset
	})
}

// nearReplicas are the connected replicas outside set that hold the start
// of the current epoch and are within joinGap of the master's end (a
// member leaving now is in set: it does not come back in the same round).
// A replica that failed to join within joinBackoff is left out.
func (d *Driver) nearReplicas(set []int64, fs []Follower, p Progress) []int64 {
	var near []int64
	for _, f := range fs {
		if f.Connected && !slices.Contains(set, f.ID) && f.Acked >= p.EpochStart && p.MaxOffset-f.Acked <= joinGap &&
			d.now().Sub(d.joinFailed[f.ID]) >= joinBackoff {
			near = append(near, f.ID)
		}
	}
	return near
}

// awaitJoin counts the acknowledgements of near besides set, so the
// confirm offset cannot pass them, and returns those that reach it within
// joinWait with an acknowledgement newer than the one they had when the
// wait began. The master waits for the others no longer.
//
// The newer acknowledgement is the fresh evidence the package doc asks
// for: a stalled replica dropped from the set still shows the last offset
// it acknowledged, which equals the confirm offset that stands still
// while another stalled member is in the set.
func (d *Driver) awaitJoin(set, near []int64) []int64 {
	was := map[int64]int64{}
	for _, f := range d.opts.Node.Followers() {
		was[f.ID] = f.Acked
	}
	d.opts.Node.SetAckSet(union(set, near))
	var joined []int64
	deadline := time.Now().Add(joinWait)
	for {
		// The confirm offset first: it no longer passes a near replica's
		// acknowledgement, which only grows.
		p := d.opts.Node.Progress()
		joined = joined[:0]
		for _, f := range d.opts.Node.Followers() {
			if slices.Contains(near, f.ID) && f.Connected && f.Acked > was[f.ID] && f.Acked >= p.ConfirmOffset && f.Acked >= p.EpochStart {
				joined = append(joined, f.ID)
			}
		}
		if len(joined) == len(near) || !time.Now().Before(deadline) {
			break
		}
		select {
		case <-d.closing:
			deadline = time.Now()
		case <-time.After(joinPoll):
		}
	}
	d.opts.Node.SetAckSet(union(set, joined))
	for _, id := range near {
		if !slices.Contains(joined, id) {
			if d.joinFailed == nil {
				d.joinFailed = map[int64]time.Time{}
			}
			d.joinFailed[id] = d.now()
		}
	}
	return joined
}

func union(a, b []int64) []int64 {
	u := append(slices.Clone(a), b...)
	slices.Sort(u)
	return slices.Compact(u)
}

// setErr records err and logs it once per kind of failure (what) until
// the driver succeeds again, not once per retry.
func (d *Driver) setErr(what string, err error, args ...any) {
	d.mu.Lock()
	same := d.lastErr != nil && d.lastWhat == what
	d.lastErr, d.lastWhat = err, what
	d.mu.Unlock()
	if !same {
		d.log.Warn(what, append(args, "err", err)...)
	}
}

func (d *Driver) clearErr() {
	d.mu.Lock()
	if d.lastErr != nil {
		d.log.Info("the controllers answer again")
	}
	d.lastErr, d.lastWhat = nil, ""
	d.mu.Unlock()
}
