package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/broker"
	"github.com/wharfmq/wharf/engine"
)

func newReplay() *cobra.Command {
	f := &offlineFlags{}
	rebuildMeta := false
	var pf progressFlag
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "rebuild consume queues, tag blooms and the key index from the CommitLog (no broker running)",
		Long: `replay deletes everything derived from the CommitLog (consume-queue entries, tag
blooms and the dispatch checkpoint in meta/, and the index/ files), keeping
consumer offsets, topic and group configs and where each queue ends (queue
offsets go on as before, also for a queue whose records retention removed),
then replays the whole CommitLog and reports the rate. It takes the store's lock and refuses to run
beside a broker. Interrupted, it is finished by the next start.

Before it deletes anything it scans the CommitLog, and if a record it would
replay is damaged it stops with one line naming the segment file and offset
and changes nothing (the broker still starts and serves what it can read;
'wharf inspect check' lists all the damage). A torn tail left by a crash is
no damage: the start cuts it.

--rebuild-meta is the remedy for a meta/ that is missing, empty or cannot be
opened (the broker refuses to start then): it moves an unreadable meta/ aside,
replays the CommitLog into a new one and recreates a config for every topic
with records (queue count from the highest queue id seen). Consumer offsets
and subscription group configs cannot be derived from the log: they are lost,
and consumers restart from their consumeFromWhere policy.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := f.options()
			if err != nil {
				return err
			}
			show, err := pf.on(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			opts.Progress = new(engine.Progress)
			bar := startProgress(show, cmd.ErrOrStderr(), "replay", storeProgress(opts.Progress))
			w := cmd.OutOrStdout()
			if rebuildMeta {
				return runRebuildMeta(w, f, opts, bar)
			}
			rep, err := engine.Rebuild(opts)
			bar.end()
			if err != nil {
				return lockErr(f.data, err)
			}
			if f.json {
				return printJSON(w, map[string]any{"report": rep, "MBps": rep.MBPerSec()})
			}
			fmt.Fprintf(w, "replayed %d bytes of CommitLog into %d queue entries in %d queues in %v: %.0f MB/s (total %v)\n",
				rep.Bytes, rep.Records, rep.Queues, rep.Replay, rep.MBPerSec(), rep.Total)
			return nil
		},
	}
	f.add(cmd.Flags())
	pf.add(cmd.Flags())
	cmd.Flags().BoolVar(&rebuildMeta, "rebuild-meta", false, "also recreate a missing or unreadable meta/: topic configs from the CommitLog (consumer offsets are lost)")
	return cmd
}

func runRebuildMeta(w io.Writer, f *offlineFlags, opts engine.Options, bar *progressBar) error {
	rep, err := engine.RebuildMeta(opts, broker.RecreatedTopicConfig)
	bar.end()
	if err != nil {
		return lockErr(f.data, err)
	}
	if f.json {
		return printJSON(w, rep)
	}
	if rep.MovedAside != "" {
		fmt.Fprintf(w, "meta/ could not be opened: moved aside to %s\n", rep.MovedAside)
	}
	fmt.Fprintf(w, "replayed %d bytes of CommitLog into %d queue entries in %d queues\n", rep.Bytes, rep.Records, rep.Queues)
	fmt.Fprintf(w, "recreated %d topic configs: %s\n", len(rep.Topics), strings.Join(rep.Topics, " "))
	if rep.ConsumerOffsets == 0 {
		fmt.Fprintln(w, "consumer offsets were lost (and subscription group configs): consumers start again from their consumeFromWhere policy")
	} else {
		fmt.Fprintf(w, "%d consumer offsets kept\n", rep.ConsumerOffsets)
	}
	return nil
}
