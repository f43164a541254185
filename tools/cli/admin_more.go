package cli

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/tools/admin"
)

func newTopicPerm(f *adminFlags) *cobra.Command {
	var broker, cluster string
	cmd := &cobra.Command{
		Use:   "perm TOPIC PERM",
		Short: "set a topic's permission on one broker (-b), a cluster's masters (-c) or every master that has it (UPDATE_AND_CREATE_TOPIC, like mqadmin updateTopicPerm)",
		Long: `Set a topic's permission bits, keeping its queues and other settings:
2 write only, 4 read only, 6 read and write (1 inherit may be added). A
topic made read-only takes no sends and is still consumed: the way to drain
a broker before taking it out.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			perm, err := strconv.Atoi(args[1])
			if err != nil || perm < 0 || perm > 7 {
				return fmt.Errorf("perm %q: want 2 (write), 4 (read) or 6 (both), plus 1 for inherit", args[1])
			}
			if broker != "" && cluster != "" {
				return fmt.Errorf("give -b or -c, not both")
			}
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				addrs, err := c.UpdateTopicPerm(ctx, args[0], perm, broker, cluster)
				if err != nil {
					return err
				}
				type result struct {
					Topic   string   `json:"topic"`
					Perm    int      `json:"perm"`
					Brokers []string `json:"brokers"`
				}
				return f.print(cmd, result{args[0], perm, addrs}, func(w *tabwriter.Writer) {
					fmt.Fprintf(w, "topic %s perm %s on %s\n", args[0], permString(perm), strings.Join(addrs, ", "))
				})
			})
		},
	}
	cmd.Flags().StringVarP(&broker, "broker", "b", "", "broker address")
	cmd.Flags().StringVarP(&cluster, "cluster", "c", "", "cluster name")
	return cmd
}

func newTopicStatsAll(f *adminFlags) *cobra.Command {
	var broker, cluster string
	var system bool
	cmd := &cobra.Command{
		Use:   "stats-all",
		Short: "messages written, stored and consumed per topic and group, on every master, a cluster's (-c) or one broker (-b) (like mqadmin statsAll)",
		Long: `For each topic: messages written since its queues began (the sum of
their max offsets), messages still stored, and for each consumer group with
offsets on it the messages consumed and the lag (accumulation). These are
totals, not the 24-hour windows and rates of mqadmin statsAll. System,
retry and dead-letter topics are left out unless --system.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if broker != "" && cluster != "" {
				return fmt.Errorf("give -b or -c, not both")
			}
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				rows, err := c.StatsAll(ctx, broker, cluster, system)
				if err != nil {
					return err
				}
				return f.print(cmd, rows, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "TOPIC\tWRITTEN\tSTORED\tGROUP\tCONSUMED\tLAG")
					for _, t := range rows {
						if len(t.Groups) == 0 {
							fmt.Fprintf(w, "%s\t%d\t%d\t-\t-\t-\n", t.Topic, t.Written, t.Stored)
						}
						for _, g := range t.Groups {
							fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%d\t%d\n", t.Topic, t.Written, t.Stored, g.Group, g.Consumed, g.Lag)
						}
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&broker, "broker", "b", "", "broker address")
	cmd.Flags().StringVarP(&cluster, "cluster", "c", "", "cluster name")
	cmd.Flags().BoolVar(&system, "system", false, "include system, retry and dead-letter topics")
	return cmd
}

func newMessageOffset(f *adminFlags, bodyBytes *int) *cobra.Command {
	var broker, brokerName string
	cmd := &cobra.Command{
		Use:   "offset TOPIC QUEUE OFFSET",
		Short: "show the message at a queue offset, read from the broker with a pull (PULL_MESSAGE, like mqadmin queryMsgByOffset)",
		Long: `Show the message at OFFSET of queue QUEUE of TOPIC, read online from the
broker holding the queue (a pull as the tools consumer group, which commits
nothing). The broker is -b, or the master named --broker-name in the
topic's route, or the topic's only master.`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := strconv.ParseInt(args[1], 10, 32)
			if err != nil || q < 0 {
				return fmt.Errorf("queue %q: want a queue id", args[1])
			}
			off, err := strconv.ParseInt(args[2], 10, 64)
			if err != nil || off < 0 {
				return fmt.Errorf("offset %q: want a queue offset", args[2])
			}
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				addr := broker
				if addr == "" {
					if addr, err = queueBroker(ctx, c, args[0], brokerName); err != nil {
						return err
					}
				}
				m, err := c.MessageAt(ctx, addr, args[0], int32(q), off)
				if err != nil {
					return err
				}
				return printMessages(cmd, f, []admin.Message{m}, *bodyBytes)
			})
		},
	}
	cmd.Flags().StringVarP(&broker, "broker", "b", "", "broker address")
	cmd.Flags().StringVar(&brokerName, "broker-name", "", "the master of this broker name in the topic's route")
	return cmd
}

// queueBroker picks the master holding topic's queues: the one named
// brokerName, or the only one.
func queueBroker(ctx context.Context, c *admin.Client, topic, brokerName string) (string, error) {
	qs, err := c.TopicQueues(ctx, topic, "")
	if err != nil {
		return "", err
	}
	byName := map[string]string{}
	for _, q := range qs {
		byName[q.BrokerName] = q.Addr
	}
	if brokerName != "" {
		if a, ok := byName[brokerName]; ok {
			return a, nil
		}
		return "", fmt.Errorf("topic %q has no queue on a master named %q (brokers: %s)", topic, brokerName, strings.Join(sortedKeys(byName), ", "))
	}
	if len(byName) != 1 {
		return "", fmt.Errorf("topic %q is on brokers %s: choose one with --broker-name or -b", topic, strings.Join(sortedKeys(byName), ", "))
	}
	for _, a := range byName {
		return a, nil
	}
	return "", nil
}

func newClusterRT(f *adminFlags) *cobra.Command {
	var cluster string
	var count, size int
	cmd := &cobra.Command{
		Use:   "rt",
		Short: "send to every master (of a cluster, -c) and report each one's send latency (like mqadmin clusterRT)",
		Long: `Send --count messages of --size bytes, one at a time, to queue 0 of the
topic named after each master's cluster (every broker has it), and print
per master the sends, failures and the minimum, average and maximum round
trip. A master that fails every send shows its last error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if count <= 0 || count > 100000 || size < 0 || size > 4<<20 {
				return fmt.Errorf("--count 1..100000 and --size 0..4194304")
			}
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				rows, err := c.ClusterRT(ctx, cluster, count, size)
				if err != nil {
					return err
				}
				err = f.print(cmd, rows, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "CLUSTER\tBROKER\tADDR\tSENT\tFAILED\tMIN\tAVG\tMAX\tERROR")
					for _, r := range rows {
						fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", r.Cluster, r.Broker, r.Addr, r.Sent, r.Failed,
							ms(r.Min), ms(r.Avg), ms(r.Max), dash(r.Err))
					}
				})
				if err == nil && slices.ContainsFunc(rows, func(r admin.RoundTrip) bool { return r.Failed > 0 }) {
					return fmt.Errorf("some sends failed")
				}
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&cluster, "cluster", "c", "", "only this cluster's masters")
	cmd.Flags().IntVar(&count, "count", 10, "messages per master")
	cmd.Flags().IntVar(&size, "size", 128, "body bytes")
	return cmd
}

// ms renders a latency in milliseconds with 3 decimals.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64) + "ms"
}

func newBrokerConfig(f *adminFlags) *cobra.Command {
	var broker string
	cmd := &cobra.Command{
		Use:   "config -b BROKER",
		Short: "print a broker's running config as broker.conf lines (GET_BROKER_CONFIG, like mqadmin getBrokerConfig); read-only",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if broker == "" {
				return fmt.Errorf("give the broker address with -b")
			}
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				props, err := c.BrokerConfig(ctx, broker)
				if err != nil {
					return err
				}
				return f.print(cmd, props, func(w *tabwriter.Writer) {
					for _, k := range sortedKeys(props) {
						fmt.Fprintf(w, "%s=%s\n", k, props[k])
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&broker, "broker", "b", "", "broker address")
	return cmd
}
