package cli

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/tools/admin"
)

func newAdminGroup(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "consumer groups and their progress"}
	cmd.AddCommand(newGroupList(f), newGroupProgress(f), newGroupReset(f), newGroupUpdate(f), newGroupDelete(f), newGroupConnections(f))
	return cmd
}

func newGroupList(f *adminFlags) *cobra.Command {
	var broker, cluster string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "list the subscription groups of every master, a cluster's masters (-c) or one broker (-b) (GET_ALL_SUBSCRIPTIONGROUP_CONFIG)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if broker != "" && cluster != "" {
				return fmt.Errorf("give -b or -c, not both")
			}
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				byBroker, err := c.Groups(ctx, broker, cluster)
				if err != nil {
					return err
				}
				type row struct {
					Broker string `json:"broker"`
					admin.GroupConfig
				}
				var rows []row
				for _, a := range sortedKeys(byBroker) {
					for _, g := range sortedKeys(byBroker[a]) {
						rows = append(rows, row{a, byBroker[a][g]})
					}
				}
				return f.print(cmd, rows, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "GROUP\tBROKER\tCONSUME\tBROADCAST\tFROM MIN\tRETRY QUEUES\tRETRY MAX")
					for _, r := range rows {
						fmt.Fprintf(w, "%s\t%s\t%t\t%t\t%t\t%d\t%d\n", r.GroupName, r.Broker, r.ConsumeEnable, r.ConsumeBroadcastEnable,
							r.ConsumeFromMinEnable, r.RetryQueueNums, r.RetryMaxTimes)
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&broker, "broker", "b", "", "broker address")
	cmd.Flags().StringVarP(&cluster, "cluster", "c", "", "cluster name")
	return cmd
}

func newGroupProgress(f *adminFlags) *cobra.Command {
	var broker, topic string
	cmd := &cobra.Command{
		Use:   "progress GROUP",
		Short: "show a group's consumer offsets against the max offsets, the lag and the last consumed time, per queue (GET_CONSUME_STATS)",
		Long: `Show a consumer group's committed offset, the broker's max offset, the
lag and the store time of the last consumed message of every queue. With
--topic, every queue of that topic. Without it, each broker reports the
topics the group has offsets for, its retry topic and the topics its
online consumers subscribe to. CONSUMER OFFSET is 0 where the group has
committed none (as RocketMQ reports it).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				rows, err := c.GroupProgress(ctx, args[0], topic, broker)
				if err != nil {
					return err
				}
				return f.print(cmd, rows, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "TOPIC\tBROKER\tADDR\tQUEUE\tBROKER OFFSET\tCONSUMER OFFSET\tLAG\tLAST CONSUMED")
					var lag int64
					for _, r := range rows {
						lag += r.Lag
						fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.Topic, dash(r.BrokerName), r.Addr, r.QueueID,
							r.BrokerOffset, r.ConsumerOffset, r.Lag, fmtTime(r.LastTimestamp))
					}
					fmt.Fprintf(w, "total\t\t\t%d queues\t\t\t%d\t\n", len(rows), lag)
				})
			})
		},
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "only this topic")
	cmd.Flags().StringVarP(&broker, "broker", "b", "", "ask this broker only")
	return cmd
}

func newGroupReset(f *adminFlags) *cobra.Command {
	var broker, topic, to string
	var force, create bool
	cmd := &cobra.Command{
		Use:   "reset GROUP --topic T --to TIME|earliest|latest",
		Short: "move a group's offsets on a topic to a time, the start or the end (INVOKE_BROKER_TO_RESET_OFFSET, like mqadmin resetOffsetByTime)",
		Long: `Move a consumer group's offsets on one topic to the first message stored
at or after a time, on every master of the topic (or one broker, -b).
--to takes RFC 3339 ("2026-11-24T10:00:00Z"), milliseconds since the
epoch, "earliest" (the start of each queue) or "latest" (the end). The
brokers commit the new offsets, so this works with the group offline, and
tell its online consumers to drop what they hold and pull from there.
With --force=false an offset only moves back (as mqadmin's -f false):
MOVED says "kept" where it stayed. A group the broker does not know (no
group config, no offset on the topic) is refused unless --create.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := parseResetTarget(to)
			if err != nil {
				return err
			}
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				rows, err := c.ResetOffsets(ctx, args[0], topic, broker, target, force, create)
				if err != nil {
					return err
				}
				moved, kept := 0, 0
				for _, r := range rows {
					if r.Moved {
						moved++
					}
					if r.Kept {
						kept++
					}
				}
				err = f.print(cmd, rows, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "TOPIC\tBROKER\tADDR\tQUEUE\tOFFSET\tMOVED")
					for _, r := range rows {
						fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\n", r.Topic, dash(r.BrokerName), r.Addr, r.QueueID, r.Offset, movedWord(r))
					}
				})
				if err == nil && moved == 0 && !f.json {
					why := ""
					if kept > 0 {
						why = ": --force=false never moves an offset forward"
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "nothing moved%s\n", why)
				}
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&topic, "topic", "t", "", "the topic (required)")
	cmd.Flags().StringVar(&to, "to", "", "RFC 3339 time, epoch milliseconds, earliest or latest (required)")
	cmd.Flags().BoolVar(&force, "force", true, "also move offsets forward")
	cmd.Flags().BoolVar(&create, "create", false, "create the group on a broker that does not know it")
	cmd.Flags().StringVarP(&broker, "broker", "b", "", "reset on this broker only")
	_ = cmd.MarkFlagRequired("topic")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// movedWord is the MOVED column of group reset.
func movedWord(r admin.QueueOffset) string {
	switch {
	case r.Moved:
		return "yes"
	case r.Kept:
		return "kept (target ahead, --force=false)"
	}
	return "no"
}

// parseResetTarget reads --to of group reset.
func parseResetTarget(s string) (admin.ResetTarget, error) {
	switch s {
	case "earliest":
		return admin.ResetTarget{Time: time.UnixMilli(0)}, nil
	case "latest":
		return admin.ResetTarget{Latest: true}, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms >= 0 {
		return admin.ResetTarget{Time: time.UnixMilli(ms)}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return admin.ResetTarget{}, fmt.Errorf("--to %q: want RFC 3339 (2026-11-24T10:00:00Z), epoch milliseconds, earliest or latest", s)
	}
	return admin.ResetTarget{Time: t}, nil
}
