//go:build linux

package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/wharfmq/wharf/tools/scripts/internal/benchkit"
)

// benchProduce runs `wharf bench produce` against replica r.
func benchProduce(ctx context.Context, r *replica, topic string, args ...string) (map[string]string, error) {
	all := append([]string{"--broker", r.addr, "--topic", topic, "--quiet", "--broker-pid", strconv.Itoa(r.p.Pid())}, args...)
	return benchkit.Produce(ctx, *bin, all...)
}

// tputRow is one produce run.
type tputRow struct {
	round         int
	setup, mode   string
	conc          int
	msgsPerSec    float64
	p50, p99      string // µs
	errors        string
	msgs          int64
	client        float64 // CPU µs per message
	master, other float64 // the loaded master; every other replica
	nsctl         float64 // name servers with their controllers
	busyCores     float64
}

func (r tputRow) total() float64 { return r.client + r.master + r.other + r.nsctl }

// throughputPhase adds the single-replica broker name and runs the
// produce cases against both masters, alternating order per round.
func throughputPhase(ctx context.Context, c *cluster) ([]tputRow, error) {
	if err := c.addGroup(solo, 1); err != nil {
		return nil, err
	}
	if err := c.startGroup(ctx, solo); err != nil {
		return nil, err
	}
	setups := []string{group, solo}
	var rows []tputRow
	for round := range *rounds {
		order := slices.Clone(setups)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, g := range order {
			if err := c.waitInSync(ctx, g, rejoinBound); err != nil {
				return rows, err
			}
			m, _, err := c.master(ctx, g)
			if err != nil {
				return rows, err
			}
			// A short warm-up creates the topic and fills the first pages.
			if _, err := benchProduce(ctx, m, "FailBenchTput", "--mode", "async", "--conc", "2", "--window", "64", "--duration", "1s"); err != nil {
				return rows, err
			}
			for _, mode := range []string{"sync", "async"} {
				conc := *syncConc
				if mode == "async" {
					conc = *pipeConc
				}
				row, err := tputRun(ctx, c, m, g, mode, conc)
				if err != nil {
					return rows, err
				}
				row.round = round
				fmt.Printf("throughput round=%d setup=%s mode=%s conc=%d msgs/s=%.0f p50_us=%s p99_us=%s errors=%s cpu_us_per_msg client=%.1f master=%.1f other_brokers=%.1f namesrv_ctl=%.1f total=%.1f machine_busy_cores=%.2f\n",
					round, row.setup, mode, conc, row.msgsPerSec, row.p50, row.p99, row.errors,
					row.client, row.master, row.other, row.nsctl, row.total(), row.busyCores)
				rows = append(rows, row)
			}
		}
	}
	return rows, nil
}

func tputRun(ctx context.Context, c *cluster, m *replica, g, mode string, conc int) (tputRow, error) {
	ns0, b0 := c.serverCPU()
	m0, busy0, t0 := m.p.CPU(), benchkit.MachineBusy(), time.Now()
	kv, err := benchProduce(ctx, m, "FailBenchTput", "--mode", mode, "--conc", strconv.Itoa(conc),
		"--window", strconv.Itoa(*pipeWindow), "--duration", dur.String())
	if err != nil {
		return tputRow{}, err
	}
	wall := time.Since(t0)
	ns1, b1 := c.serverCPU()
	mcpu := m.p.CPU() - m0
	msgs, _ := strconv.ParseInt(kv["msgs"], 10, 64)
	rate, _ := strconv.ParseFloat(kv["msgs/s"], 64)
	clientS, _ := strconv.ParseFloat(kv["client_cpu_s"], 64)
	per := func(d time.Duration) float64 {
		if msgs == 0 {
			return 0
		}
		return float64(d.Microseconds()) / float64(msgs)
	}
	setup := "3 replicas, allAckInSyncStateSet"
	if g == solo {
		setup = "1 replica (controller mode)"
	}
	return tputRow{
		setup: setup, mode: mode, conc: conc, msgsPerSec: rate, p50: kv["p50_us"], p99: kv["p99_us"],
		errors: kv["errors"], msgs: msgs,
		client: per(time.Duration(clientS * float64(time.Second))),
		master: per(mcpu), other: per(b1 - b0 - mcpu), nsctl: per(ns1 - ns0),
		busyCores: (benchkit.MachineBusy() - busy0).Seconds() / wall.Seconds(),
	}, nil
}
