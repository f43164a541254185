package e2e

import (
	"testing"
	"time"

	"github.com/wharfmq/wharf/internal/testkit"
)

// ackGrace is how long after a partition began a SEND_OK may still be
// recorded for an answer the master sent before it: the producer's
// goroutine records the answer when it runs again.
const ackGrace = time.Second

// partition is what partitionSlaves saw.
type partition struct {
	master, epoch int           // the master cut off (index in the group) and its epoch
	shrank        time.Duration // from the cut until its SyncStateSet was seen to be itself alone
}

// partitionSlaves partitions g's master from its slaves, with producers
// running: its HA proxy stalls (connections stay open, nothing passes
// either way) or is cut (every connection reset, new ones refused). The
// master still talks to the controllers, so it must stay master at its
// epoch; with allAckInSyncStateSet it must acknowledge nothing while a
// slave that cannot have the message is in its SyncStateSet, that is
// until the set shrank to itself alone (after haMaxTimeSlaveNotCatchup
// for a stall, at its next check for a cut); then it acknowledges alone.
// Healing is the caller's (haLink.Resume or Refuse(false)).
func (c *chaosCluster) partitionSlaves(t *testing.T, l *ledger, g *chaosGroup, stall bool) partition {
	t.Helper()
	m, e := c.master(g)
	if m < 0 {
		t.Fatalf("%s: no master to partition\n%s", g.name, c.describe(g))
	}
	old := g.reps[m]
	if stall {
		old.haLink.Stall()
	} else {
		old.haLink.Refuse(true)
		old.haLink.Cut()
	}
	cut := time.Now()
	// Poll the master until its set is itself alone; the last poll that
	// still showed a slave in it started before the shrink, so a SEND_OK
	// recorded before that start was sent with a lagging slave in the set.
	lastFull := cut
	var st repState
	alone := func() bool {
		polled := time.Now()
		s, err := old.state()
		if err != nil {
			return false // a slow answer on a loaded machine: poll again
		}
		st = s
		if s.role != "MASTER" || s.epoch != e || s.fenced {
			t.Fatalf("%s: the master cut off its slaves lost its role: %+v (was master at epoch %d)\n%s%s", g.name, s, e, c.describe(g), c.logTails(g))
		}
		if len(s.sync) == 1 && s.sync[0] == s.id {
			return true
		}
		lastFull = polled
		return false
	}
	if !testkit.Within(15*time.Second, alone) {
		t.Fatalf("%s: the SyncStateSet of the master cut off its slaves did not shrink to it within 15 s: %+v\n%s", g.name, st, c.logTails(g))
	}
	p := partition{master: m, epoch: e, shrank: time.Since(cut)}
	early := 0
	l.mu.Lock()
	for _, a := range l.acked {
		if storeHost(a.msgID) == old.s.addr && a.at.After(cut.Add(ackGrace)) && a.at.Before(lastFull) {
			early++
			if early <= 10 {
				t.Errorf("%s: %s acknowledged %s at %s, %v into the partition, before its SyncStateSet dropped the slaves",
					g.name, old.s.addr, a.key, a.at.Format(time.StampMilli), a.at.Sub(cut))
			}
		}
	}
	l.mu.Unlock()
	what := "cut"
	if stall {
		what = "stalled"
	}
	t.Logf("%s: master-slaves link %s: SyncStateSet alone after %v; no SEND_OK from %v to %v after the cut: %d early",
		g.name, what, p.shrank.Round(time.Millisecond), ackGrace, lastFull.Sub(cut).Round(time.Millisecond), early)
	waitAcks(t, l, g.name, 20, 15*time.Second, g.name+" master alone, slaves "+what)
	return p
}
