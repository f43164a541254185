package controller

import (
	"fmt"
	"testing"

	"github.com/wharfmq/wharf/controller/api"
	"github.com/wharfmq/wharf/controller/client"
)

// TestHeartbeatsOfUnknownReplicasAreNotKept: anyone can send
// BROKER_HEARTBEAT, oneway, to every controller. A heartbeat for a broker
// name or id the group never recorded (APPLY_BROKER_ID) is not kept in
// the heartbeat table; before, each invented name stayed there for ever.
func TestHeartbeatsOfUnknownReplicasAreNotKept(t *testing.T) {
	cs := startGroup(t, 1)
	all := addrsOf(cs)
	forger := newFakeBroker(t, "127.0.0.1:1")
	for i := range 300 {
		hb := api.BrokerHeartbeat{ClusterName: "c", BrokerAddr: "127.0.0.1:1", BrokerName: fmt.Sprintf("forged-%d", i),
			BrokerID: int64(i), MaxOffset: 1 << 60, HeartbeatTimeoutMillis: 1 << 40}
		if err := client.Heartbeat(forger.rc, all[0], hb); err != nil {
			t.Fatal(err)
		}
	}
	// A real replica, registered after the forgeries, is kept.
	b := newFakeBroker(t, "127.0.0.1:2")
	b.register("", all)
	b.heartbeatOnce(all)
	waitAlive(t, cs[0], b.id)
	l := cs[0].live
	l.mu.Lock()
	n := len(l.mu.brokers)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("the heartbeat table holds %d replicas, want the 1 registered", n)
	}
}
