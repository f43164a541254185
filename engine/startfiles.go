package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/engine/queue"
	"github.com/wharfmq/wharf/index"
)

// ErrMetaMissing is returned by Open when meta/ (topic and group configs,
// consumer offsets: what the CommitLog cannot give back) is missing or
// empty while the CommitLog holds records. Starting anyway would make every
// topic vanish and reset every consumer.
var ErrMetaMissing = errors.New("engine: meta/ is missing or empty but the CommitLog holds records")

// metaRemedy is the advice given with a meta/ that is missing or cannot be
// read.
func metaRemedy(dir string) string {
	return fmt.Sprintf("restore meta/ from a backup, or run `wharf replay --rebuild-meta --data %s` "+
		"to recreate the topic configs from the CommitLog (consumer offsets and group configs are lost)", dir)
}

// metaOpenErr is the error of Open (and of the tools) when meta/ cannot be
// opened. The remedy that loses consumer offsets and group configs is named
// only when meta/ is damaged (a Pebble file corrupt or missing, meta/ not
// a directory), not when it is healthy but cannot be opened now (no
// permission, another process has it open).
func metaOpenErr(prefix, dir string, err error) error {
	switch {
	case errors.Is(err, queue.ErrLocked):
		return fmt.Errorf("%s: %w: %w (the store's own lock file was free: was it removed while a broker runs?)",
			prefix, ErrStoreInUse, err)
	case errors.Is(err, pebble.ErrCorruption) || errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%s: %w (if meta/ is damaged: %s)", prefix, err, metaRemedy(dir))
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// MetaRemedy is the advice for a meta/ that is missing or damaged, for the
// tools that open meta/ themselves.
func MetaRemedy(dir string) string { return metaRemedy(dir) }

// checkMeta refuses a meta/ that lost what the CommitLog cannot give back:
// a CommitLog with records beside a meta/ without a single topic config.
//
// Decision: a marker key, written in meta/ at the first Open that finds it
// sound, tells that case from a store that never had topic configs (the
// engine alone, without a broker, writes none): a marked meta/ is trusted.
// A new store has an empty CommitLog (End 0), so it is marked before its
// first record. Stores made before the marker have the broker's built-in
// topic configs and are marked at their next Open. A meta/ that was
// deleted, or recreated empty by Pebble, has neither marker nor configs.
func (s *Store) checkMeta() error {
	has, err := s.qdb.HasMarker()
	if err != nil || has {
		return err
	}
	if s.opts.RecreateMeta {
		return nil // RebuildMeta writes the configs and the marker together
	}
	topics, err := s.qdb.Topics()
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if end := s.cl.End(); end > 0 && len(topics) == 0 {
		return fmt.Errorf("%w (%d bytes): refusing to start with no topics and no consumer offsets; %s",
			ErrMetaMissing, end, metaRemedy(s.opts.Dir))
	}
	return s.qdb.PutMarker()
}

// openIndex opens the key index. The index is derived from the CommitLog:
// when a file of it is damaged (truncated, garbage header), it is deleted
// and rebuilt by the dispatcher's replay, and the log says so.
func openIndex(opts Options, log *slog.Logger) (*index.Index, error) {
	fs := opts.FS
	o := index.Options{
		FS: fs, Dir: fs.PathJoin(opts.Dir, "index"),
		SlotCount: opts.IndexSlots, EntriesPerFile: opts.IndexEntriesPerFile, Logger: opts.Logger,
	}
	x, err := index.Open(o)
	if !errors.Is(err, index.ErrCorrupt) {
		return x, err
	}
	log.Warn("key index damaged: deleting it and rebuilding it from the CommitLog", "dir", o.Dir, "err", err)
	if err := index.RemoveAll(fs, o.Dir); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return index.Open(o)
}

// indexScanLimit bounds the CommitLog bytes checkIndexFiles reads.
const indexScanLimit = 64 << 20

// checkIndexFiles finds index files deleted by hand (or lost in a restore):
// the checkpoint still says the index is complete below it, but the files
// that held the oldest entries are gone, so every lookup of those keys finds
// nothing and the dispatcher, trusting the checkpoint, never re-adds them.
// The index then is damage like a torn file: it is deleted and rebuilt by
// the replay, and the log says so.
//
// The test is exact, not a guess from the file names: every keyed record in
// the log below the checkpoint must have its entry in a file, and retention
// deletes only files all of whose entries lie below the log's first offset
// (Index.DeleteBefore). So a keyed record in [the log's first offset, the
// oldest entry the index holds) below the checkpoint, or anywhere below the
// checkpoint when the index holds none, means files are missing. A store
// whose files retention removed, or whose records carry no keys, has none
// there. The scan stops at the first keyed record (nearly every record: the
// clients set UNIQ_KEY) and reads at most indexScanLimit bytes.
func (s *Store) checkIndexFiles() error {
	lo, hi := s.cl.MinOffset(), s.idx.Checkpoint()
	if first, ok := s.idx.FirstPhys(); ok {
		hi = min(hi, first)
	}
	readable := s.cl.Readable()
	hi = min(hi, readable, lo+indexScanLimit)
	if hi <= lo {
		return nil
	}
	it := s.cl.NewIterator(lo)
	for {
		rec, phys, err := it.Next(readable)
		if err != nil || phys >= hi {
			return nil // the end, or a record the replay reports
		}
		r, err := msg.Decode(rec)
		if err != nil || r.SysFlag&msg.FlagTransactionMask == msg.FlagTransactionRoll {
			continue
		}
		keyed := false
		if keys, ok := msg.Property(r.Properties, msg.PropKeys); ok {
			msg.ForEachKey(keys, func(string) { keyed = true })
		}
		if uk, ok := msg.Property(r.Properties, msg.PropUniqKey); !keyed && (!ok || uk == "") {
			continue
		}
		dir := s.opts.FS.PathJoin(s.opts.Dir, "index")
		s.log.Warn("key index files missing: the record at this offset has keys below the index checkpoint but no index file holds it; deleting the index and rebuilding it from the CommitLog",
			"dir", dir, "offset", phys, "checkpoint", s.idx.Checkpoint())
		if err := s.idx.Close(); err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		if err := index.RemoveAll(s.opts.FS, dir); err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		if s.idx, err = openIndex(s.opts, s.log); err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		return nil
	}
}

// diskUsage is the disk space the store's files take (as du counts it:
// allocated blocks where the file system says, else the file sizes).
func diskUsage(fs vfs.FS, dir string) int64 {
	var total int64
	for _, sub := range []string{"commitlog", "meta", "index"} {
		d := fs.PathJoin(dir, sub)
		names, err := fs.List(d)
		if err != nil {
			continue
		}
		for _, n := range names {
			st, err := fs.Stat(fs.PathJoin(d, n))
			if err != nil || st.IsDir() {
				continue
			}
			if sys, ok := st.Sys().(*syscall.Stat_t); ok {
				total += sys.Blocks * 512
			} else {
				total += st.Size()
			}
		}
	}
	return total
}
