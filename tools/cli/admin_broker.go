package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/tools/admin"
)

func newAdminBroker(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "broker", Short: "broker runtime state"}
	cmd.AddCommand(newBrokerStatus(f))
	return cmd
}

func newBrokerStatus(f *adminFlags) *cobra.Command {
	var broker string
	cmd := &cobra.Command{
		Use:   "status -b BROKER",
		Short: "print a broker's runtime table, as mqadmin brokerStatus (GET_BROKER_RUNTIME_INFO)",
		Long: `Print a broker's runtime table: versions, message counters, CommitLog
offsets, dispatch lag and state (dispatchState: ok, or STALLED with the
cause while sends are refused), disk use, boot time. Wharf's counters count since
the broker started (the "TodayMorning" marks are 0) and its rates are 0.`,
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
