package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/tools/bench"
)

// newBench is `wharf bench produce|consume`, the end-to-end load generator
// of tools/bench.
func newBench() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "load a broker end to end and report throughput, latency and CPU",
	}
	cmd.AddCommand(newBenchProduce(), newBenchConsume())
	return cmd
}

// addCommonFlags binds the flags produce and consume share; the
// credentials it returns are resolved into c by withCredentials.
func addCommonFlags(cmd *cobra.Command, c *bench.Common) *credentialFlags {
	f := cmd.Flags()
	creds := &credentialFlags{}
	creds.add(f)
	f.StringVarP(&c.Namesrv, "namesrv", "n", bench.DefaultNamesrv, "name server to ask for the route")
	f.StringVarP(&c.Broker, "broker", "b", "", "broker HOST:PORT to use directly (skips the name server)")
	f.StringVarP(&c.Topic, "topic", "t", "BenchTopic", "topic")
	f.IntVar(&c.Queues, "queues", 8, "queues of the topic when it has to be created")
	f.IntVar(&c.Conc, "conc", c.Conc, "connections (producers or consumers)")
	f.IntVar(&c.Window, "window", c.Window, "requests in flight per connection (async, batch, consume)")
	f.StringVar(&c.Header, "header", "json", "request header serialization: json or rocketmq")
	f.Int64Var(&c.Count, "count", 0, "stop after this many messages")
	f.DurationVar(&c.Duration, "duration", 0, "stop after this long (produce: 10s when --count is not given; consume: read all stored)")
	f.DurationVar(&c.Stall, "stall", bench.DefaultStall, "abort when no request completes for this long")
	f.IntVar(&c.BrokerPID, "broker-pid", 0, "broker process to report CPU of (0: the one listening on the broker port, -1: none)")
	return creds
}

// withCredentials sets c's account from the flags or the environment.
func withCredentials(c *bench.Common, creds *credentialFlags) error {
	var err error
	c.AccessKey, c.SecretKey, err = creds.resolve()
	return err
}

// addTLSFlags binds --tls and --tls-trust to c.TLS, resolved before the
// run (after the PreRunE already set).
func addTLSFlags(cmd *cobra.Command, c *bench.Common) {
	var tf tlsFlags
	tf.add(cmd.Flags())
	prev := cmd.PreRunE
	cmd.PreRunE = func(cmd *cobra.Command, args []string) (err error) {
		if c.TLS, err = tf.config(); err != nil {
			return err
		}
		if prev != nil {
			return prev(cmd, args)
		}
		return nil
	}
}

// benchContext ends at SIGINT or SIGTERM.
func benchContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}

// addProgressFlag binds --quiet to the progress writer of c, and
// --cpuprofile to a CPU profile of the run.
func addProgressFlag(cmd *cobra.Command, c *bench.Common) {
	quiet := cmd.Flags().Bool("quiet", false, "no progress lines on stderr")
	profile := cmd.Flags().String("cpuprofile", "", "write a CPU profile of the client to this file")
	var f *os.File
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if !*quiet {
			c.Progress = os.Stderr
		}
		if *profile == "" {
			return nil
		}
		var err error
		if f, err = os.Create(*profile); err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("cpuprofile: %w", err)
		}
		return nil
	}
	cmd.PostRunE = func(*cobra.Command, []string) error {
		if f == nil {
			return nil
		}
		pprof.StopCPUProfile()
		return f.Close()
	}
}

func newBenchProduce() *cobra.Command {
	cfg := bench.ProduceConfig{Common: bench.Common{Conc: bench.DefaultConc, Window: bench.DefaultWindow}}
	var creds *credentialFlags
	asJSON := new(bool)
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "send messages (sync, async or batch) and report msgs/s, MB/s and latency",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := withCredentials(&cfg.Common, creds); err != nil {
				return err
			}
			ctx, stop := benchContext(cmd)
			defer stop()
			if !*asJSON {
				_, err := bench.RunProduce(ctx, cfg, cmd.OutOrStdout())
				return quietFailures(cmd, err)
			}
			res, err := bench.RunProduce(ctx, cfg, io.Discard)
			return quietFailures(cmd, errors.Join(writeBenchJSON(cmd.OutOrStdout(), res, err), err))
		},
	}
	creds = addCommonFlags(cmd, &cfg.Common)
	addProgressFlag(cmd, &cfg.Common)
	addTLSFlags(cmd, &cfg.Common)
	f := cmd.Flags()
	f.BoolVar(asJSON, "json", false, "print the summary as JSON instead of the key=value line")
	f.IntVar(&cfg.Size, "size", bench.DefaultSize, "message body size in bytes")
	f.StringVar(&cfg.Mode, "mode", bench.ModeSync, "sync, async or batch")
	f.IntVar(&cfg.Batch, "batch", bench.DefaultBatch, "messages per SEND_BATCH_MESSAGE (batch mode)")
	f.StringVar(&cfg.Group, "group", bench.DefaultGroup, "producer group")
	return cmd
}

func newBenchConsume() *cobra.Command {
	cfg := bench.ConsumeConfig{Common: bench.Common{Conc: bench.DefaultConsumeConc, Window: bench.DefaultPullWindow}}
	var creds *credentialFlags
	asJSON := new(bool)
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "pull every queue from an offset up to what was stored at start and report msgs/s and MB/s",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := withCredentials(&cfg.Common, creds); err != nil {
				return err
			}
			ctx, stop := benchContext(cmd)
			defer stop()
			if !*asJSON {
				_, err := bench.RunConsume(ctx, cfg, cmd.OutOrStdout())
				return quietFailures(cmd, err)
			}
			res, err := bench.RunConsume(ctx, cfg, io.Discard)
			return quietFailures(cmd, errors.Join(writeBenchJSON(cmd.OutOrStdout(), res, err), err))
		},
	}
	creds = addCommonFlags(cmd, &cfg.Common)
	addProgressFlag(cmd, &cfg.Common)
	addTLSFlags(cmd, &cfg.Common)
	f := cmd.Flags()
	f.BoolVar(asJSON, "json", false, "print the summary as JSON instead of the key=value line")
	f.StringVar(&cfg.Group, "group", bench.DefaultConsumeGroup, "consumer group named in pulls")
	f.Int64Var(&cfg.FromOffset, "from-offset", 0, "offset to read every queue from")
	f.IntVar(&cfg.PullBatch, "pull-batch", bench.DefaultPullBatch, "maxMsgNums per pull")
	return cmd
}

// quietFailures keeps cobra from printing usage for a run that worked but
// saw failed requests; the summary line already tells them.
func quietFailures(cmd *cobra.Command, err error) error {
	if errors.Is(err, bench.ErrFailures) {
		cmd.SilenceUsage = true
	}
	return err
}
