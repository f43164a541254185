package fsm

import (
	"errors"
	"reflect"
	"testing"

	"github.com/wharfmq/wharf/controller/api"
)

// fakeLive is a liveness table for decisions.
type fakeLive struct {
	alive map[int64]bool
	lease map[int64]bool // MayHoldLease beyond Alive
	hb    map[int64]api.BrokerHeartbeat
}

func newLive() *fakeLive {
	return &fakeLive{alive: map[int64]bool{}, lease: map[int64]bool{}, hb: map[int64]api.BrokerHeartbeat{}}
}

func (f *fakeLive) Alive(_ string, id int64) bool { return f.alive[id] }
func (f *fakeLive) Heartbeat(_ string, id int64) (api.BrokerHeartbeat, bool) {
	hb, ok := f.hb[id]
	return hb, ok
}
func (f *fakeLive) MayHoldLease(_ string, id int64) bool { return f.alive[id] || f.lease[id] }

func code(err error) int16 {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Code
	}
	return -1
}

const bn = "broker-a"

// mustApply decides and applies an apply-broker-id for id.
func register(t *testing.T, s *State, id int64) {
	t.Helper()
	if got := s.NextBrokerID(bn); got != id {
		t.Fatalf("next broker id %d, want %d", got, id)
	}
	ev, err := s.DecideApplyBrokerID(api.ApplyBrokerIDRequest{ClusterName: "c", BrokerName: bn, AppliedBrokerID: id,
		RegisterCheckCode: addr(id) + ";1"})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Apply(ev) {
		t.Fatal("apply broker id changed nothing")
	}
}

func addr(id int64) string { return "127.0.0.1:" + string(rune('0'+id)) + "0911" }

// groupWithMaster has replicas 1..n, master 1 and SyncStateSet {1..n}.
func groupWithMaster(t *testing.T, n int64, live *fakeLive) *State {
	t.Helper()
	s := New()
	for id := int64(1); id <= n; id++ {
		register(t, s, id)
		live.alive[id] = true
	}
	out, err := s.DecideElectMaster(api.ElectMasterRequest{BrokerName: bn, BrokerID: 1}, live, false)
	if err != nil || out.Code != 0 || out.Event == nil {
		t.Fatalf("first election: %+v %v", out, err)
	}
	s.Apply(*out.Event)
	if n > 1 {
		set := make([]int64, 0, n)
		for id := int64(1); id <= n; id++ {
			set = append(set, id)
		}
		g := s.Group(bn)
		ev, _, err := s.DecideAlterSyncStateSet(api.AlterSyncStateSetRequest{BrokerName: bn, MasterBrokerID: 1, MasterEpoch: g.MasterEpoch},
			api.SyncStateSet{SyncStateSet: set, SyncStateSetEpoch: g.SyncStateSetEpoch}, live)
		if err != nil {
			t.Fatal(err)
		}
		s.Apply(ev)
	}
	return s
}

func TestApplyBrokerID(t *testing.T) {
	s := New()
	_, err := s.DecideApplyBrokerID(api.ApplyBrokerIDRequest{BrokerName: bn, AppliedBrokerID: 2, RegisterCheckCode: "a;1"})
	if code(err) != api.RespBrokerIDInvalid {
		t.Errorf("first id 2 of a new group: %v", err)
	}
	register(t, s, 1)
	register(t, s, 2)
	// The same broker again (same check code) gets its id back.
	ev, err := s.DecideApplyBrokerID(api.ApplyBrokerIDRequest{BrokerName: bn, AppliedBrokerID: 2, RegisterCheckCode: addr(2) + ";1"})
	if err != nil || s.Apply(ev) {
		t.Errorf("re-apply with the same code: err %v, changed state", err)
	}
	// Another broker cannot take it.
	_, err = s.DecideApplyBrokerID(api.ApplyBrokerIDRequest{BrokerName: bn, AppliedBrokerID: 2, RegisterCheckCode: "x:1;9"})
	if code(err) != api.RespBrokerIDInvalid {
		t.Errorf("taken id: %v", err)
	}
	if g := s.Group(bn); g.NextAssignBrokerID != 3 || g.Addr(2) != addr(2) || g.ClusterName != "c" {
		t.Errorf("group %+v", g)
	}
}

func TestRegisterBroker(t *testing.T) {
	live := newLive()
	s := groupWithMaster(t, 2, live)
	resp, sss, ev, err := s.DecideRegisterBroker(api.RegisterBrokerRequest{BrokerName: bn, BrokerID: 2, BrokerAddress: addr(2)}, live)
	if err != nil || ev != nil || resp.MasterBrokerID != 1 || resp.MasterAddress != addr(1) || len(sss.SyncStateSet) != 2 {
		t.Errorf("register: %+v %+v %v %v", resp, sss, ev, err)
	}
	live.alive[1] = false
	resp, _, ev, err = s.DecideRegisterBroker(api.RegisterBrokerRequest{BrokerName: bn, BrokerID: 2, BrokerAddress: "new:1"}, live)
	if err != nil || resp.MasterBrokerID != api.NoMaster || ev == nil || ev.Type != EventUpdateBrokerAddress {
		t.Errorf("register, master dead, new address: %+v %v %v", resp, ev, err)
	}
	s.Apply(*ev)
	if s.Group(bn).Addr(2) != "new:1" {
		t.Error("address not updated")
	}
	_, _, _, err = s.DecideRegisterBroker(api.RegisterBrokerRequest{BrokerName: bn, BrokerID: 7, BrokerAddress: "x"}, live)
	if code(err) != api.RespBrokerNeedToBeRegistered {
		t.Errorf("unknown id: %v", err)
	}
}

func TestAlterSyncStateSetChecks(t *testing.T) {
	live := newLive()
	s := groupWithMaster(t, 1, live)
	register(t, s, 2)
	register(t, s, 3)
	live.alive[2] = true
	g := s.Group(bn)
	me, se := g.MasterEpoch, g.SyncStateSetEpoch
	req := func(master int64, mEpoch int32) api.AlterSyncStateSetRequest {
		return api.AlterSyncStateSetRequest{BrokerName: bn, MasterBrokerID: master, MasterEpoch: mEpoch}
	}
	set := func(e int32, ids ...int64) api.SyncStateSet {
		return api.SyncStateSet{SyncStateSet: ids, SyncStateSetEpoch: e}
	}
	for _, tc := range []struct {
		name string
		req  api.AlterSyncStateSetRequest
		set  api.SyncStateSet
		want int16
	}{
		{"unchanged", req(1, me), set(se, 1), api.RespAlterSyncStateSetFailed},
		{"not the master", req(2, me), set(se, 1, 2), api.RespInvalidMaster},
		{"old master epoch", req(1, me-1), set(se, 1, 2), api.RespFencedMasterEpoch},
		{"old set epoch", req(1, me), set(se-1, 1, 2), api.RespFencedSyncStateSetEpoch},
		{"unknown replica", req(1, me), set(se, 1, 9), api.RespInvalidReplicas},
		{"dead replica", req(1, me), set(se, 1, 3), api.RespBrokerNotAlive},
		{"lacks the master", req(1, me), set(se, 2), api.RespAlterSyncStateSetFailed},
	} {
		if _, _, err := s.DecideAlterSyncStateSet(tc.req, tc.set, live); code(err) != tc.want {
			t.Errorf("%s: %v, want code %d", tc.name, err, tc.want)
		}
	}
	if _, _, err := s.DecideAlterSyncStateSet(req(1, me), set(se, 1), live); code(err) != api.RespAlterSyncStateSetFailed {
		t.Errorf("bad group: %v", err)
	}
	ev, epoch, err := s.DecideAlterSyncStateSet(req(1, me), set(se, 2, 1), live)
	if err != nil || epoch != se+1 {
		t.Fatalf("valid alter: %v epoch %d", err, epoch)
	}
	s.Apply(ev)
	if g := s.Group(bn); !reflect.DeepEqual(g.SyncStateSet, []int64{1, 2}) || g.SyncStateSetEpoch != se+1 || g.MasterEpoch != me {
		t.Errorf("after alter: %+v", g)
	}
}

func TestElectPrefersEpochThenOffsetThenPriority(t *testing.T) {
	for _, tc := range []struct {
		name string
		hb   map[int64]api.BrokerHeartbeat
		want int64
	}{
		{"higher epoch wins over offset", map[int64]api.BrokerHeartbeat{
			2: {Epoch: 2, MaxOffset: 10, ElectionPriority: 1}, 3: {Epoch: 3, MaxOffset: 5, ElectionPriority: 9}}, 3},
		{"same epoch, higher offset", map[int64]api.BrokerHeartbeat{
			2: {Epoch: 3, MaxOffset: 10, ElectionPriority: 9}, 3: {Epoch: 3, MaxOffset: 5, ElectionPriority: 1}}, 2},
		{"same epoch and offset, lower priority", map[int64]api.BrokerHeartbeat{
			2: {Epoch: 3, MaxOffset: 10, ElectionPriority: 5}, 3: {Epoch: 3, MaxOffset: 10, ElectionPriority: 1}}, 3},
		{"all equal, lower id", map[int64]api.BrokerHeartbeat{
			2: {Epoch: 3, MaxOffset: 10, ElectionPriority: 1}, 3: {Epoch: 3, MaxOffset: 10, ElectionPriority: 1}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live := newLive()
			s := groupWithMaster(t, 3, live)
			live.hb = tc.hb
			live.alive[1] = false
			before := *s.Group(bn)
			out, err := s.DecideElectMaster(api.ElectMasterRequest{BrokerName: bn, BrokerID: api.ControllerTriggered}, live, false)
			if err != nil || out.Code != 0 || out.Event == nil || out.Event.NewMaster != tc.want {
				t.Fatalf("elect: %+v %v, want master %d", out, err, tc.want)
			}
			if out.Master.MasterEpoch != before.MasterEpoch+1 || out.Master.SyncStateSetEpoch != before.SyncStateSetEpoch+1 {
				t.Errorf("reply epochs %+v, before %d/%d", out.Master, before.MasterEpoch, before.SyncStateSetEpoch)
			}
			s.Apply(*out.Event)
			g := s.Group(bn)
			if g.MasterBrokerID != tc.want || !reflect.DeepEqual(g.SyncStateSet, []int64{tc.want}) ||
				g.MasterEpoch != out.Master.MasterEpoch || g.SyncStateSetEpoch != out.Master.SyncStateSetEpoch {
				t.Errorf("after apply %+v, reply %+v", g, out.Master)
			}
		})
	}
}

func TestElectKeepsMasterAndHonoursLease(t *testing.T) {
	live := newLive()
	s := groupWithMaster(t, 3, live)
	// Alive master: 2011 with the current epochs.
	out, err := s.DecideElectMaster(api.ElectMasterRequest{BrokerName: bn, BrokerID: 2}, live, false)
	if err != nil || out.Code != api.RespMasterStillExist || out.Event != nil || out.Master.MasterBrokerID != 1 {
		t.Fatalf("alive master: %+v %v", out, err)
	}
	// Dead but possibly holding its lease: still 2011; a designated other
	// broker is refused.
	live.alive[1], live.lease[1] = false, true
	out, err = s.DecideElectMaster(api.ElectMasterRequest{BrokerName: bn, BrokerID: api.ControllerTriggered}, live, false)
	if err != nil || out.Code != api.RespMasterStillExist || out.Event != nil {
		t.Fatalf("master within lease: %+v %v", out, err)
	}
	_, err = s.DecideElectMaster(api.ElectMasterRequest{BrokerName: bn, BrokerID: 3, DesignateElect: true}, live, false)
	if code(err) != api.RespElectMasterFailed {
		t.Fatalf("designate within lease: %v", err)
	}
	// Lease over: the designated broker is taken.
	live.lease[1] = false
	out, err = s.DecideElectMaster(api.ElectMasterRequest{BrokerName: bn, BrokerID: 3, DesignateElect: true}, live, false)
	if err != nil || out.Event == nil || out.Event.NewMaster != 3 {
		t.Fatalf("designate: %+v %v", out, err)
	}
	// A designated broker that is not alive means nobody.
	live.alive[3] = false
	_, err = s.DecideElectMaster(api.ElectMasterRequest{BrokerName: bn, BrokerID: 3, DesignateElect: true}, live, false)
	if code(err) != api.RespElectMasterFailed {
		t.Fatalf("designate dead: %v", err)
	}
}

func TestElectNobodyAndUnclean(t *testing.T) {
	live := newLive()
	s := groupWithMaster(t, 1, live)
	register(t, s, 2) // not in the SyncStateSet
	live.alive[2] = true
	live.alive[1] = false
	_, err := s.DecideElectMaster(api.ElectMasterRequest{BrokerName: bn, BrokerID: 2}, live, false)
	if code(err) != api.RespElectMasterFailed {
		t.Fatalf("broker-asked, nobody in sync: %v", err)
	}
	out, err := s.DecideElectMaster(api.ElectMasterRequest{BrokerName: bn, BrokerID: api.ControllerTriggered}, live, true)
	if err != nil || out.Event == nil || out.Event.NewMaster != 2 {
		t.Fatalf("unclean: %+v %v", out, err)
	}
	out, err = s.DecideElectMaster(api.ElectMasterRequest{BrokerName: bn, BrokerID: api.ControllerTriggered}, live, false)
	if err != nil || out.Code != api.RespMasterNotAvailable || out.Event == nil || out.Event.NewMaster != api.NoMaster {
		t.Fatalf("controller-triggered, nobody: %+v %v", out, err)
	}
	me, se := s.Group(bn).MasterEpoch, s.Group(bn).SyncStateSetEpoch
	s.Apply(*out.Event)
	g := s.Group(bn)
	if g.HasMaster() || g.MasterEpoch != me+1 || g.SyncStateSetEpoch != se || !reflect.DeepEqual(g.SyncStateSet, []int64{1}) {
		t.Fatalf("no master recorded wrongly: %+v", g)
	}
	if got := s.NeedReelect(live); got != nil {
		t.Errorf("need reelect with no master: %v", got)
	}
	// The old master returns: it is the SyncStateSet, so it is elected again.
	live.alive[1] = true
	out, err = s.DecideElectMaster(api.ElectMasterRequest{BrokerName: bn, BrokerID: 1}, live, false)
	if err != nil || out.Event == nil || out.Event.NewMaster != 1 || out.Master.MasterEpoch != me+2 {
		t.Fatalf("old master returns: %+v %v", out, err)
	}
}

func TestNeedReelect(t *testing.T) {
	live := newLive()
	s := groupWithMaster(t, 2, live)
	if got := s.NeedReelect(live); got != nil {
		t.Errorf("alive master: %v", got)
	}
	live.alive[1], live.lease[1] = false, true
	if got := s.NeedReelect(live); got != nil {
		t.Errorf("master within its lease: %v", got)
	}
	live.lease[1] = false
	if got := s.NeedReelect(live); !reflect.DeepEqual(got, []string{bn}) {
		t.Errorf("dead master: %v", got)
	}
	live.alive[2] = false
	if got := s.NeedReelect(live); got != nil {
		t.Errorf("nobody alive: %v", got)
	}
}

func TestCleanBrokerData(t *testing.T) {
	live := newLive()
	s := groupWithMaster(t, 2, live)
	if _, err := s.DecideCleanBrokerData(api.CleanBrokerDataRequest{BrokerName: bn}, live); code(err) != api.RespInvalidCleanBrokerData {
		t.Errorf("whole group with a master: %v", err)
	}
	if _, err := s.DecideCleanBrokerData(api.CleanBrokerDataRequest{BrokerName: bn, BrokerControllerIdsToClean: "2"}, live); code(err) != api.RespInvalidCleanBrokerData {
		t.Errorf("alive replica: %v", err)
	}
	live.alive[2] = false
	ev, err := s.DecideCleanBrokerData(api.CleanBrokerDataRequest{BrokerName: bn, BrokerControllerIdsToClean: "2"}, live)
	if err != nil {
		t.Fatal(err)
	}
	s.Apply(ev)
	if g := s.Group(bn); len(g.Replicas) != 1 || !reflect.DeepEqual(g.SyncStateSet, []int64{1}) {
		t.Errorf("after clean of 2: %+v", g)
	}
	ev, err = s.DecideCleanBrokerData(api.CleanBrokerDataRequest{BrokerName: bn, IsCleanLivingBroker: true}, live)
	if err != nil {
		t.Fatal(err)
	}
	s.Apply(ev)
	if s.Group(bn) != nil {
		t.Error("group not removed")
	}
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	live := newLive()
	s := groupWithMaster(t, 3, live)
	register(t, s, 4)
	back, err := Restore(s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, s) {
		t.Fatalf("restored %+v\nwant %+v", back.Group(bn), s.Group(bn))
	}
	// Events replay identically on the copy.
	ev := Event{Type: EventElectMaster, BrokerName: bn, NewMaster: 2}
	s.Apply(ev)
	back.Apply(ev)
	if !reflect.DeepEqual(back, s) {
		t.Fatal("diverged after the same event")
	}
	for _, bad := range []string{"", "{", `{"groups":{"x":null}}`, `{"groups":[]}`} {
		if _, err := Restore([]byte(bad)); err == nil {
			t.Errorf("Restore(%q) accepted", bad)
		}
	}
	if _, err := DecodeEvent([]byte("nope")); err == nil {
		t.Error("DecodeEvent accepted garbage")
	}
}

func TestStateViews(t *testing.T) {
	live := newLive()
	s := groupWithMaster(t, 2, live)
	live.alive[2] = false
	mi, sss, err := s.ReplicaInfo(bn)
	if err != nil || mi.MasterBrokerID != 1 || mi.MasterAddress != addr(1) || len(sss.SyncStateSet) != 2 {
		t.Errorf("replica info %+v %+v %v", mi, sss, err)
	}
	if _, _, err := s.ReplicaInfo("nope"); code(err) != api.RespBrokerMetadataNotExist {
		t.Errorf("unknown group: %v", err)
	}
	d := s.SyncStateData([]string{bn, "nope"}, live)
	ri, ok := d.ReplicasInfoTable[bn]
	if !ok || len(d.ReplicasInfoTable) != 1 || len(ri.InSyncReplicas) != 2 || ri.InSyncReplicas[1].Alive {
		t.Errorf("sync state data %+v", d)
	}
}
