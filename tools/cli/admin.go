package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/tools/admin"
)

// adminFlags are the flags every `wharf admin` subcommand shares.
type adminFlags struct {
	namesrv string
	timeout time.Duration
	json    bool
}

// run opens a client, runs fn with a context ended by SIGINT/SIGTERM, and
// closes the client.
func (f *adminFlags) run(cmd *cobra.Command, fn func(ctx context.Context, c *admin.Client) error) error {
	ctx, stop := signalContext(cmd)
	defer stop()
	c := admin.New(admin.Options{Namesrv: f.namesrv, Timeout: f.timeout})
	defer c.Close()
	return fn(ctx, c)
}

// print writes v as indented JSON when --json is set, else calls table
// with a tab writer it flushes afterwards (a Flush inside table ends one
// table's column layout and starts the next).
func (f *adminFlags) print(cmd *cobra.Command, v any, table func(w *tabwriter.Writer)) error {
	out := cmd.OutOrStdout()
	if f.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

func newAdmin() *cobra.Command {
	f := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "inspect and change a running name server and its brokers (like RocketMQ's mqadmin)",
		Long: `Admin requests over the remoting protocol, to a name server (-n) and the
brokers it knows, or to one broker (-b) where a subcommand takes it.
Tables by default, --json for machine-readable output. Exit status 1 on
any error (server unreachable, unknown topic, nothing found).`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVarP(&f.namesrv, "namesrv", "n", admin.DefaultNamesrv, "name servers, HOST:PORT[;HOST:PORT...]")
	pf.DurationVar(&f.timeout, "timeout", admin.DefaultTimeout, "timeout of each request")
	pf.BoolVar(&f.json, "json", false, "print JSON")
	cmd.AddCommand(newAdminTopic(f), newAdminCluster(f), newAdminGroup(f), newAdminMessage(f), newAdminBroker(f), newAdminController(f), newAdminProducer(f))
	return cmd
}

func newAdminCluster(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "clusters and their brokers"}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "list every broker the name server knows, by cluster (GET_BROKER_CLUSTER_INFO)",
		Long: `List every broker the name server knows, by cluster and broker name: the
master (ID 0, ROLE MASTER) and its slaves (ID above 0, ROLE SLAVE). A broker
name whose master is gone (its connection closed, or it expired) lists only
its slaves, with ROLE "SLAVE (no master)": its queues stay readable there,
and no producer sends to it until a master registers again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(ctx context.Context, c *admin.Client) error {
				ci, err := c.ClusterInfo(ctx)
				if err != nil {
					return err
				}
				type row struct {
					Cluster  string `json:"cluster"`
					Broker   string `json:"brokerName"`
					BrokerID int64  `json:"brokerId"`
					Role     string `json:"role"`
					Addr     string `json:"addr"`
				}
				var rows []row
				for _, cl := range sortedKeys(ci.ClusterAddrTable) {
					for _, name := range ci.ClusterAddrTable[cl] {
						addrs := ci.BrokerAddrTable[name].BrokerAddrs
						ids := make([]int64, 0, len(addrs))
						for id := range addrs {
							ids = append(ids, id)
						}
						slices.Sort(ids)
						_, hasMaster := addrs[0]
						for _, id := range ids {
							rows = append(rows, row{cl, name, id, roleOf(id, hasMaster), addrs[id]})
						}
					}
				}
				return f.print(cmd, rows, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "CLUSTER\tBROKER\tID\tROLE\tADDR")
					for _, r := range rows {
						fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", r.Cluster, r.Broker, r.BrokerID, r.Role, r.Addr)
					}
				})
			})
		},
	})
	cmd.AddCommand(newClusterRT(f))
	return cmd
}

// roleOf names a broker id's role as the name server implies it: id 0 is
// the master, any other a slave (RocketMQ's MixAll.MASTER_ID).
func roleOf(id int64, hasMaster bool) string {
	switch {
	case id == 0:
		return "MASTER"
	case hasMaster:
		return "SLAVE"
	default:
		return "SLAVE (no master)"
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// permString renders topic permission bits as mqadmin prints them.
func permString(p int) string {
	var b strings.Builder
	for _, bit := range []struct {
		v int
		c byte
	}{{0x4, 'R'}, {0x2, 'W'}, {0x1, 'X'}} {
		if p&bit.v != 0 {
			b.WriteByte(bit.c)
		} else {
			b.WriteByte('-')
		}
	}
	return fmt.Sprintf("%s(%d)", b.String(), p)
}

// fmtTime renders a ms timestamp; -1 and 0 mean none.
func fmtTime(ms int64) string {
	if ms <= 0 {
		return "-"
	}
	return time.UnixMilli(ms).Format("2006-01-02 15:04:05.000")
}

// preview renders a body prefix: quoted text when it is UTF-8, else hex.
func preview(b []byte, total int) string {
	s := ""
	if utf8.Valid(b) {
		s = fmt.Sprintf("%q", b)
	} else {
		s = fmt.Sprintf("hex:%x", b)
	}
	if len(b) < total {
		s += fmt.Sprintf(" ... (%d of %d bytes)", len(b), total)
	}
	return s
}
