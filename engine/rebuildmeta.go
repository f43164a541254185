package engine

import (
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/wharfmq/wharf/engine/queue"
	"github.com/wharfmq/wharf/internal/durable"
)

// RebuildMetaReport says what RebuildMeta did.
type RebuildMetaReport struct {
	RebuildReport
	// MovedAside is where an unreadable meta/ was moved ("" if none).
	MovedAside string `json:"movedAside,omitempty"`
	// Topics lists the topics whose config was recreated.
	Topics []string `json:"topics"`
	// ConsumerOffsets is the number of consumer offsets meta/ still holds
	// (0 when it was lost: every group starts over by its policy).
	ConsumerOffsets int `json:"consumerOffsets"`
}

// RebuildMeta is the remedy for ErrMetaMissing and for a meta/ Pebble
// cannot open (`wharf replay --rebuild-meta`). It moves an unreadable meta/
// aside (to meta.damaged-<unix time>, kept for a person to look at), runs
// Rebuild on a fresh one, and stores, for every topic with records and no
// config, the config topicConfig makes from its queue count (the highest
// queue id seen + 1), together with the marker. Consumer offsets and group
// configs cannot be derived: the report says how many survived.
func RebuildMeta(opts Options, topicConfig func(topic string, queues int32) ([]byte, error)) (*RebuildMetaReport, error) {
	if err := opts.ensureDefaults(); err != nil {
		return nil, err
	}
	fs := opts.FS
	rep := &RebuildMetaReport{}
	release, _, err := LockStore(fs, opts.Dir)
	if err != nil {
		return nil, err
	}
	metaDir := fs.PathJoin(opts.Dir, "meta")
	if _, serr := fs.Stat(metaDir); serr == nil {
		qdb, oerr := queue.Open(queue.Options{FS: fs, Dir: metaDir, Logger: opts.Logger})
		switch {
		case oerr == nil:
			err = qdb.Close()
		case !errors.Is(oerr, pebble.ErrCorruption) && !errors.Is(oerr, syscall.ENOTDIR):
			// Healthy but not openable now (in use by another process,
			// no permission): never set a live meta/ aside.
			err = metaOpenErr("meta/ cannot be opened", opts.Dir, oerr)
		default:
			rep.MovedAside = fmt.Sprintf("%s.damaged-%d", metaDir, time.Now().Unix())
			opts.Logger.Warn("meta/ cannot be opened: moving it aside", "from", metaDir, "to", rep.MovedAside, "err", oerr)
			if err = fs.Rename(metaDir, rep.MovedAside); err == nil {
				err = durable.SyncDir(fs, opts.Dir)
			}
		}
	}
	if rerr := release(); err == nil {
		err = rerr
	}
	if err != nil {
		return nil, fmt.Errorf("engine: rebuild meta: %w", err)
	}
	opts.RecreateMeta = true
	rr, err := Rebuild(opts)
	if err != nil {
		return nil, err
	}
	rep.RebuildReport = *rr
	if release, _, err = LockStore(fs, opts.Dir); err != nil {
		return nil, err
	}
	err = recreateTopics(opts, rep, topicConfig)
	if rerr := release(); err == nil {
		err = rerr
	}
	if err != nil {
		return nil, fmt.Errorf("engine: rebuild meta: %w", err)
	}
	return rep, nil
}

// recreateTopics writes the missing topic configs and the marker.
// REQUIRES: the store lock held.
func recreateTopics(opts Options, rep *RebuildMetaReport, topicConfig func(string, int32) ([]byte, error)) error {
	fs := opts.FS
	qdb, err := queue.Open(queue.Options{FS: fs, Dir: fs.PathJoin(opts.Dir, "meta"), Logger: opts.Logger})
	if err != nil {
		return err
	}
	defer qdb.Close()
	have, err := qdb.Topics()
	if err != nil {
		return err
	}
	docs := map[string][]byte{}
	for topic, n := range qdb.QueueCounts() {
		if _, ok := have[topic]; ok {
			continue
		}
		if docs[topic], err = topicConfig(topic, n); err != nil {
			return err
		}
		rep.Topics = append(rep.Topics, topic)
	}
	slices.Sort(rep.Topics)
	if err := qdb.PutTopicsAndMarker(docs); err != nil {
		return err
	}
	offsets, err := qdb.ConsumerOffsets()
	for _, m := range offsets {
		rep.ConsumerOffsets += len(m)
	}
	return err
}
