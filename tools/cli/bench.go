package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync/atomic"
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

// benchProgress is bench's progress bar: the bench's own progress loop
// (the one that also detects stalls) hands it a snapshot every
// progressEvery through Common.OnTick; the bar is drawn from those. It is
// the only progress bench shows.
type benchProgress struct {
	pf    progressFlag
	quiet bool
	show  bool
	msgs  atomic.Int64
	bytes atomic.Int64
}

// run draws the bar on stderr while fn runs, with total bytes if known.
func (p *benchProgress) run(cmd *cobra.Command, c *bench.Common, op string, total int64, fn func() (bench.Result, error)) (bench.Result, error) {
	if !p.show {
		return fn()
	}
	c.ProgressInterval = progressEvery
	c.OnTick = func(t bench.Tick) {
		p.msgs.Store(t.Msgs)
		p.bytes.Store(t.Bytes)
	}
	bar := startProgress(true, cmd.ErrOrStderr(), op, func() (int64, int64, int64) {
		return p.bytes.Load(), total, p.msgs.Load()
	})
	res, err := fn()
	// The last tick may be a while back: end at the totals.
	p.msgs.Store(res.Msgs)
	p.bytes.Store(res.Bytes)
	bar.end()
	return res, err
}

// addProgressFlag binds --progress (and --quiet, the same as --progress
// never) to a bar on stderr, and --cpuprofile to a CPU profile of the run.
func addProgressFlag(cmd *cobra.Command) *benchProgress {
	p := &benchProgress{}
	p.pf.add(cmd.Flags())
	cmd.Flags().BoolVar(&p.quiet, "quiet", false, "no progress on stderr (--progress never)")
	profile := cmd.Flags().String("cpuprofile", "", "write a CPU profile of the client to this file")
	var f *os.File
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error {
		show, err := p.pf.on(cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		p.show = show && !p.quiet
		if *profile == "" {
			return nil
		}
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
	return p
}

func newBenchProduce() *cobra.Command {
	cfg := bench.ProduceConfig{Common: bench.Common{Conc: bench.DefaultConc, Window: bench.DefaultWindow}}
	var creds *credentialFlags
	var prog *benchProgress
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
			total := int64(0)
			if cfg.Count > 0 && cfg.Duration == 0 {
				total = cfg.Count * int64(cfg.Size)
			}
			return reportBench(cmd, *asJSON, func(w io.Writer) (bench.Result, error) {
				return prog.run(cmd, &cfg.Common, "produce", total, func() (bench.Result, error) { return bench.RunProduce(ctx, cfg, w) })
			})
		},
	}
	creds = addCommonFlags(cmd, &cfg.Common)
	prog = addProgressFlag(cmd)
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
	var prog *benchProgress
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
			return reportBench(cmd, *asJSON, func(w io.Writer) (bench.Result, error) {
				return prog.run(cmd, &cfg.Common, "consume", 0, func() (bench.Result, error) { return bench.RunConsume(ctx, cfg, w) })
			})
		},
	}
	creds = addCommonFlags(cmd, &cfg.Common)
	prog = addProgressFlag(cmd)
	addTLSFlags(cmd, &cfg.Common)
	f := cmd.Flags()
	f.BoolVar(asJSON, "json", false, "print the summary as JSON instead of the key=value line")
	f.StringVar(&cfg.Group, "group", bench.DefaultConsumeGroup, "consumer group named in pulls")
	f.Int64Var(&cfg.FromOffset, "from-offset", 0, "offset to read every queue from")
	f.IntVar(&cfg.PullBatch, "pull-batch", bench.DefaultPullBatch, "maxMsgNums per pull")
	return cmd
}

// reportBench runs a bench writing its key=value summary to the command's
// output, or, asJSON, writes the result as JSON instead.
func reportBench(cmd *cobra.Command, asJSON bool, run func(w io.Writer) (bench.Result, error)) error {
	if !asJSON {
		_, err := run(cmd.OutOrStdout())
		return quietFailures(cmd, err)
	}
	res, err := run(io.Discard)
	return quietFailures(cmd, errors.Join(writeBenchJSON(cmd.OutOrStdout(), res, err), err))
}

// quietFailures keeps cobra from printing usage for a run that worked but
// saw failed requests; the summary line already tells them.
func quietFailures(cmd *cobra.Command, err error) error {
	if errors.Is(err, bench.ErrFailures) {
		cmd.SilenceUsage = true
	}
	return err
}
