package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/tools/admin"
)

func newAdminTopic(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "topic", Short: "list, create, delete and inspect topics"}
	cmd.AddCommand(newTopicList(f), newTopicCreate(f), newTopicDelete(f), newTopicRoute(f), newTopicStatus(f), newTopicPerm(f), newTopicStatsAll(f))
	return cmd
}

func newTopicList(f *adminFlags) *cobra.Command {
	var broker string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "list the topics the name server routes (GET_ALL_TOPIC_LIST_FROM_NAMESERVER), or one broker's topic table with -b (GET_ALL_TOPIC_CONFIG)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				if broker == "" {
					topics, err := c.TopicList(ctx)
					if err != nil {
						return err
					}
					return f.print(cmd, topics, func(w *tabwriter.Writer) {
						fmt.Fprintln(w, "TOPIC")
						for _, t := range topics {
							fmt.Fprintln(w, t)
						}
					})
				}
				tcs, err := c.TopicConfigs(ctx, broker)
				if err != nil {
					return err
				}
				rows := make([]admin.TopicConfig, 0, len(tcs))
				for _, name := range sortedKeys(tcs) {
					rows = append(rows, tcs[name])
				}
				return f.print(cmd, rows, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "TOPIC\tREAD\tWRITE\tPERM\tFILTER\tORDER")
					for _, t := range rows {
						fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%t\n", t.TopicName, t.ReadQueueNums, t.WriteQueueNums, permString(t.Perm), t.TopicFilterType, t.Order)
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&broker, "broker", "b", "", "list this broker's topic table instead")
	return cmd
}

func newTopicCreate(f *adminFlags) *cobra.Command {
	var broker, cluster string
	tc := admin.TopicConfig{Perm: 6}
	var queues, readQ, writeQ int32
	cmd := &cobra.Command{
		Use:   "create TOPIC",
		Short: "create or update a topic on one broker (-b), the masters of a cluster (-c) or every master (UPDATE_AND_CREATE_TOPIC)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tc.TopicName = args[0]
			tc.ReadQueueNums, tc.WriteQueueNums = queues, queues
			if readQ > 0 {
				tc.ReadQueueNums = readQ
			}
			if writeQ > 0 {
				tc.WriteQueueNums = writeQ
			}
			if tc.ReadQueueNums <= 0 || tc.WriteQueueNums <= 0 {
				return fmt.Errorf("queue numbers must be positive (read %d, write %d)", tc.ReadQueueNums, tc.WriteQueueNums)
			}
			if broker != "" && cluster != "" {
				return fmt.Errorf("give -b or -c, not both")
			}
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				addrs, err := c.CreateTopicOn(ctx, tc, broker, cluster)
				if err != nil {
					return err
				}
				type result struct {
					admin.TopicConfig
					Brokers []string `json:"brokers"`
				}
				return f.print(cmd, result{tc, addrs}, func(w *tabwriter.Writer) {
					fmt.Fprintf(w, "created topic %s (read %d, write %d, perm %s) on %s\n",
						tc.TopicName, tc.ReadQueueNums, tc.WriteQueueNums, permString(tc.Perm), strings.Join(addrs, ", "))
				})
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&broker, "broker", "b", "", "broker address")
	fl.StringVarP(&cluster, "cluster", "c", "", "cluster name: create on each of its masters")
	fl.Int32VarP(&queues, "queues", "q", 8, "read and write queue numbers")
	fl.Int32Var(&readQ, "read-queues", 0, "read queue number (default --queues)")
	fl.Int32Var(&writeQ, "write-queues", 0, "write queue number (default --queues)")
	fl.IntVarP(&tc.Perm, "perm", "p", tc.Perm, "permission bits: 2 write, 4 read, 6 both")
	fl.BoolVarP(&tc.Order, "order", "o", false, "ordered topic")
	return cmd
}

func newTopicDelete(f *adminFlags) *cobra.Command {
	var broker, cluster string
	cmd := &cobra.Command{
		Use:   "delete TOPIC",
		Short: "delete a topic on the brokers that have it, then on the name servers (DELETE_TOPIC_IN_BROKER, DELETE_TOPIC_IN_NAMESRV)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			if broker != "" && cluster != "" {
				return fmt.Errorf("give -b or -c, not both")
			}
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				addrs, err := c.DeleteTopic(ctx, topic, broker, cluster)
				if err != nil {
					return err
				}
				type result struct {
					Topic   string   `json:"topic"`
					Brokers []string `json:"brokers"`
				}
				return f.print(cmd, result{topic, addrs}, func(w *tabwriter.Writer) {
					if len(addrs) == 0 {
						fmt.Fprintf(w, "deleted topic %s from the name servers (no broker had it)\n", topic)
						return
					}
					fmt.Fprintf(w, "deleted topic %s on %s and the name servers\n", topic, strings.Join(addrs, ", "))
				})
			})
		},
	}
	cmd.Flags().StringVarP(&broker, "broker", "b", "", "delete on this broker only (and the name servers)")
	cmd.Flags().StringVarP(&cluster, "cluster", "c", "", "delete on the masters of this cluster only")
	return cmd
}

func newTopicRoute(f *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "route TOPIC",
		Short: "show a topic's route from the name server (GET_ROUTEINFO_BY_TOPIC)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				rd, err := c.Route(ctx, args[0])
				if err != nil {
					return err
				}
				return f.print(cmd, rd, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "BROKER\tCLUSTER\tID\tADDR")
					for _, bd := range rd.BrokerDatas {
						ids := slices.Sorted(maps.Keys(bd.BrokerAddrs))
						for _, id := range ids {
							fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", bd.BrokerName, bd.Cluster, id, bd.BrokerAddrs[id])
						}
					}
					w.Flush()
					fmt.Fprintln(w)
					fmt.Fprintln(w, "BROKER\tREAD\tWRITE\tPERM")
					for _, qd := range rd.QueueDatas {
						fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", qd.BrokerName, qd.ReadQueueNums, qd.WriteQueueNums, permString(qd.Perm))
					}
				})
			})
		},
	}
}

func newTopicStatus(f *adminFlags) *cobra.Command {
	var broker string
	cmd := &cobra.Command{
		Use:   "status TOPIC",
		Short: "show each queue's min and max offsets and last update time (GET_TOPIC_STATS_INFO)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				st, err := c.TopicStatus(ctx, args[0], broker)
				if err != nil {
					return err
				}
				return f.print(cmd, st, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "BROKER\tADDR\tQUEUE\tMIN\tMAX\tMESSAGES\tLAST UPDATED")
					var total int64
					for _, q := range st {
						total += q.MaxOffset - q.MinOffset
						fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", dash(q.BrokerName), q.Addr, q.QueueID, q.MinOffset, q.MaxOffset, q.MaxOffset-q.MinOffset, fmtTime(q.LastUpdateTime))
					}
					fmt.Fprintf(w, "total\t\t%d queues\t\t\t%d\t\n", len(st), total)
				})
			})
		},
	}
	cmd.Flags().StringVarP(&broker, "broker", "b", "", "ask this broker (its topic table) instead of the name server's route")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
