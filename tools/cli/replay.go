package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/engine"
)

func newReplay() *cobra.Command {
	f := &offlineFlags{}
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "rebuild consume queues, tag blooms and the key index from the CommitLog (no broker running)",
		Long: `replay deletes everything derived from the CommitLog (consume-queue entries, tag
blooms, queue states and the dispatch checkpoint in meta/, and the index/ files),
keeping consumer offsets and topic and group configs, then replays the whole
CommitLog and reports the rate. It takes the store's lock and refuses to run
beside a broker. Interrupted, it is finished by the next start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := f.options()
			if err != nil {
				return err
			}
			rep, err := engine.Rebuild(opts)
			if err != nil {
				return lockErr(f.data, err)
			}
			w := cmd.OutOrStdout()
			if f.json {
				return printJSON(w, map[string]any{"report": rep, "MBps": rep.MBPerSec()})
			}
			fmt.Fprintf(w, "replayed %d bytes of CommitLog into %d queue entries in %d queues in %v: %.0f MB/s (total %v)\n",
				rep.Bytes, rep.Records, rep.Queues, rep.Replay, rep.MBPerSec(), rep.Total)
			return nil
		},
	}
	f.add(cmd.Flags())
	return cmd
}
