package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/queue"
)

func newCompact() *cobra.Command {
	f := &offlineFlags{}
	cmd := &cobra.Command{
		Use:   "compact",
		Short: "compact the Pebble meta store of a data directory (no broker running)",
		Long: `compact runs a manual Pebble compaction over every key of meta/ (consume
queues, blooms, offsets, configs): deleted and overwritten entries, left behind
by retention and topic deletion, are dropped. It prints the size before and
after. The CommitLog and the index need no compaction: retention removes whole
files. It takes the store's lock and refuses to run beside a broker.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			release, _, err := engine.LockStore(vfs.Default, f.data)
			if err != nil {
				return lockErr(f.data, err)
			}
			dir := filepath.Join(f.data, "meta")
			if _, err := os.Stat(dir); err != nil {
				return errors.Join(fmt.Errorf("no meta store in %s: %w", f.data, err), release())
			}
			dirBefore := dirSize(dir)
			qdb, err := queue.Open(queue.Options{FS: vfs.Default, Dir: dir, Logger: toolLogger()})
			if err != nil {
				return lockErr(f.data, errors.Join(err, release()))
			}
			before, after, err := qdb.Compact(context.Background())
			if cerr := qdb.Close(); err == nil {
				err = cerr
			}
			if rerr := release(); err == nil {
				err = rerr
			}
			if err != nil {
				return lockErr(f.data, err)
			}
			dirAfter := dirSize(dir)
			w := cmd.OutOrStdout()
			if f.json {
				return printJSON(w, map[string]any{"pebbleBytesBefore": before, "pebbleBytesAfter": after,
					"dirBytesBefore": dirBefore, "dirBytesAfter": dirAfter})
			}
			fmt.Fprintf(w, "meta: Pebble files %d -> %d bytes; directory %d -> %d bytes\n", before, after, dirBefore, dirAfter)
			return nil
		},
	}
	f.add(cmd.Flags())
	return cmd
}

// dirSize sums the sizes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
