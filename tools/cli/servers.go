package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/broker"
	"github.com/wharfmq/wharf/nameserver"
)

func logger() *slog.Logger { return slog.New(slog.NewTextHandler(os.Stderr, nil)) }

// waitSignal blocks until SIGINT or SIGTERM.
func waitSignal() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
}

func newNamesrv() *cobra.Command {
	listen := "127.0.0.1:9876"
	cmd := &cobra.Command{
		Use:   "namesrv",
		Short: "run a name server",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ns, err := nameserver.New(nameserver.Options{Listen: listen, Logger: logger()})
			if err != nil {
				return err
			}
			if err := ns.Start(); err != nil {
				return err
			}
			slog.Info("name server serving", "addr", ns.Addr())
			waitSignal()
			return ns.Close()
		},
	}
	cmd.Flags().StringVar(&listen, "listen", listen, "address to listen on")
	return cmd
}

// brokerFlags are the flags broker and standalone share.
type brokerFlags struct {
	conf, namesrv, listen, data string
}

func (f *brokerFlags) addConfigFlag(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.conf, "config", "c", "", "broker.conf (RocketMQ property names)")
}

func (f *brokerFlags) config() (broker.Config, error) {
	cfg := broker.DefaultConfig()
	if f.conf != "" {
		c, err := broker.LoadConfig(f.conf, logger())
		if err != nil {
			return cfg, err
		}
		cfg = c
	}
	if f.namesrv != "" {
		cfg.NamesrvAddr = f.namesrv
	}
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	if f.data != "" {
		cfg.StorePathRootDir = f.data
	}
	return cfg, cfg.Validate()
}

// serveBroker runs a broker until SIGINT or SIGTERM.
func serveBroker(cfg broker.Config) error {
	b, err := broker.New(cfg, broker.WithLogger(logger()))
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		b.Close()
		return err
	}
	slog.Info("broker serving", "addr", b.Addr(), "data", cfg.StorePathRootDir)
	waitSignal()
	return b.Close()
}

func newBroker() *cobra.Command {
	f := &brokerFlags{}
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "run a broker",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config()
			if err != nil {
				return err
			}
			return serveBroker(cfg)
		},
	}
	f.addConfigFlag(cmd)
	cmd.Flags().StringVarP(&f.namesrv, "namesrv", "n", "", "name servers, HOST:PORT[;HOST:PORT...]")
	cmd.Flags().StringVar(&f.listen, "listen", "", "address to listen on (default 0.0.0.0:listenPort)")
	cmd.Flags().StringVar(&f.data, "data", "", "data directory (storePathRootDir)")
	return cmd
}

func newStandalone() *cobra.Command {
	f := &brokerFlags{data: "./wharf-data", listen: "127.0.0.1:10911"}
	cmd := &cobra.Command{
		Use:   "standalone",
		Short: "run a name server (127.0.0.1:9876) and a broker (127.0.0.1:10911) in one process",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ns, err := nameserver.New(nameserver.Options{Listen: "127.0.0.1:9876", Logger: logger()})
			if err != nil {
				return err
			}
			if err := ns.Start(); err != nil {
				return fmt.Errorf("name server: %w", err)
			}
			defer ns.Close()
			f.namesrv = ns.Addr()
			cfg, err := f.config()
			if err != nil {
				return err
			}
			return serveBroker(cfg)
		},
	}
	f.addConfigFlag(cmd)
	cmd.Flags().StringVar(&f.data, "data", f.data, "data directory")
	return cmd
}
