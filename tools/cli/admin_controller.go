package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wharfmq/wharf/controller/api"
	"github.com/wharfmq/wharf/controller/client"
	"github.com/wharfmq/wharf/remoting"
)

// controllerFlags add the controller addresses to the admin flags.
type controllerFlags struct {
	*adminFlags
	addrs string
}

// list returns the controller addresses: -a, else the name servers (an
// embedded controller answers on the name server's port).
func (f *controllerFlags) list() []string {
	s := f.addrs
	if s == "" {
		s = f.namesrv
	}
	var out []string
	for _, a := range strings.Split(s, ";") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// run opens a remoting client for fn and closes it after.
func (f *controllerFlags) run(cmd *cobra.Command, fn func(ctx context.Context, rc *remoting.Client) error) error {
	ctx, stop := signalContext(cmd)
	defer stop()
	rc := remoting.NewClient(remoting.ClientOptions{Logger: slog.New(slog.DiscardHandler), DialTimeout: f.timeout})
	defer rc.Close()
	return fn(ctx, rc)
}

// leader finds the leader among the controllers.
func (f *controllerFlags) leader(ctx context.Context, rc *remoting.Client) (string, error) {
	return client.FindLeader(ctx, rc, f.list(), f.timeout)
}

func (f *controllerFlags) timed(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, f.timeout)
}

func newAdminController(af *adminFlags) *cobra.Command {
	f := &controllerFlags{adminFlags: af}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "the controllers that elect masters (status, sync-state, elect, config)",
		Long: `Requests to the controllers of a failover deployment. -a lists the
controllers (their peer addresses, or the name servers that embed them);
without -a the name servers of -n are asked.`,
	}
	cmd.PersistentFlags().StringVarP(&f.addrs, "controller", "a", "", "controllers, HOST:PORT[;HOST:PORT...] (default: the -n name servers)")
	cmd.AddCommand(newControllerStatus(f), newControllerSyncState(f), newControllerElect(f), newControllerConfig(f))
	return cmd
}

// controllerStatus is one controller's answer to GET_METADATA_INFO.
type controllerStatus struct {
	Addr     string `json:"addr"`
	Error    string `json:"error,omitempty"`
	Group    string `json:"group,omitempty"`
	IsLeader bool   `json:"isLeader"`
	LeaderID string `json:"leaderId,omitempty"`
	Leader   string `json:"leaderAddr,omitempty"`
	Peers    string `json:"peers,omitempty"`
}

func newControllerStatus(f *controllerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "ask each controller who leads (CONTROLLER_GET_METADATA_INFO)",
		Long: `Ask each controller who leads. One line per controller: whether it is the
leader, the leader it knows, and the peers. No leader anywhere means a
majority of the controllers is down: masters keep serving but none can be
replaced until a majority returns. Exit status 1 if no controller answers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(ctx context.Context, rc *remoting.Client) error {
				var rows []controllerStatus
				answered, leader := 0, ""
				for _, a := range f.list() {
					tctx, cancel := f.timed(ctx)
					md, err := client.GetMetadata(tctx, rc, a)
					cancel()
					row := controllerStatus{Addr: a}
					if err != nil {
						row.Error = err.Error()
					} else {
						answered++
						row.Group, row.IsLeader, row.LeaderID, row.Leader, row.Peers =
							md.Group, md.IsLeader, md.ControllerLeaderID, md.ControllerLeaderAddress, md.Peers
						if md.ControllerLeaderAddress != "" {
							leader = md.ControllerLeaderAddress
						}
					}
					rows = append(rows, row)
				}
				err := f.print(cmd, rows, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "CONTROLLER\tLEADER?\tKNOWN LEADER\tPEERS\tERROR")
					for _, r := range rows {
						known := "-"
						if r.Leader != "" {
							known = r.LeaderID + " " + r.Leader
						}
						fmt.Fprintf(w, "%s\t%v\t%s\t%s\t%s\n", r.Addr, r.IsLeader, known, r.Peers, r.Error)
					}
					if answered > 0 && leader == "" {
						fmt.Fprintln(w, "no leader: a majority of the controllers is unreachable; masters cannot be replaced now")
					}
				})
				if err == nil && answered == 0 {
					err = errors.New("no controller answered")
				}
				return err
			})
		},
	}
}

func newControllerSyncState(f *controllerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "sync-state [BROKERNAME...]",
		Short: "replicas, master, epochs and SyncStateSet of broker names (CONTROLLER_GET_SYNC_STATE_DATA)",
		Long: `Print, for each broker name (all of them if none is given), the master
(controller id and address), the master epoch, the SyncStateSet epoch, and
every replica with whether it is in the SyncStateSet and alive (heartbeats
reach the leader).`,
		RunE: func(cmd *cobra.Command, names []string) error {
			return f.run(cmd, func(ctx context.Context, rc *remoting.Client) error {
				leader, err := f.leader(ctx, rc)
				if err != nil {
					return err
				}
				tctx, cancel := f.timed(ctx)
				defer cancel()
				info, err := client.GetSyncStateData(tctx, rc, leader, names)
				if err != nil {
					return err
				}
				for _, n := range names {
					if _, ok := info.ReplicasInfoTable[n]; !ok {
						return fmt.Errorf("broker name %s is not known to the controller", n)
					}
				}
				return f.print(cmd, info.ReplicasInfoTable, func(w *tabwriter.Writer) {
					keys := make([]string, 0, len(info.ReplicasInfoTable))
					for k := range info.ReplicasInfoTable {
						keys = append(keys, k)
					}
					slices.Sort(keys)
					for _, n := range keys {
						ri := info.ReplicasInfoTable[n]
						master := "none"
						if ri.MasterBrokerID != api.NoMaster {
							master = fmt.Sprintf("%d %s", ri.MasterBrokerID, ri.MasterAddress)
						}
						fmt.Fprintf(w, "%s\tmaster %s\tmasterEpoch %d\tsyncStateSetEpoch %d\n", n, master, ri.MasterEpoch, ri.SyncStateSetEpoch)
						fmt.Fprintln(w, "  ID\tADDRESS\tIN SYNC\tALIVE")
						reps := append(slices.Clone(ri.InSyncReplicas), ri.NotInSyncReplicas...)
						slices.SortFunc(reps, func(a, b api.ReplicaIdentity) int { return int(a.BrokerID - b.BrokerID) })
						for _, r := range reps {
							in := slices.ContainsFunc(ri.InSyncReplicas, func(x api.ReplicaIdentity) bool { return x.BrokerID == r.BrokerID })
							fmt.Fprintf(w, "  %d\t%s\t%v\t%v\n", r.BrokerID, r.BrokerAddress, in, r.Alive)
						}
					}
				})
			})
		},
	}
}

// electResult is what `controller elect` prints.
type electResult struct {
	BrokerName        string  `json:"brokerName"`
	Result            string  `json:"result"`
	MasterBrokerID    int64   `json:"masterBrokerId"`
	MasterAddress     string  `json:"masterAddress"`
	MasterEpoch       int32   `json:"masterEpoch"`
	SyncStateSetEpoch int32   `json:"syncStateSetEpoch"`
	SyncStateSet      []int64 `json:"syncStateSet"`
}

func newControllerConfig(f *controllerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "print each controller's configuration (GET_CONTROLLER_CONFIG, like mqadmin getControllerConfig)",
		Long: `Print each controller's configuration as properties, under a "# ADDR" line.
A controller reads its file at start; to change a value, edit the file and
restart the controllers one at a time. Exit status 1 if any does not answer.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(ctx context.Context, rc *remoting.Client) error {
				var failed []string
				for _, a := range f.list() {
					tctx, cancel := f.timed(ctx)
					body, err := client.GetConfig(tctx, rc, a)
					cancel()
					fmt.Fprintf(cmd.OutOrStdout(), "# %s\n", a)
					if err != nil {
						fmt.Fprintf(cmd.OutOrStdout(), "# error: %v\n", err)
						failed = append(failed, a)
						continue
					}
					cmd.OutOrStdout().Write(body)
				}
				if len(failed) > 0 {
					return fmt.Errorf("no configuration from %s", strings.Join(failed, ", "))
				}
				return nil
			})
		},
	}
}

func newControllerElect(f *controllerFlags) *cobra.Command {
	var brokerID int64
	var cluster string
	cmd := &cobra.Command{
		Use:   "elect BROKERNAME [--broker-id N]",
		Short: "elect a master for a broker name (CONTROLLER_ELECT_MASTER)",
		Long: `Ask the leader to elect a master for BROKERNAME. With --broker-id, that
replica is made master if it is alive and in the SyncStateSet; it is refused
while the current master may still hold its lease (Wharf's fencing: the old
master must first stop, or lose its lease). Without it, the controller keeps
an alive master or elects the best in-sync replica.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(ctx context.Context, rc *remoting.Client) error {
				leader, err := f.leader(ctx, rc)
				if err != nil {
					return err
				}
				req := api.ElectMasterRequest{ClusterName: cluster, BrokerName: args[0], BrokerID: api.ControllerTriggered}
				if cmd.Flags().Changed("broker-id") {
					req.BrokerID, req.DesignateElect = brokerID, true
				}
				tctx, cancel := f.timed(ctx)
				defer cancel()
				mi, body, code, err := client.ElectMaster(tctx, rc, leader, req)
				if err != nil {
					return err
				}
				res := electResult{BrokerName: args[0], Result: "elected", MasterBrokerID: mi.MasterBrokerID,
					MasterAddress: mi.MasterAddress, MasterEpoch: mi.MasterEpoch, SyncStateSetEpoch: mi.SyncStateSetEpoch,
					SyncStateSet: body.SyncStateSet}
				if code == api.RespMasterStillExist {
					res.Result = "unchanged (the master is alive)"
				}
				return f.print(cmd, res, func(w *tabwriter.Writer) {
					fmt.Fprintf(w, "%s\t%s: master %d %s, masterEpoch %d, syncStateSetEpoch %d, syncStateSet %v\n",
						res.BrokerName, res.Result, res.MasterBrokerID, res.MasterAddress, res.MasterEpoch, res.SyncStateSetEpoch, res.SyncStateSet)
				})
			})
		},
	}
	cmd.Flags().Int64Var(&brokerID, "broker-id", 0, "the replica (controller id) to make master")
	cmd.Flags().StringVar(&cluster, "cluster", "", "cluster name (informational)")
	return cmd
}
