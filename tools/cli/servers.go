package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/broker"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/controller"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/tools/dashboard"
)

// Default addresses of `wharf standalone` (and the name server's default).
const (
	defaultNamesrvListen = "127.0.0.1:9876"
	defaultBrokerListen  = "127.0.0.1:10911"
)

func logger() *slog.Logger { return slog.New(slog.NewTextHandler(os.Stderr, nil)) }

// signalContext is cmd's context ended by SIGINT or SIGTERM. It is taken
// before anything starts, so a signal during startup also stops cleanly
// instead of killing the process with its data half open. SIGHUP (a
// closed terminal, or an operator's habit of "reload") is logged and
// ignored: logs go to stderr, so there is nothing to reopen, and dying on
// it would be an unclean stop.
func signalContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-hup:
				logger().Info("SIGHUP ignored; SIGTERM or SIGINT stop the server")
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(hup)
		close(done)
		wg.Wait()
		stop()
	}
}

func newNamesrv() *cobra.Command {
	listen := defaultNamesrvListen
	var conf string
	cmd := &cobra.Command{
		Use:   "namesrv",
		Short: "run a name server",
		Long: `Run a name server. With -c, a namesrv.conf that sets
enableControllerInNamesrv=true (and controllerDLegerPeers,
controllerDLegerSelfId, controllerStorePath) also runs a controller: it
answers controller requests on the name server's port and on its peer port.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd)
			defer stop()
			var hosted nameserver.Hosted
			if conf != "" {
				cfg, err := controller.LoadConfig(conf, logger())
				if err != nil {
					return err
				}
				if cfg.EnableInNamesrv {
					c, err := controller.New(cfg, logger())
					if err != nil {
						return err
					}
					hosted = c
				}
			}
			ns, err := startNamesrvWith(listen, hosted)
			if err != nil {
				return err
			}
			<-ctx.Done()
			return ns.Close()
		},
	}
	cmd.Flags().StringVar(&listen, "listen", listen, "address to listen on")
	cmd.Flags().StringVarP(&conf, "config", "c", "", "namesrv.conf (RocketMQ property names; the controller keys are read)")
	return cmd
}

func startNamesrv(listen string) (*nameserver.Server, error) { return startNamesrvWith(listen, nil) }

func startNamesrvWith(listen string, hosted nameserver.Hosted) (*nameserver.Server, error) {
	ns, err := nameserver.New(nameserver.Options{Listen: listen, Logger: logger(), Hosted: hosted})
	if err != nil {
		return nil, fmt.Errorf("name server: %w", err)
	}
	if err := ns.Start(); err != nil {
		ns.Close()
		return nil, fmt.Errorf("name server on %s: %w", listen, err)
	}
	logger().Info("name server serving", "addr", ns.Addr())
	return ns, nil
}

// brokerFlags are the flags broker and standalone share.
type brokerFlags struct {
	conf, namesrv, listen, data string
}

func (f *brokerFlags) addConfigFlag(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.conf, "config", "c", "", "broker.conf (RocketMQ property names)")
}

// load reads the config file, if any, without the flag overrides.
func (f *brokerFlags) load() (config.Config, error) {
	if f.conf == "" {
		return config.Default(), nil
	}
	return config.Load(f.conf, logger())
}

// apply sets the flags that were given over cfg and validates it.
func (f *brokerFlags) apply(cfg config.Config) (config.Config, error) {
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

// serveBroker runs a broker until ctx ends.
func serveBroker(ctx context.Context, cfg config.Config) error {
	b, err := broker.New(cfg, broker.WithLogger(logger()))
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		b.Close()
		return err
	}
	logger().Info("broker serving", "addr", b.Addr(), "data", cfg.StorePathRootDir)
	<-ctx.Done()
	return b.Close()
}

func newBroker() *cobra.Command {
	f := &brokerFlags{}
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "run a broker",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd)
			defer stop()
			cfg, err := f.load()
			if err != nil {
				return err
			}
			if cfg, err = f.apply(cfg); err != nil {
				return err
			}
			return serveBroker(ctx, cfg)
		},
	}
	f.addConfigFlag(cmd)
	cmd.Flags().StringVarP(&f.namesrv, "namesrv", "n", "", "name servers, HOST:PORT[;HOST:PORT...]")
	cmd.Flags().StringVar(&f.listen, "listen", "", "address to listen on (default 0.0.0.0:listenPort)")
	cmd.Flags().StringVar(&f.data, "data", "", "data directory (storePathRootDir)")
	return cmd
}

func newStandalone() *cobra.Command {
	f := &brokerFlags{data: "./wharf-data"}
	df := &dashboardFlags{listen: dashboard.DefaultListen}
	nsListen := defaultNamesrvListen
	cmd := &cobra.Command{
		Use:   "standalone",
		Short: "run a name server and a broker in one process (127.0.0.1:9876 and 127.0.0.1:10911 by default)",
		Long: `Run a name server and a broker in one process. The broker registers with
the embedded name server only (a namesrvAddr in broker.conf is ignored).
Without --listen the broker listens on 127.0.0.1 at broker.conf's listenPort
(10911 by default). SIGINT or SIGTERM stop the broker, then the name server;
SIGHUP is logged and ignored. The web dashboard (read-only unless
--dashboard-admin) serves on 127.0.0.1:8080; the start log prints its URL.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd)
			defer stop()
			cfg, err := f.load()
			if err != nil {
				return err
			}
			if f.listen == "" {
				// Loopback only unless asked: standalone is for one machine.
				f.listen = defaultBrokerListen
				if f.conf != "" {
					f.listen = "127.0.0.1:" + strconv.Itoa(cfg.ListenPort)
				}
			}
			ns, err := startNamesrv(nsListen)
			if err != nil {
				return err
			}
			f.namesrv = ns.Addr()
			if cfg, err = f.apply(cfg); err != nil {
				return errors.Join(err, ns.Close())
			}
			var dash *dashboard.Server
			if df.listen != "" && df.listen != "off" {
				dash, err = startDashboard(df.options(ns.Addr()))
				if err != nil && cmd.Flags().Changed("dashboard") {
					return errors.Join(err, ns.Close())
				}
				if err != nil {
					// The default port taken (another standalone?) must not
					// stop the broker: the dashboard is an extra.
					logger().Warn("dashboard not started; --dashboard ADDR moves it, --dashboard off silences this", "err", err)
				}
			}
			// The broker first: it unregisters from the name server.
			err = serveBroker(ctx, cfg)
			if dash != nil {
				err = errors.Join(err, dash.Close())
			}
			return errors.Join(err, ns.Close())
		},
	}
	f.addConfigFlag(cmd)
	cmd.Flags().StringVar(&df.listen, "dashboard", df.listen, `web dashboard address ("off": none)`)
	cmd.Flags().BoolVar(&df.admin, "dashboard-admin", false, "let the dashboard change the cluster (create and delete topics, reset offsets, resend dead letters)")
	cmd.Flags().StringSliceVar(&df.allowHosts, "dashboard-allow-host", nil, "host names the dashboard answers to besides IP addresses, localhost and this machine's name")
	cmd.Flags().StringVar(&f.data, "data", f.data, "data directory (storePathRootDir)")
	cmd.Flags().StringVar(&f.listen, "listen", "", "broker address (default "+defaultBrokerListen+", or 127.0.0.1:listenPort with -c)")
	cmd.Flags().StringVar(&nsListen, "namesrv-listen", nsListen, "name server address")
	return cmd
}
