//go:build linux

package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// results are what the phases measured.
type results struct {
	kill, consumer []killSample
	tput           []tputRow
}

// quantile is the nearest-rank quantile of ds (with 20 samples p99 is
// the largest).
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(len(s)-1, i))]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func list(ds []time.Duration) string {
	var parts []string
	for _, d := range ds {
		parts = append(parts, fmt.Sprintf("%.2f", d.Seconds()))
	}
	return strings.Join(parts, " ")
}

func (r results) print() {
	fmt.Println()
	if len(r.kill) > 0 {
		var elect, route, send, rejoin []time.Duration
		for _, s := range r.kill {
			elect, route, send, rejoin = append(elect, s.elect), append(route, s.route), append(send, s.send), append(rejoin, s.rejoin)
		}
		fmt.Printf("## kill -9 of the master, %d kills (seconds from the kill)\n\n", len(r.kill))
		fmt.Println("| from the kill until | p50 | p99 | max | samples (s) |")
		fmt.Println("| --- | --- | --- | --- | --- |")
		for _, row := range []struct {
			name string
			ds   []time.Duration
		}{
			{"the controller leader names a new master", elect},
			{"all 3 name servers route brokerId 0 to it", route},
			{"a fresh Go-client producer gets SEND_OK", send},
			{"(restarted replica back in the SyncStateSet, from its restart)", rejoin},
		} {
			fmt.Printf("| %s | %s | %s | %s | %s |\n", row.name, secs(quantile(row.ds, 0.5)), secs(quantile(row.ds, 0.99)),
				secs(slices.Max(row.ds)), list(row.ds))
		}
		var unrest []string
		for i, s := range r.kill {
			if s.raftElections > 0 || s.leaders[0] != s.leaders[1] {
				unrest = append(unrest, fmt.Sprintf("kill %d (%.2f s)", i, s.send.Seconds()))
			}
		}
		if len(unrest) > 0 {
			fmt.Printf("\nA controller Raft election started during the failover of %d of %d kills: %s. A controller that gains\n"+
				"leadership, even the same one again, waits max(heartbeat timeout, lease + margin) before it replaces a master.\n",
				len(unrest), len(r.kill), strings.Join(unrest, ", "))
		}
		fmt.Println()
	}
	if len(r.consumer) > 0 {
		var ok, resume []time.Duration
		for _, s := range r.consumer {
			ok, resume = append(ok, s.firstSendOK), append(resume, s.firstResume)
		}
		fmt.Printf("## running Go push consumer, %d kills (seconds from the kill; it resumes at its first 30 s route poll after the new route)\n\n", len(r.consumer))
		fmt.Println("| from the kill until | p50 | max | samples (s) |")
		fmt.Println("| --- | --- | --- | --- |")
		fmt.Printf("| first SEND_OK on the new master | %s | %s | %s |\n", secs(quantile(ok, 0.5)), secs(slices.Max(ok)), list(ok))
		var withPhase []string
		for _, s := range r.consumer {
			withPhase = append(withPhase, fmt.Sprintf("%.2f (kill %.1f s after a client route poll)", s.firstResume.Seconds(), s.phase.Seconds()))
		}
		fmt.Printf("| the push consumer receives a message of the new master | %s | %s | %s |\n\n", secs(quantile(resume, 0.5)), secs(slices.Max(resume)), strings.Join(withPhase, ", "))
	}
	if len(r.tput) > 0 {
		fmt.Println("## throughput, 1 KiB, wharf bench produce (CPU µs per message; client, brokers and controllers share the machine)")
		fmt.Println()
		fmt.Println("| round | setup | mode | msgs/s | p50 µs | p99 µs | errors | client | master | other brokers | namesrv+ctl | total | machine busy cores |")
		fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
		for _, t := range r.tput {
			fmt.Printf("| %d | %s | %s %d | %.0f | %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f |\n",
				t.round, t.setup, t.mode, t.conc, t.msgsPerSec, t.p50, t.p99, t.errors,
				t.client, t.master, t.other, t.nsctl, t.total(), t.busyCores)
		}
		fmt.Println()
		for _, t := range r.tput {
			if t.setup == "1 replica (controller mode)" {
				continue
			}
			for _, b := range r.tput {
				if b.round == t.round && b.mode == t.mode && b.setup != t.setup && b.msgsPerSec > 0 {
					fmt.Printf("round %d %s %d: 3 replicas / 1 replica = %.2f\n", t.round, t.mode, t.conc, t.msgsPerSec/b.msgsPerSec)
				}
			}
		}
	}
}
