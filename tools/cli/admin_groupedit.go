package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/tools/admin"
)

func newGroupUpdate(f *adminFlags) *cobra.Command {
	var broker, cluster string
	gc := admin.NewGroupConfig("")
	cmd := &cobra.Command{
		Use:   "update GROUP",
		Short: "create or change a subscription group on one broker (-b), a cluster's masters (-c) or every master (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, like mqadmin updateSubGroup)",
		Long: `Create a subscription group, or change one: flags not given keep the
group's current value on each broker (RocketMQ's defaults for a new group:
consume enabled, from min, broadcast allowed, 1 retry queue, 16 retries).
--consume=false stops the group's pulls (NO_PERMISSION) until set back.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if broker != "" && cluster != "" {
				return fmt.Errorf("give -b or -c, not both")
			}
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				addrs, err := c.Masters(ctx, cluster)
				if broker != "" {
					addrs, err = []admin.Broker{{Addr: broker}}, nil
				}
				if err != nil {
					return err
				}
				var done []admin.GroupConfig
				for _, b := range addrs {
					// Start from the broker's current config so that
					// flags not given keep their value.
					cur := admin.NewGroupConfig(args[0])
					if gcs, err := c.GroupConfigs(ctx, b.Addr); err != nil {
						return err
					} else if g, ok := gcs[args[0]]; ok {
						cur = g
					}
					applyGroupFlags(cmd, &cur, gc)
					if err := c.UpdateGroup(ctx, b.Addr, cur); err != nil {
						return err
					}
					done = append(done, cur)
				}
				type result struct {
					Broker string `json:"broker"`
					admin.GroupConfig
				}
				rows := make([]result, len(done))
				for i := range done {
					rows[i] = result{addrs[i].Addr, done[i]}
				}
				return f.print(cmd, rows, func(w *tabwriter.Writer) {
					for _, r := range rows {
						fmt.Fprintf(w, "group %s on %s: consume %t, broadcast %t, from min %t, retry queues %d, retry max %d, brokerId %d, slow brokerId %d, notify %t\n",
							r.GroupName, r.Broker, r.ConsumeEnable, r.ConsumeBroadcastEnable, r.ConsumeFromMinEnable, r.RetryQueueNums,
							r.RetryMaxTimes, r.BrokerID, r.WhichBrokerWhenConsumeSlowly, r.NotifyConsumerIDsChangedEnable)
					}
				})
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&broker, "broker", "b", "", "broker address")
	fl.StringVarP(&cluster, "cluster", "c", "", "cluster name: update on each of its masters")
	fl.BoolVarP(&gc.ConsumeEnable, "consume", "s", gc.ConsumeEnable, "consume enabled")
	fl.BoolVarP(&gc.ConsumeFromMinEnable, "from-min", "m", gc.ConsumeFromMinEnable, "a new consumer may start from the queue's minimum")
	fl.BoolVarP(&gc.ConsumeBroadcastEnable, "broadcast", "d", gc.ConsumeBroadcastEnable, "broadcast consuming allowed")
	fl.Int32VarP(&gc.RetryQueueNums, "retry-queues", "q", gc.RetryQueueNums, "retry queue number")
	fl.IntVarP(&gc.RetryMaxTimes, "retry-max", "r", gc.RetryMaxTimes, "retries before a message goes to the dead-letter queue")
	fl.Int64VarP(&gc.BrokerID, "broker-id", "i", gc.BrokerID, "broker id consumers pull from")
	fl.Int64VarP(&gc.WhichBrokerWhenConsumeSlowly, "slow-broker-id", "w", gc.WhichBrokerWhenConsumeSlowly, "broker id to pull from when consuming slowly")
	fl.BoolVarP(&gc.NotifyConsumerIDsChangedEnable, "notify", "a", gc.NotifyConsumerIDsChangedEnable, "tell consumers when the group's members change")
	return cmd
}

// applyGroupFlags copies into dst the fields of src whose flag was given.
func applyGroupFlags(cmd *cobra.Command, dst *admin.GroupConfig, src admin.GroupConfig) {
	set := cmd.Flags().Changed
	for name, apply := range map[string]func(){
		"consume":        func() { dst.ConsumeEnable = src.ConsumeEnable },
		"from-min":       func() { dst.ConsumeFromMinEnable = src.ConsumeFromMinEnable },
		"broadcast":      func() { dst.ConsumeBroadcastEnable = src.ConsumeBroadcastEnable },
		"retry-queues":   func() { dst.RetryQueueNums = src.RetryQueueNums },
		"retry-max":      func() { dst.RetryMaxTimes = src.RetryMaxTimes },
		"broker-id":      func() { dst.BrokerID = src.BrokerID },
		"slow-broker-id": func() { dst.WhichBrokerWhenConsumeSlowly = src.WhichBrokerWhenConsumeSlowly },
		"notify":         func() { dst.NotifyConsumerIDsChangedEnable = src.NotifyConsumerIDsChangedEnable },
	} {
		if set(name) {
			apply()
		}
	}
}

func newGroupDelete(f *adminFlags) *cobra.Command {
	var broker, cluster string
	var cleanOffset bool
	cmd := &cobra.Command{
		Use:   "delete GROUP",
		Short: "delete a subscription group from one broker (-b), a cluster's masters (-c) or every master that has it (DELETE_SUBSCRIPTIONGROUP, like mqadmin deleteSubGroup)",
		Long: `Delete a subscription group's config from the brokers that have it; with
--clean-offset its committed offsets too. Its retry and dead-letter topics
stay (delete them with "admin topic delete"). A consumer of the group that
is still online recreates the config with its next heartbeat when the
broker auto-creates groups.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if broker != "" && cluster != "" {
				return fmt.Errorf("give -b or -c, not both")
			}
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				addrs, err := c.DeleteGroupOn(ctx, args[0], broker, cluster, cleanOffset)
				if err != nil {
					return err
				}
				type result struct {
					Group       string   `json:"group"`
					Brokers     []string `json:"brokers"`
					CleanOffset bool     `json:"cleanOffset"`
				}
				return f.print(cmd, result{args[0], addrs, cleanOffset}, func(w *tabwriter.Writer) {
					what := "group"
					if cleanOffset {
						what = "group and its offsets"
					}
					fmt.Fprintf(w, "deleted %s %s on %s\n", what, args[0], strings.Join(addrs, ", "))
				})
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&broker, "broker", "b", "", "broker address")
	fl.StringVarP(&cluster, "cluster", "c", "", "cluster name: delete on each of its masters")
	fl.BoolVar(&cleanOffset, "clean-offset", false, "also delete the group's committed offsets")
	return cmd
}

// connRow is one connection of a group on one broker.
type connRow struct {
	Broker string `json:"broker"`
	admin.Connection
	// Running is the consumer's own report (GET_CONSUMER_RUNNING_INFO);
	// nil when not asked or not answered.
	Running *admin.RunningInfo `json:"running,omitempty"`
	Error   string             `json:"runningError,omitempty"`
}

func newGroupConnections(f *adminFlags) *cobra.Command {
	var broker string
	var status bool
	cmd := &cobra.Command{
		Use:   "connections GROUP",
		Short: "list a consumer group's connected clients and subscriptions on every master or one broker (GET_CONSUMER_CONNECTION_LIST, like mqadmin consumerConnection)",
		Long: `List the clients of a consumer group connected to each master (or one
broker, -b): client id, address, language and version, then the group's
consume type, message model and subscriptions. With --status each client is
also asked, through its broker, for its running state (like mqadmin
consumerStatus: GET_CONSUMER_RUNNING_INFO): its properties and the queues
it holds.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				addrs, err := c.Targets(ctx, broker)
				if err != nil {
					return err
				}
				var rows []connRow
				var info admin.ConsumerConnection
				for _, a := range addrs {
					cc, err := c.ConsumerConnections(ctx, a, group)
					if errors.Is(err, admin.ErrNotFound) {
						continue
					}
					if err != nil {
						return err
					}
					info.ConsumeType, info.MessageModel, info.ConsumeFromWhere = cc.ConsumeType, cc.MessageModel, cc.ConsumeFromWhere
					if info.SubscriptionTable == nil {
						info.SubscriptionTable = cc.SubscriptionTable
					}
					for _, conn := range cc.ConnectionSet {
						r := connRow{Broker: a, Connection: conn}
						if status {
							ri, err := c.ConsumerRunningInfo(ctx, a, group, conn.ClientID)
							if err != nil {
								r.Error = err.Error()
							} else {
								r.Running = &ri
							}
						}
						rows = append(rows, r)
					}
				}
				if len(rows) == 0 {
					return fmt.Errorf("consumer group %q: no client online on %s: %w", group, strings.Join(addrs, ", "), admin.ErrNotFound)
				}
				type result struct {
					Group string `json:"group"`
					admin.ConsumerConnection
					Connections []connRow `json:"connections"`
				}
				info.ConnectionSet = nil
				return f.print(cmd, result{group, info, rows}, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "CLIENT ID\tADDR\tLANGUAGE\tVERSION\tBROKER")
					for _, r := range rows {
						fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", r.ClientID, r.ClientAddr, r.Language, r.Version, r.Broker)
					}
					fmt.Fprintf(w, "\nconsume type\t%s\nmessage model\t%s\nconsume from\t%s\n", info.ConsumeType, info.MessageModel, info.ConsumeFromWhere)
					for _, t := range sortedKeys(info.SubscriptionTable) {
						s := info.SubscriptionTable[t]
						fmt.Fprintf(w, "subscription\t%s %s %q (version %d)\n", t, s.ExpressionType, s.SubString, s.SubVersion)
					}
					if !status {
						return
					}
					for _, r := range rows {
						if r.Running == nil {
							fmt.Fprintf(w, "\nstatus of %s\tnot answered: %s\n", r.ClientID, r.Error)
							continue
						}
						fmt.Fprintf(w, "\nstatus of %s\t%d queues held\n", r.ClientID, len(r.Running.Queues))
						for _, q := range r.Running.Queues {
							fmt.Fprintf(w, "  queue\t%s %s %d\n", q.Topic, q.BrokerName, q.QueueID)
						}
						for _, k := range sortedKeys(r.Running.Properties) {
							fmt.Fprintf(w, "  %s\t%s\n", k, r.Running.Properties[k])
						}
					}
				})
			})
		},
	}
	cmd.Flags().StringVarP(&broker, "broker", "b", "", "ask this broker only")
	cmd.Flags().BoolVar(&status, "status", false, "also ask each client for its running state")
	return cmd
}

func newAdminProducer(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "producer", Short: "producer groups"}
	var broker string
	conns := &cobra.Command{
		Use:   "connections GROUP",
		Short: "list a producer group's connected clients on every master or one broker (GET_PRODUCER_CONNECTION_LIST, like mqadmin producerConnection)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				addrs, err := c.Targets(ctx, broker)
				if err != nil {
					return err
				}
				var rows []connRow
				for _, a := range addrs {
					pc, err := c.ProducerConnections(ctx, a, args[0])
					var se *admin.ServerError
					if errors.As(err, &se) {
						continue // RocketMQ's answer for a group with nobody online
					}
					if err != nil {
						return err
					}
					for _, conn := range pc.ConnectionSet {
						rows = append(rows, connRow{Broker: a, Connection: conn})
					}
				}
				if len(rows) == 0 {
					return fmt.Errorf("producer group %q: no client online on %s: %w", args[0], strings.Join(addrs, ", "), admin.ErrNotFound)
				}
				return f.print(cmd, rows, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "CLIENT ID\tADDR\tLANGUAGE\tVERSION\tBROKER")
					for _, r := range rows {
						fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", r.ClientID, r.ClientAddr, r.Language, r.Version, r.Broker)
					}
				})
			})
		},
	}
	conns.Flags().StringVarP(&broker, "broker", "b", "", "ask this broker only")
	cmd.AddCommand(conns)
	return cmd
}
