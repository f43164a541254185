//go:build linux

package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharfmq/wharf/controller/client"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/tools/admin"
	"github.com/wharfmq/wharf/tools/scripts/internal/benchkit"
)

// controllerTimings are the controller keys written into every
// namesrv.conf: Wharf's defaults (controller.DefaultConfig), written out
// so the run states what it used. -conf overrides them.
var controllerTimings = map[string]string{
	"controllerHeartBeatTimeoutMills":      "3000", // a silent broker is inactive after this
	"brokerLeaseMillis":                    "2000", // the master's write lease (same on brokers)
	"brokerLeaseMarginMillis":              "500",  // the controller waits lease + margin before replacing a master
	"scanNotActiveBrokerInterval":          "250",  // the leader's scan for dead masters
	"controllerRaftHeartbeatTimeoutMillis": "500",  // Raft heartbeat and election timeout
}

// brokerTimings are the broker keys of every replica: Wharf's defaults
// (broker/config, broker/failover, broker/ha). -conf overrides them.
var brokerTimings = map[string]string{
	"controllerHeartBeatTimeoutMills": "3000",
	"brokerHeartbeatInterval":         "1000",
	"brokerLeaseMillis":               "2000",
	"syncBrokerMetadataPeriod":        "1000",
	"checkSyncStateSetPeriod":         "1000",
	"haMaxTimeSlaveNotCatchup":        "15000",
	"haSendHeartbeatInterval":         "5000",
	"registerNameServerPeriod":        "30000",
	"allAckInSyncStateSet":            "true",
	"enableElectUncleanMaster":        "false",
}

// overrides are the -conf pairs.
func overrides() map[string]string {
	out := map[string]string{}
	for kv := range strings.SplitSeq(*extra, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// writeConf writes a properties file of keys and timings; a -conf pair
// replaces a timing of the same key (a key of both kinds of file, like
// brokerLeaseMillis, changes in both).
func writeConf(path string, keys map[string]string, timings map[string]string) error {
	all := maps.Clone(keys)
	maps.Copy(all, timings)
	for k, v := range overrides() {
		if _, ok := timings[k]; ok {
			all[k] = v
		}
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(all)) {
		fmt.Fprintf(&b, "%s=%s\n", k, all[k])
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// replica is one broker process of a broker name in controller mode.
type replica struct {
	name string
	addr string // client address
	args []string
	p    *benchkit.Proc
}

func (r *replica) start() error {
	p, err := benchkit.Start(*dir, *bin, r.name, r.args...)
	r.p = p
	return err
}

// cluster is three name servers with embedded controllers and the
// replicas of broker names in controller mode.
type cluster struct {
	ns       []*benchkit.Proc
	nsAddrs  []string
	nsAdmin  []*admin.Client // one per name server, to see each one's route
	ctlAddrs []string        // controllerDLegerPeers addresses
	rc       *remoting.Client
	mu       sync.Mutex // guards leader (watchers ask concurrently)
	leader   string
	groups   map[string][]*replica
}

func startCluster(ctx context.Context) (*cluster, error) {
	addrs, err := freeAddrs(6)
	if err != nil {
		return nil, err
	}
	c := &cluster{nsAddrs: addrs[:3], ctlAddrs: addrs[3:], groups: map[string][]*replica{},
		rc: remoting.NewClient(remoting.ClientOptions{})}
	var peers []string
	for i, a := range c.ctlAddrs {
		peers = append(peers, fmt.Sprintf("n%d-%s", i, a))
	}
	for i, a := range c.nsAddrs {
		name := fmt.Sprintf("namesrv-n%d", i)
		conf := filepath.Join(*dir, name+".conf")
		if err := writeConf(conf, map[string]string{
			"enableControllerInNamesrv": "true", "controllerDLegerGroup": "FailBench",
			"controllerDLegerPeers": strings.Join(peers, ";"), "controllerDLegerSelfId": fmt.Sprintf("n%d", i),
			"controllerStorePath": filepath.Join(*dir, name+"-controller"),
		}, controllerTimings); err != nil {
			return c, err
		}
		p, err := benchkit.Start(*dir, *bin, name, "namesrv", "-c", conf, "--listen", a)
		if err != nil {
			return c, err
		}
		c.ns = append(c.ns, p)
		c.nsAdmin = append(c.nsAdmin, admin.New(admin.Options{Namesrv: a, Timeout: time.Second}))
	}
	err = poll(ctx, 30*time.Second, 50*time.Millisecond, "a controller leader", func() bool {
		_, err := c.findLeader(ctx)
		return err == nil
	})
	return c, err
}

func (c *cluster) close() {
	for _, a := range c.nsAdmin {
		a.Close()
	}
	c.rc.Close()
}

func (c *cluster) findLeader(ctx context.Context) (string, error) {
	l, err := client.FindLeader(ctx, c.rc, c.ctlAddrs, 500*time.Millisecond)
	if err == nil {
		c.mu.Lock()
		c.leader = l
		c.mu.Unlock()
	}
	return l, err
}

// replicaInfo asks the controller leader for a group's master and
// SyncStateSet, finding the leader again once on an error.
func (c *cluster) replicaInfo(ctx context.Context, brokerName string) (addr string, epoch int32, sss []int64, err error) {
	for try := range 2 {
		c.mu.Lock()
		leader := c.leader
		c.mu.Unlock()
		if leader == "" || try > 0 {
			if leader, err = c.findLeader(ctx); err != nil {
				continue
			}
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		mi, ss, e := client.GetReplicaInfo(cctx, c.rc, leader, brokerName)
		cancel()
		if e == nil {
			return mi.MasterAddress, mi.MasterEpoch, ss.SyncStateSet, nil
		}
		err = e
	}
	return "", 0, nil, err
}

// addGroup prepares n replicas of brokerName (not started).
func (c *cluster) addGroup(brokerName string, n int) error {
	ports, err := freeAddrs(2 * n)
	if err != nil {
		return err
	}
	for i := range n {
		name := fmt.Sprintf("%s-%d", brokerName, i)
		conf := filepath.Join(*dir, name+".conf")
		_, haPort, _ := strings.Cut(ports[n+i], ":")
		_, port, _ := strings.Cut(ports[i], ":")
		if err := writeConf(conf, map[string]string{
			"brokerClusterName": "FailBench", "brokerName": brokerName,
			"enableControllerMode": "true", "controllerAddr": strings.Join(c.nsAddrs, ";"),
			"flushDiskType": "ASYNC_FLUSH", "mappedFileSizeCommitLog": strconv.Itoa(*segMiB << 20),
			"autoCreateTopicEnable": "true", "listenPort": port, "haListenPort": haPort,
		}, brokerTimings); err != nil {
			return err
		}
		c.groups[brokerName] = append(c.groups[brokerName], &replica{name: name, addr: ports[i],
			args: []string{"broker", "-c", conf, "--listen", ports[i], "--namesrv", strings.Join(c.nsAddrs, ";"),
				"--data", filepath.Join(*dir, name+"-data")}})
	}
	return nil
}

// startGroup starts a group's replicas (the first alone, so it is the
// first master) and waits until all are in the SyncStateSet.
func (c *cluster) startGroup(ctx context.Context, brokerName string) error {
	reps := c.groups[brokerName]
	if err := reps[0].start(); err != nil {
		return err
	}
	if err := poll(ctx, 30*time.Second, 50*time.Millisecond, brokerName+": first replica elected", func() bool {
		m, _, _, err := c.replicaInfo(ctx, brokerName)
		return err == nil && m == reps[0].addr
	}); err != nil {
		return err
	}
	for _, r := range reps[1:] {
		if err := r.start(); err != nil {
			return err
		}
	}
	return c.waitInSync(ctx, brokerName, 60*time.Second)
}

// waitInSync waits until every replica of the group is in the SyncStateSet.
func (c *cluster) waitInSync(ctx context.Context, brokerName string, timeout time.Duration) error {
	n := len(c.groups[brokerName])
	return poll(ctx, timeout, 20*time.Millisecond, fmt.Sprintf("%s: %d replicas in the SyncStateSet", brokerName, n), func() bool {
		_, _, sss, err := c.replicaInfo(ctx, brokerName)
		return err == nil && len(sss) == n
	})
}

// master returns the replica the controller names master.
func (c *cluster) master(ctx context.Context, brokerName string) (*replica, int32, error) {
	m, ep, _, err := c.replicaInfo(ctx, brokerName)
	if err != nil {
		return nil, 0, err
	}
	for _, r := range c.groups[brokerName] {
		if r.addr == m {
			return r, ep, nil
		}
	}
	return nil, 0, fmt.Errorf("%s: the controller names master %q, not one of ours", brokerName, m)
}

// routedMaster returns what each name server routes as brokerId 0 of
// brokerName for topic ("" where none or on an error).
func (c *cluster) routedMaster(ctx context.Context, topic, brokerName string) []string {
	out := make([]string, len(c.nsAdmin))
	for i, a := range c.nsAdmin {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		rd, err := a.Route(rctx, topic)
		cancel()
		if err != nil {
			continue
		}
		for _, bd := range rd.BrokerDatas {
			if bd.BrokerName == brokerName {
				out[i] = bd.BrokerAddrs[0]
			}
		}
	}
	return out
}

// serverCPU is the CPU time so far of every server process running.
func (c *cluster) serverCPU() (ns, brokers time.Duration) {
	for _, p := range c.ns {
		ns += p.CPU()
	}
	for _, g := range c.groups {
		for _, r := range g {
			if r.p != nil && r.p.Alive() {
				brokers += r.p.CPU()
			}
		}
	}
	return ns, brokers
}
