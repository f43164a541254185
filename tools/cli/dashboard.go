package cli

import (
	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/tools/admin"
	"github.com/wharfmq/wharf/tools/dashboard"
)

// dashboardFlags are the flags `wharf dashboard` and `wharf standalone`
// share (standalone prefixes them with "dashboard").
type dashboardFlags struct {
	listen     string
	admin      bool
	allowHosts []string
}

func (f *dashboardFlags) options(namesrv string) dashboard.Options {
	return dashboard.Options{Listen: f.listen, Namesrv: namesrv, Admin: f.admin, AllowHosts: f.allowHosts, Logger: logger()}
}

// startDashboard starts the dashboard and logs its URL.
func startDashboard(opts dashboard.Options) (*dashboard.Server, error) {
	d, err := dashboard.New(opts)
	if err != nil {
		return nil, err
	}
	mode := "read-only"
	if opts.Admin {
		mode = "admin"
	}
	logger().Info("dashboard serving", "url", d.URL(), "mode", mode, "namesrv", opts.Namesrv, "addr", d.Addr())
	return d, nil
}

func newDashboard() *cobra.Command {
	f := &dashboardFlags{listen: dashboard.DefaultListen}
	namesrv := admin.DefaultNamesrv
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "serve the web dashboard for a cluster (127.0.0.1:8080 by default)",
		Long: `Serve the web dashboard: cluster, topics, consumer groups and their lag,
producers, message query and dead-letter queues of the brokers the name
servers know. Read-only unless --admin: then topics can be created and
deleted, offsets reset and dead-lettered messages resent. It listens on
loopback unless --listen says otherwise; a page reached under a host name
must list it with --allow-host.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext(cmd)
			defer stop()
			d, err := startDashboard(f.options(namesrv))
			if err != nil {
				return err
			}
			<-ctx.Done()
			return d.Close()
		},
	}
	cmd.Flags().StringVar(&f.listen, "listen", f.listen, "HTTP address to serve on")
	cmd.Flags().StringVarP(&namesrv, "namesrv", "n", namesrv, "name servers, HOST:PORT[;HOST:PORT...]")
	cmd.Flags().BoolVar(&f.admin, "admin", false, "allow changes: create and delete topics, reset offsets, resend dead letters")
	cmd.Flags().StringSliceVar(&f.allowHosts, "allow-host", nil, "host names the dashboard answers to besides IP addresses, localhost and this machine's name")
	return cmd
}
