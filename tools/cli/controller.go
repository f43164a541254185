package cli

import (
	"github.com/spf13/cobra"

	"github.com/wharfmq/wharf/controller"
)

func newController() *cobra.Command {
	var conf string
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "run a controller on its own (the Raft group that elects masters)",
		Long: `Run one controller of the Raft group that elects masters for brokers in
controller mode (enableControllerMode=true). controller.conf uses RocketMQ 5's
keys: controllerDLegerGroup, controllerDLegerPeers=n0-HOST:PORT;n1-HOST:PORT;...,
controllerDLegerSelfId, controllerStorePath; Wharf adds
controllerHeartBeatTimeoutMills (3000), brokerLeaseMillis (2000),
brokerLeaseMarginMillis (500), scanNotActiveBrokerInterval (250),
controllerRaftHeartbeatTimeoutMillis (500). The controller serves Raft and
broker requests on its own peer address. SIGINT or SIGTERM stop it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd)
			defer stop()
			cfg, err := controller.LoadConfig(conf, logger())
			if err != nil {
				return err
			}
			c, err := controller.New(cfg, logger())
			if err != nil {
				return err
			}
			if err := c.Start(); err != nil {
				return err
			}
			logger().Info("controller serving", "addr", c.Addr())
			<-ctx.Done()
			return c.Close()
		},
	}
	cmd.Flags().StringVarP(&conf, "config", "c", "", "controller.conf (RocketMQ 5 controller keys)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}
