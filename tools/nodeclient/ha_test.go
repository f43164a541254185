package nodeclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/tools/admin"
)

// TestAliOnsMasterDies: a SYNC_MASTER with one slave, and a name server of
// its own. ali-ons sends a first batch (SEND_OK: on the slave too) that a
// consumer group consumes and commits; the slave takes the group's offsets
// from the master (SlaveSynchronize). A second batch is sent, and the
// master is killed with SIGKILL. A new ali-ons consumer of the same group
// then reads from the slave alone: every message of the second batch, and
// none of the first (the offsets it resumes from are the slave's copy).
// This is what shared/HA.md §4.3 says ali-ons does: with no master in the
// route it reads offsets and pulls from any replica.
func TestAliOnsMasterDies(t *testing.T) {
	env := requireNode(t)
	const topic, group, queues, n = "NodeHA", "NodeHAGroup", 4, 12
	dir := t.TempDir()
	nsAddr := testkit.FreePort(t)
	ns := startProc(t, "wharf namesrv", filepath.Join(dir, "namesrv.log"), "namesrv", "--listen", nsAddr)
	adm := admin.New(admin.Options{Namesrv: nsAddr, Timeout: 3 * time.Second})
	t.Cleanup(func() { adm.Close() })
	ns.until(t, 10*time.Second, "serving", func(ctx context.Context) error {
		_, err := adm.ClusterInfo(ctx)
		return err
	})

	startBroker := func(name string, id int, role string) (*proc, string) {
		ports := testkit.FreePorts(t, 2)
		_, listenPort, _ := net.SplitHostPort(ports[0])
		_, haPort, _ := net.SplitHostPort(ports[1])
		bdir := filepath.Join(dir, name)
		conf := writeConf(t, filepath.Join(dir, name+".conf"),
			"brokerClusterName=NodeHACluster",
			"brokerName=broker-nodeha",
			fmt.Sprintf("brokerId=%d", id),
			"brokerRole="+role,
			"listenPort="+listenPort,
			"haListenPort="+haPort,
			"mappedFileSizeCommitLog="+fmt.Sprint(segmentSize),
		)
		p := startProc(t, name, bdir+".log", "broker", "-c", conf, "--listen", ports[0], "--namesrv", nsAddr, "--data", bdir)
		return p, ports[0]
	}
	master, masterAddr := startBroker("master", 0, "SYNC_MASTER")
	master.until(t, 15*time.Second, "registered", func(ctx context.Context) error {
		_, err := adm.Route(ctx, "TBW102")
		return err
	})
	slave, slaveAddr := startBroker("slave", 1, "SLAVE")
	s := &server{proc: master, namesrv: nsAddr, broker: masterAddr, admin: adm}
	s.createTopic(t, topic, queues)
	// A SYNC_MASTER answers SEND_OK only with a slave in sync: wait for one,
	// and for the slave to know the topic (SlaveSynchronize).
	slave.until(t, 20*time.Second, "in sync with the master", func(ctx context.Context) error {
		if _, err := adm.Send(ctx, masterAddr, 0, admin.OutMessage{Topic: topic, Body: []byte("probe")}); err != nil {
			return err
		}
		if _, err := adm.MaxOffset(ctx, slaveAddr, topic, 0); err != nil {
			return fmt.Errorf("slave: %w", err)
		}
		return nil
	})

	first := mixed("ha1", n)
	produce(t, env, s, topic, "NodeHAProducer", first, queues)
	cfg := consumeCfg(s, topic, group, "*", n, time.Second)
	cfg["fromFirst"] = true
	got, _ := byBody(only(runNode(t, env, "consume.js", cfg, 25*time.Second), "msg"))
	for _, sp := range first {
		if _, ok := got[sp.Body]; !ok {
			t.Fatalf("first batch: %q not consumed", sp.Body)
		}
	}
	// The probe message is in queue 0 too: the group's committed offsets
	// on the master cover the queues' ends. Wait until the slave has the
	// same offsets.
	ends := map[int32]int64{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	for q := range int32(queues) {
		end, err := adm.MaxOffset(ctx, masterAddr, topic, q)
		if err != nil {
			t.Fatal(err)
		}
		ends[q] = end
	}
	cancel()
	slave.until(t, 20*time.Second, "holding the group's offsets", func(ctx context.Context) error {
		for q, end := range ends {
			off, ok, err := adm.ConsumerOffset(ctx, slaveAddr, group, topic, q)
			if err != nil {
				return err
			}
			if !ok || off != end {
				return fmt.Errorf("queue %d: slave has offset %d (known %v), master's end %d", q, off, ok, end)
			}
		}
		return nil
	})

	second := mixed("ha2", n)
	produce(t, env, s, topic, "NodeHAProducer", second, queues)
	master.kill(t)
	ns.until(t, 10*time.Second, "routing the topic to the slave alone", func(ctx context.Context) error {
		route, err := adm.Route(ctx, topic)
		if err != nil {
			return err
		}
		for _, b := range route.BrokerDatas {
			if _, ok := b.BrokerAddrs[0]; ok {
				return errors.New("the dead master is still routed")
			}
			if b.BrokerAddrs[1] != slaveAddr {
				return fmt.Errorf("slave not routed: %v", b.BrokerAddrs)
			}
		}
		return nil
	})

	events := runNode(t, env, "consume.js", consumeCfg(s, topic, group, "*", n, 2*time.Second), 40*time.Second)
	got, count := byBody(only(events, "msg"))
	checkDelivered(t, topic, second, got)
	checkOnce(t, n, got, count)
	for _, sp := range first {
		if _, ok := got[sp.Body]; ok {
			t.Errorf("first batch %q consumed again from the slave: its offsets were not used", sp.Body)
		}
	}
}
