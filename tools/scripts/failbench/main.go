//go:build linux

// Command failbench measures controller-mode failover for BENCHMARKS.md
// (issue 12, "Figures"). On loopback it runs three `wharf namesrv`
// processes with embedded controllers (enableControllerInNamesrv) and one
// broker name with three `wharf broker` replicas in controller mode, all
// with Wharf's default timings (written into their config files and
// printed; -conf overrides them), and measures:
//
//   - kill: over -kills kill -9s of the master, the time until the
//     controller leader names a new master, until all three name servers
//     route brokerId 0 to it (both polled every 25 ms), and until a fresh
//     producer of the official Go client gets SEND_OK for that broker
//     name: a new producer (own instance, so no cached route) per
//     attempt, one send, no retries, 1 s send timeout, attempts at least
//     50 ms apart. The killed replica is restarted on its data dir and is
//     back in the SyncStateSet before the next kill.
//
//   - consumer: over -consumer-kills kills, the time until a running push
//     consumer of the official Go client receives a message stored on the
//     new master (a producer sends one every 100 ms after the kill). The
//     client polls its routes 10 ms after Start and then every 30 s and
//     keeps pulling from the dead address until then (3 s back-off after a
//     failed pull), so it resumes at its first poll after the new route,
//     up to 30 s + failover + back-off. Kill k falls (k+0.5)/N of the way
//     through a poll period, so a few samples cover the period.
//
//   - throughput: `wharf bench produce` (16 sync producers, then 2
//     pipelined × 128, 1 KiB) against the master of the three replicas
//     (allAckInSyncStateSet=true: a send waits for all three) and against
//     a second broker name with a single replica in controller mode (same
//     controllers, same code path, nothing to wait for), same run, order
//     alternating per round; CPU per message of the client (its own
//     report), the master, the other brokers and the name servers with
//     their controllers, all sharing the machine.
//
// What bounds the kill figures, with the defaults: the controller leader
// replaces a master only once its lease may have run out, R + 2 s lease +
// 0.5 s margin after the last request R it got from the master (the
// master sends one at least every second), found by a scan every 250 ms;
// the election is one Raft commit, the new master registers with every
// name server at once, and a producer finds it on its first route query.
// A controller that gains leadership (even the same one again after it
// stepped down) first waits max(heartbeat timeout, lease + margin) = 3 s:
// a kill line says when a controller Raft election started during its
// failover (counted from the controllers' logs), the cause of the slow
// samples seen on a loaded machine.
//
//	make build && go run ./tools/scripts/failbench -bin ./bin/wharf
//
// About 4-5 minutes with the defaults. Every child runs in its own
// process group and dies with this process (even by SIGKILL); all are
// killed and the work dir removed on every exit, Ctrl-C included (after a
// SIGKILL of failbench only the work dir is left; the next run removes it).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/apache/rocketmq-client-go/v2/rlog"
	"github.com/wharfmq/wharf/tools/scripts/internal/benchkit"
)

var (
	bin        = flag.String("bin", "./bin/wharf", "wharf binary")
	dir        = flag.String("dir", "/tmp/wharf-failbench", "work dir for data and logs (removed first and at the end)")
	keep       = flag.Bool("keep", false, "leave the work dir behind (logs)")
	segMiB     = flag.Int("seg-mib", 64, "mappedFileSizeCommitLog in MiB")
	kills      = flag.Int("kills", 20, "kill -9s of the master in the kill phase")
	consKills  = flag.Int("consumer-kills", 3, "kill -9s of the master in the consumer phase (each takes up to ~35 s)")
	dur        = flag.Duration("dur", 5*time.Second, "duration of each measured produce run")
	rounds     = flag.Int("rounds", 2, "rounds of the throughput cases (order alternates per round)")
	syncConc   = flag.Int("sync-conc", 16, "synchronous producers")
	pipeConc   = flag.Int("pipe-conc", 2, "pipelined producers")
	pipeWindow = flag.Int("pipe-window", 128, "requests in flight per pipelined producer")
	only       = flag.String("only", "kill,consumer,throughput", "phases to run")
	extra      = flag.String("conf", "", "override timing keys of the namesrv/broker conf files, k=v,k=v")
	total      = flag.Duration("timeout", 20*time.Minute, "bound on the whole run")
)

const (
	group = "failbench-a"    // the broker name with three replicas
	solo  = "failbench-solo" // the single-replica broker name of the throughput phase
	topic = "FailBench"
)

func main() {
	flag.Parse()
	rlog.SetLogLevel("fatal") // the client logs every failed send of a kill
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	ctx, cancel := context.WithTimeoutCause(ctx, *total, errors.New("-timeout reached"))
	err := run(ctx)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "failbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	if err := os.RemoveAll(*dir); err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	defer func() {
		_ = benchkit.KillAll()
		if !*keep {
			if err := os.RemoveAll(*dir); err != nil {
				fmt.Fprintln(os.Stderr, "failbench:", err)
			}
		}
	}()
	phases := strings.Split(*only, ",")
	fmt.Printf("# failbench %s, %d CPUs, segments %d MiB\n", time.Now().UTC().Format(time.RFC3339), benchkit.NumCPU(), *segMiB)
	printTimings()

	c, err := startCluster(ctx)
	if c != nil {
		defer c.close()
	}
	if err != nil {
		return err
	}
	if err := c.addGroup(group, 3); err != nil {
		return err
	}
	if err := c.startGroup(ctx, group); err != nil {
		return err
	}
	m, _, err := c.master(ctx, group)
	if err != nil {
		return err
	}
	// The topic, created on the master; the slaves take it over by
	// SlaveSynchronize, so whichever replica is elected routes it.
	if _, err := benchProduce(ctx, m, topic, "--mode", "sync", "--conc", "1", "--count", "10", "--queues", "4"); err != nil {
		return err
	}
	if err := poll(ctx, 60*time.Second, 50*time.Millisecond, "every name server routes the topic", func() bool {
		return !slices.Contains(c.routedMaster(ctx, topic, group), "")
	}); err != nil {
		return err
	}

	var res results
	if slices.Contains(phases, "kill") {
		if res.kill, err = killPhase(ctx, c); err != nil {
			return fmt.Errorf("kill: %w", err)
		}
	}
	if slices.Contains(phases, "consumer") {
		if res.consumer, err = consumerPhase(ctx, c); err != nil {
			return fmt.Errorf("consumer: %w", err)
		}
	}
	if slices.Contains(phases, "throughput") {
		if res.tput, err = throughputPhase(ctx, c); err != nil {
			return fmt.Errorf("throughput: %w", err)
		}
	}
	res.print()
	return nil
}

func printTimings() {
	show := func(what string, m map[string]string) {
		all := maps.Clone(m)
		for k, v := range overrides() {
			if _, ok := all[k]; ok {
				all[k] = v
			}
		}
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(all)) {
			kv = append(kv, k+"="+all[k])
		}
		fmt.Printf("# %s: %s\n", what, strings.Join(kv, " "))
	}
	show("controllers (namesrv.conf)", controllerTimings)
	show("brokers (broker.conf)", brokerTimings)
}
