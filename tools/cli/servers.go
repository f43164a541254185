package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/broker"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/controller"
	"github.com/wharfmq/wharf/internal/wiretls"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/tools/dashboard"
)

// Default addresses of `wharf standalone` (and the name server's default).
const (
	defaultNamesrvListen = "127.0.0.1:9876"
	defaultBrokerListen  = "127.0.0.1:10911"
	defaultMetricsListen = "127.0.0.1:5557"
)

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
	var conf, aclFile, metrics string
	cmd := &cobra.Command{
		Use:   "namesrv",
		Short: "run a name server",
		Long: `Run a name server. With -c, a namesrv.conf that sets
enableControllerInNamesrv=true (and controllerDLegerPeers,
controllerDLegerSelfId, controllerStorePath) also runs a controller: it
answers controller requests on the name server's port and on its peer port.
The file's tls.* keys (tls.server.mode, tls.server.certPath, ...; see the
README's TLS section) set TLS on the name server's port.
metricsExporterType=PROM in namesrv.conf (with metricsPromExporterHost and
metricsPromExporterPort, default 5557), or --metrics, serves Prometheus
/metrics, /healthz and /readyz.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd)
			defer stop()
			var hosted nameserver.Hosted
			var ts wiretls.Settings
			if conf != "" {
				props, err := readConf(conf, logger())
				if err != nil {
					return err
				}
				if !cmd.Flags().Changed("metrics") {
					if metrics, err = metricsAddr(conf, props); err != nil {
						return err
					}
				}
				if err := applyTLSKeys(conf, props, &ts); err != nil {
					return err
				}
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
			ns, err := startNamesrvWith(nameserver.Options{Listen: listen, Hosted: hosted, MetricsAddr: metrics, ACLFile: aclFile}, ts)
			if err != nil {
				return err
			}
			<-ctx.Done()
			return ns.Close()
		},
	}
	cmd.Flags().StringVar(&listen, "listen", listen, "address to listen on")
	cmd.Flags().StringVarP(&conf, "config", "c", "", "namesrv.conf (RocketMQ property names; the controller, TLS and metrics keys are read)")
	cmd.Flags().StringVar(&aclFile, "acl-file", "", "plain_acl.yml: turns ACL on (admin requests need an admin account, broker registration a signed one)")
	cmd.Flags().StringVar(&metrics, "metrics", "", "serve /metrics, /healthz and /readyz on HOST:PORT (default off, or as namesrv.conf says)")
	return cmd
}

// startNamesrvWith starts a name server with o, its port served with
// TLS as ts says.
func startNamesrvWith(o nameserver.Options, ts wiretls.Settings) (*nameserver.Server, error) {
	gate, err := namesrvTLS(ts)
	if err != nil {
		return nil, fmt.Errorf("name server: %w", err)
	}
	if gate != nil {
		o.WrapListener = gate.Listen
	}
	o.Logger = logger()
	ns, err := nameserver.New(o)
	if err != nil {
		return nil, fmt.Errorf("name server: %w", err)
	}
	if err := ns.Start(); err != nil {
		ns.Close()
		return nil, fmt.Errorf("name server on %s: %w", o.Listen, err)
	}
	if m := ns.MetricsAddr(); m != "" {
		logger().Info("name server serving", "addr", ns.Addr(), "metrics", "http://"+m+"/metrics")
	} else {
		logger().Info("name server serving", "addr", ns.Addr())
	}
	return ns, nil
}

// namesrvTLS reads tls.config.file, if named, and returns the port's
// gatekeeper, nil when TLS is off.
func namesrvTLS(ts wiretls.Settings) (*wiretls.Server, error) {
	if err := ts.LoadConfigFile(); err != nil {
		return nil, err
	}
	if ts.Mode == wiretls.Disabled {
		return nil, nil
	}
	cfg, err := ts.ServerConfig()
	if err != nil {
		return nil, err
	}
	return wiretls.NewServer(ts.Mode, cfg, "namesrv", logger())
}

// metricsAddr reads RocketMQ 5's metrics keys from the properties of a
// file (namesrv.conf, at path): metricsExporterType=PROM turns the
// listener on at metricsPromExporterHost (default all interfaces) and
// metricsPromExporterPort (default 5557). It returns "" when off.
func metricsAddr(path string, props map[string]string) (string, error) {
	switch t := strings.ToUpper(props["metricsExporterType"]); t {
	case "", config.MetricsDisable:
		return "", nil
	case config.MetricsProm:
	default:
		return "", fmt.Errorf("%s: metricsExporterType %q is not supported (want %s or %s)", path, t, config.MetricsProm, config.MetricsDisable)
	}
	port := strconv.Itoa(config.DefaultMetricsPromExporterPort)
	if p := props["metricsPromExporterPort"]; p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
			return "", fmt.Errorf("%s: metricsPromExporterPort %q is not a port", path, p)
		}
		port = p
	}
	return net.JoinHostPort(props["metricsPromExporterHost"], port), nil
}

// applyTLSKeys sets the tls.* keys among props (namesrv.conf, at path)
// on s, in key order; other keys are not its business.
func applyTLSKeys(path string, props map[string]string, s *wiretls.Settings) error {
	for _, k := range slices.Sorted(maps.Keys(props)) {
		if _, err := s.Set(k, props[k]); err != nil {
			return fmt.Errorf("%s: %s=%q: %w", path, k, props[k], err)
		}
	}
	return nil
}

// namesrvMetricsKeys are the keys of namesrv.conf that metricsAddr reads.
var namesrvMetricsKeys = []string{"metricsExporterType", "metricsPromExporterHost", "metricsPromExporterPort"}

// isNamesrvKey reports whether the name server reads key from its
// namesrv.conf: a controller key, a tls.* key or a metrics key.
func isNamesrvKey(key string) bool {
	return controller.IsConfigKey(key) || wiretls.IsTLSKey(key) || slices.Contains(namesrvMetricsKeys, key)
}

// readConf reads a properties file (namesrv.conf) once, as broker.conf is
// read (Java's format, escapes included), and warns once about each key
// the name server does not read, naming its line, as the broker does.
func readConf(path string, logger *slog.Logger) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	props := map[string]string{}
	unknown := config.NewUnknownKeys("namesrv.conf", logger)
	err = config.ReadPropertiesFunc(f, func(lineNo int, key, value string) error {
		if !isNamesrvKey(key) {
			unknown.Report(lineNo, key)
		}
		props[key] = value // a later key replaces an earlier one
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return props, nil
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
	if err := cfg.Validate(); err != nil {
		if f.conf != "" {
			// Name the file: most of what Validate refuses comes from it.
			return cfg, fmt.Errorf("config %s: %w", f.conf, err)
		}
		return cfg, err
	}
	return cfg, nil
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
	if m := b.MetricsAddr(); m != "" {
		logger().Info("broker serving", "addr", b.Addr(), "data", cfg.StorePathRootDir,
			"metrics", "http://"+m+"/metrics", "readyz", "http://"+m+"/readyz")
	} else {
		logger().Info("broker serving", "addr", b.Addr(), "data", cfg.StorePathRootDir)
	}
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
	metrics, nsMetrics := defaultMetricsListen, ""
	cmd := &cobra.Command{
		Use:   "standalone",
		Short: "run a name server and a broker in one process (127.0.0.1:9876 and 127.0.0.1:10911 by default)",
		Long: `Run a name server and a broker in one process. The broker registers with
the embedded name server only (a namesrvAddr in broker.conf is ignored).
Without --listen the broker listens on 127.0.0.1 at broker.conf's listenPort
(10911 by default). The broker's Prometheus /metrics, /healthz and /readyz
are served on --metrics (` + defaultMetricsListen + ` by default; "off" turns
them off), the name server's on --namesrv-metrics (off by default). The web
dashboard (read-only unless --dashboard-admin) serves on 127.0.0.1:8080; the
start log prints both URLs. SIGINT or SIGTERM stop the broker, then the name
server; SIGHUP is logged and ignored.`,
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
			// With aclEnable the embedded name server takes the same
			// plain_acl.yml, and the broker must sign its registration.
			var aclFile string
			if cfg.AclEnable {
				if cfg.AccessKey == "" {
					return errors.New("standalone with aclEnable=true: set accessKey and secretKey in broker.conf " +
						"(an account of " + cfg.AclFile + ") so the broker can register with the embedded name server")
				}
				aclFile = cfg.AclFile
			}
			if metrics == "off" {
				metrics = ""
			}
			if nsMetrics == "off" {
				nsMetrics = ""
			}
			if metrics != "" && !cmd.Flags().Changed("metrics") {
				// The default port taken (another standalone?) must not
				// stop the broker: metrics are an extra, as the dashboard.
				if ln, err := net.Listen("tcp", metrics); err != nil {
					logger().Warn("metrics not served; --metrics ADDR moves them, --metrics off silences this", "err", err)
					metrics = ""
				} else {
					ln.Close()
				}
			}
			if metrics != "" {
				host, port, err := net.SplitHostPort(metrics)
				if err != nil {
					return fmt.Errorf("--metrics %q: %w", metrics, err)
				}
				if cfg.MetricsPromExporterPort, err = strconv.Atoi(port); err != nil {
					return fmt.Errorf("--metrics %q: port: %w", metrics, err)
				}
				cfg.MetricsExporterType, cfg.MetricsPromExporterHost = config.MetricsProm, host
			} else {
				cfg.MetricsExporterType = config.MetricsDisable
			}
			// The embedded name server serves broker.conf's TLS mode too.
			ns, err := startNamesrvWith(nameserver.Options{Listen: nsListen, MetricsAddr: nsMetrics, ACLFile: aclFile}, cfg.TLS)
			if err != nil {
				return err
			}
			f.namesrv = ns.Addr()
			if cfg, err = f.apply(cfg); err != nil {
				return errors.Join(err, ns.Close())
			}
			var dash *dashboard.Server
			if df.listen != "" && df.listen != "off" {
				// It reaches the broker as the broker's own account and
				// with its outgoing TLS settings.
				opts := df.options(ns.Addr())
				opts.AccessKey, opts.SecretKey = cfg.AccessKey, cfg.SecretKey
				if opts.TLS, err = cfg.TLS.ClientConfig(); err != nil {
					return errors.Join(err, ns.Close())
				}
				dash, err = startDashboard(opts)
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
	cmd.Flags().StringVar(&metrics, "metrics", metrics, `broker metrics, health and readiness address ("off": none)`)
	cmd.Flags().StringVar(&nsMetrics, "namesrv-metrics", "", `name server metrics address (default none)`)
	return cmd
}
