package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/tools/admin"
)

func newAdminBroker(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "broker", Short: "broker runtime state and config"}
	cmd.AddCommand(newBrokerStatus(f), newBrokerConfig(f))
	return cmd
}

func newBrokerStatus(f *adminFlags) *cobra.Command {
	var broker string
	cmd := &cobra.Command{
		Use:   "status -b BROKER",
		Short: "print a broker's runtime table, as mqadmin brokerStatus (GET_BROKER_RUNTIME_INFO)",
		Long: `Print a broker's runtime table: versions, message counters, CommitLog
offsets, dispatch lag and state (dispatchState: ok, or STALLED with the
cause while sends are refused), disk use, boot time, and the replication role:
brokerRole (ASYNC_MASTER, SYNC_MASTER or SLAVE), brokerId, masterEpoch (the
epoch of its last role change at run time, 0 for the configured role),
writeFenced (true while a master's write lease has lapsed), haServerAddr (its
HA listener) and, on a slave, masterAddr and masterHaServerAddr (empty while
no master is registered). Replication: on a master haSlaveCount (slaves the
name servers list), haUntrustedPeerCount (other peers on the HA port, when
any) and one haSlave.ADDR line per connection (its acknowledged CommitLog
offset, its lag in bytes and in milliseconds since it last held everything,
and whether the name servers list it as a slave); on a slave haConnected, haEnd
and haLastError. In controller mode also controllerBrokerId (the replica
id), controllerRole, syncStateSet and syncStateSetEpoch, confirmOffset
(what consumers may see), leaseLeftMillis on a master, controllerLastError
(empty while the controllers answer) and, on a master, one haReplica.ID
line per connected replica. The text form starts with a one-line summary of
the role and one of the rates: putTps, getTotalTps (pull requests),
getFoundTps, getMissTps and getTransferedTps (messages pulled), each a
per-second rate over the last 10 s, 1 min and 10 min, as RocketMQ reports
them. Wharf's counters count since the broker started (the "TodayMorning"
marks are 0).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if broker == "" {
				return fmt.Errorf("give the broker address with -b")
			}
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				table, err := c.BrokerRuntimeInfo(ctx, broker)
				if err != nil {
					return err
				}
				return f.print(cmd, table, func(w *tabwriter.Writer) {
					fmt.Fprintf(w, "role\t: %s\n", roleSummary(table))
					fmt.Fprintf(w, "rates\t: %s\n", ratesSummary(table))
					for _, k := range sortedKeys(table) {
						fmt.Fprintf(w, "%s\t: %s\n", k, table[k])
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&broker, "broker", "b", "", "broker address (required)")
	return cmd
}

// roleSummary is one line on the broker's role from its runtime table:
// "SLAVE, brokerId 1, master 10.0.0.1:10911" and the like. A broker that
// does not report its role (RocketMQ) gets "unknown".
func roleSummary(table map[string]string) string {
	role, ok := table["brokerRole"]
	if !ok {
		return "unknown (the broker does not report brokerRole)"
	}
	sum := role + ", brokerId " + table["brokerId"]
	if e := table["masterEpoch"]; e != "" && e != "0" {
		sum += ", epoch " + e // the role changed at run time
	}
	if table["writeFenced"] == "true" {
		sum += ", WRITES FENCED (lease lapsed)"
	}
	if sss, ok := table["syncStateSet"]; ok {
		sum += ", replica " + table["controllerBrokerId"] + ", SyncStateSet {" + sss + "}"
		if e := table["controllerLastError"]; e != "" {
			sum += ", controllers: " + e
		}
	}
	if role != "SLAVE" {
		if n, ok := table["haSlaveCount"]; ok {
			sum += ", " + n + " slave(s) connected"
			if u := table["haUntrustedPeerCount"]; u != "" {
				sum += " (and " + u + " HA peer(s) the name servers do not list as slaves)"
			}
			for _, k := range sortedKeys(table) {
				if addr, ok := strings.CutPrefix(k, "haSlave."); ok {
					sum += "; " + addr + " " + table[k]
				}
			}
		}
		return sum
	}
	if m := table["masterAddr"]; m != "" {
		sum += ", master " + m + " (HA " + table["masterHaServerAddr"] + ")"
		if table["haConnected"] == "true" {
			sum += ", following at " + table["haEnd"]
		} else if e := table["haLastError"]; e != "" {
			sum += ", not following: " + e
		}
		return sum
	}
	return sum + ", no master registered"
}

// ratesSummary is one line on the broker's rates from its runtime table:
// "put 120.50/s, get 80.00/s (found 60.00/s, miss 20.00/s), transferred
// 600.00 msg/s; over 10 s (1 min: ..., 10 min: ...)". The figures are the
// first of each "10s 1min 10min" triple; the minute and ten-minute puts
// and gets follow in brackets.
func ratesSummary(table map[string]string) string {
	tps := func(key string) []string {
		f := strings.Fields(table[key])
		for len(f) < 3 {
			f = append(f, "?")
		}
		return f
	}
	put, get, found, miss, moved := tps("putTps"), tps("getTotalTps"), tps("getFoundTps"), tps("getMissTps"), tps("getTransferedTps")
	return fmt.Sprintf("put %s/s, get %s/s (found %s/s, miss %s/s), transferred %s msg/s over 10 s "+
		"(1 min: put %s/s, get %s/s; 10 min: put %s/s, get %s/s)",
		put[0], get[0], found[0], miss[0], moved[0], put[1], get[1], put[2], get[2])
}
