package cli

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/engine/queue"
)

// offlineFlags are the flags of the tools that work on a data directory
// with no broker running: inspect, replay, compact.
type offlineFlags struct {
	data        string
	conf        string
	segmentSize int64
	indexSlots  int
	indexEnts   int
	delayLevels string
	json        bool
}

func (f *offlineFlags) add(fl interface {
	StringVar(*string, string, string, string)
	StringVarP(*string, string, string, string, string)
	Int64Var(*int64, string, int64, string)
	IntVar(*int, string, int, string)
	BoolVar(*bool, string, bool, string)
}) {
	fl.StringVar(&f.data, "data", "./wharf-data", "data directory (storePathRootDir)")
	fl.StringVarP(&f.conf, "config", "c", "", "broker.conf: its mappedFileSizeCommitLog, maxHashSlotNum and maxIndexNum are used unless the flags below are given")
	fl.Int64Var(&f.segmentSize, "segment-size", 0, "CommitLog segment size (mappedFileSizeCommitLog); 0 infers it from the segment files")
	fl.IntVar(&f.indexSlots, "index-slots", 0, "slots of a new key index file (0: the broker's default)")
	fl.IntVar(&f.indexEnts, "index-entries", 0, "entries of a new key index file (0: the broker's default)")
	fl.StringVar(&f.delayLevels, "delay-levels", "",
		"the broker's messageDelayLevel: delayed messages' queue entries carry delivery times from it (default: broker.conf's with -c, else RocketMQ's)")
	fl.BoolVar(&f.json, "json", false, "print JSON")
}

// brokerConf reads -c's broker.conf (once per command: it logs its
// warnings); without -c it is the zero Config, which overrides nothing.
func (f *offlineFlags) brokerConf() (config.Config, error) {
	if f.conf == "" {
		return config.Config{}, nil
	}
	return config.Load(f.conf, toolLogger())
}

// levels parses --delay-levels, else cfg's messageDelayLevel.
func (f *offlineFlags) levels(cfg config.Config) ([]time.Duration, error) {
	l, err := engine.ParseDelayLevels(cmp.Or(f.delayLevels, cfg.MessageDelayLevel))
	if err != nil {
		return nil, fmt.Errorf("--delay-levels: %w", err)
	}
	return l, nil
}

// toolLogger logs warnings and errors to stderr: a tool's output is its
// report, not the store's info logs.
func toolLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// options returns engine options for an offline tool. The segment size is
// inferred from the files unless given; retention and pre-writing are off,
// so a tool never removes a segment or zero-fills a new one.
//
// With -c, broker.conf gives the sizes the flags leave at 0, so a store
// built with small index files is rebuilt with the same ones (the index
// defaults reserve 420 MB per file), and its segment size is the fallback
// when the files do not tell it.
func (f *offlineFlags) options() (engine.Options, error) {
	cfg, err := f.brokerConf()
	if err != nil {
		return engine.Options{}, err
	}
	return f.optionsWith(cfg)
}

// optionsWith is options with broker.conf already read.
func (f *offlineFlags) optionsWith(cfg config.Config) (engine.Options, error) {
	size := f.segmentSize
	slots, ents := cmp.Or(f.indexSlots, cfg.MaxHashSlotNum), cmp.Or(f.indexEnts, cfg.MaxIndexNum)
	fallback := int64(commitlog.DefaultSegmentSize)
	if cfg.MappedFileSizeCommitLog > 0 {
		fallback = cfg.MappedFileSizeCommitLog
	}
	levels, err := f.levels(cfg)
	if err != nil {
		return engine.Options{}, err
	}
	if size <= 0 {
		var err error
		size, _, err = commitlog.InferSegmentSize(vfs.Default, vfs.Default.PathJoin(f.data, "commitlog"), fallback)
		if errors.Is(err, os.ErrNotExist) {
			// Said as the store itself says it, not as a failed listing.
			err = fmt.Errorf("%w: %v", engine.ErrNoStore, err)
		}
		if err != nil {
			return engine.Options{}, lockErr(f.data, err)
		}
	}
	return engine.Options{
		FS: vfs.Default, Dir: f.data, SegmentSize: size,
		FlushMode: commitlog.AsyncFlush, Prewrite: commitlog.PrewriteOff, RetentionInterval: -1,
		IndexSlots: slots, IndexEntriesPerFile: ents, Logger: toolLogger(), DelayLevels: levels,
	}, nil
}

// lockErr turns the offline tools' lock errors into plain advice.
func lockErr(data string, err error) error {
	switch {
	case errors.Is(err, engine.ErrStoreInUse):
		return fmt.Errorf("%s is in use: stop the broker (or the other wharf tool) that has it open, then retry: %w", data, err)
	case errors.Is(err, engine.ErrNoStore):
		return fmt.Errorf("%s is not a wharf data directory (no commitlog/ in it): %w", data, err)
	case errors.Is(err, pebble.ErrCorruption) && !strings.Contains(err.Error(), "--rebuild-meta"):
		return fmt.Errorf("%w (meta/ is damaged: %s)", err, engine.MetaRemedy(data))
	}
	return err
}

// openStore opens the store for the inspect commands that read through the
// engine. Decision: rather than a second, read-only implementation of the
// store, they take the store's lock (so they refuse to run beside a broker,
// with a clear message) and open it as a broker start does, with retention
// and pre-writing off and nothing appended. After a crash that includes the
// recovery the next broker start would run anyway; `inspect check` is the
// exception and reads the CommitLog without recovering it.
func (f *offlineFlags) openStore() (*engine.Store, error) {
	release, _, err := engine.LockStore(vfs.Default, f.data)
	if err != nil {
		return nil, lockErr(f.data, err)
	}
	if err := release(); err != nil {
		return nil, err
	}
	opts, err := f.options()
	if err != nil {
		return nil, err
	}
	s, err := engine.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", f.data, err)
	}
	return s, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newInspect() *cobra.Command {
	f := &offlineFlags{}
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "look into a data directory with no broker running (check, key, id, offset, queue, topics)",
		Long: `inspect reads a data directory that no broker has open: it takes the store's
lock file and refuses to run beside a broker. "inspect check" verifies the store
read-only; the other commands open the store as a broker start would (recovering
it after a crash), with retention and pre-writing off, and never append.`,
	}
	f.add(cmd.PersistentFlags())
	cmd.AddCommand(newInspectCheck(f), newInspectKey(f), newInspectID(f), newInspectOffset(f),
		newInspectQueue(f), newInspectTopics(f))
	return cmd
}

func newInspectCheck(f *offlineFlags) *cobra.Command {
	samples := 1000
	var pf progressFlag
	cmd := &cobra.Command{
		Use:   "check",
		Short: "verify every CommitLog segment, every consume-queue entry and a sample of the key index",
		Long: `check scans every CommitLog segment (sealed ones too) and verifies each record's
magic, size, physical offset field, body CRC and whole-record CRC, BLANK fillers
and segment continuity; then every consume-queue entry against the record it
points at and the queue states against the log; then a uniform sample of records
against the key index. It reports each problem with segment and offset, and exits
with a non-zero status when it finds any.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.brokerConf()
			if err != nil {
				return err
			}
			levels, err := f.levels(cfg)
			if err != nil {
				return err
			}
			segSize := f.segmentSize
			if f.conf != "" && segSize == 0 {
				// broker.conf's size where the segment files do not tell.
				opts, err := f.optionsWith(cfg)
				if err != nil {
					return lockErr(f.data, err)
				}
				segSize = opts.SegmentSize
			}
			show, err := pf.on(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			var prog engine.Progress
			bar := startProgress(show, cmd.ErrOrStderr(), "check", storeProgress(&prog))
			rep, err := engine.Check(engine.CheckOptions{
				FS: vfs.Default, Dir: f.data, SegmentSize: segSize, IndexSamples: samples, Logger: toolLogger(),
				DelayLevels: levels, Progress: &prog,
			})
			bar.end()
			if err != nil {
				return lockErr(f.data, err)
			}
			w := cmd.OutOrStdout()
			if f.json {
				if err := printJSON(w, rep); err != nil {
					return err
				}
			} else {
				printCheck(w, rep)
			}
			if !rep.OK() {
				return fmt.Errorf("%d problems found in %s", rep.ProblemCount, f.data)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&samples, "index-samples", samples, "records looked up in the key index")
	pf.add(cmd.Flags())
	return cmd
}

func printCheck(w io.Writer, rep *engine.CheckReport) {
	cl := rep.CommitLog
	fmt.Fprintf(w, "commitlog: %d segments of %d bytes, [%d, %d), %d records (%d bytes), %d BLANK fillers\n",
		cl.Segments, cl.SegmentSize, cl.MinOffset, cl.End, cl.Records, cl.RecordBytes, cl.Blanks)
	fmt.Fprintf(w, "commitlog: scanned %d bytes in %v (%.0f MB/s); checkpoint %d (clean %v)\n",
		cl.BytesScanned, cl.Duration.Round(time.Millisecond), cl.MBPerSec(), cl.Checkpoint, cl.CheckpointClean)
	if cl.BadRegions > 0 {
		fmt.Fprintf(w, "commitlog: %d damaged records or regions, %d bytes skipped\n", cl.BadRegions, cl.SkippedBytes)
	}
	fmt.Fprintf(w, "queues: %d queues, %d entries, %d verified against their records; dispatch checkpoint %d, %d records not dispatched yet\n",
		rep.Queues, rep.QueueEntries, rep.EntriesVerified, rep.DispatchCheckpoint, rep.UndispatchedRecords)
	fmt.Fprintf(w, "index: checkpoint %d, %d sampled lookups, %d misses\n", rep.IndexCheckpoint, rep.IndexProbes, rep.IndexMisses)
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "PROBLEM %s\n", p)
	}
	if more := rep.ProblemCount - len(rep.Problems); more > 0 {
		fmt.Fprintf(w, "... and %d more problems\n", more)
	}
	if rep.OK() {
		fmt.Fprintf(w, "OK (%v)\n", rep.Duration.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "FAILED: %d problems (%v)\n", rep.ProblemCount, rep.Duration.Round(time.Millisecond))
	}
}

// recordView is a decoded record as the inspect commands print it.
type recordView struct {
	Offset         int64             `json:"offset"`
	Size           int               `json:"size"`
	MsgID          string            `json:"msgId"`
	Topic          string            `json:"topic"`
	QueueID        int32             `json:"queueId"`
	QueueOffset    int64             `json:"queueOffset"`
	StoreTime      int64             `json:"storeTimestamp"`
	BornTime       int64             `json:"bornTimestamp"`
	BornHost       string            `json:"bornHost"`
	StoreHost      string            `json:"storeHost"`
	Flag           int32             `json:"flag"`
	SysFlag        int32             `json:"sysFlag"`
	ReconsumeTimes int32             `json:"reconsumeTimes"`
	PreparedTxOff  int64             `json:"preparedTransactionOffset"`
	BodyCRC        uint32            `json:"bodyCRC"`
	BodySize       int               `json:"bodySize"`
	Keys           string            `json:"keys,omitempty"`
	Tags           string            `json:"tags,omitempty"`
	UniqKey        string            `json:"uniqKey,omitempty"`
	Properties     map[string]string `json:"properties"`
	Body           string            `json:"bodyPreview"`
	Verified       bool              `json:"verified"`
	Error          string            `json:"error,omitempty"`
}

// bodyPreview is how many body bytes the commands print.
var bodyPreview = 64

func viewRecord(rec []byte, phys int64) (recordView, error) {
	r, err := msg.Decode(rec)
	if err != nil {
		return recordView{Offset: phys}, fmt.Errorf("no record at %d: %w", phys, err)
	}
	v := recordView{
		Offset: phys, Size: len(r.Raw), MsgID: msg.OffsetMsgID(r.StoreHost, phys), Topic: string(r.Topic),
		QueueID: r.QueueID, QueueOffset: r.QueueOffset, StoreTime: r.StoreTimestamp, BornTime: r.BornTimestamp,
		BornHost: r.BornHost.String(), StoreHost: r.StoreHost.String(), Flag: r.Flag, SysFlag: r.SysFlag,
		ReconsumeTimes: r.ReconsumeTimes, PreparedTxOff: r.PreparedTransactionOffset, BodyCRC: r.BodyCRC,
		BodySize: len(r.Body), Properties: msg.ParseProperties(r.Properties),
	}
	v.Keys, v.Tags, v.UniqKey = v.Properties[msg.PropKeys], v.Properties[msg.PropTags], v.Properties[msg.PropUniqKey]
	body := r.Body
	if len(body) > bodyPreview {
		body = body[:bodyPreview]
	}
	v.Body = strconv.Quote(string(body))
	if len(r.Body) > bodyPreview {
		v.Body += "..."
	}
	if verr := commitlog.VerifyRecord(rec, phys); verr != nil {
		v.Error = verr.Error()
	} else {
		v.Verified = true
	}
	return v, nil
}

func msTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

func printRecord(w io.Writer, v recordView, full bool) {
	status := "ok"
	if !v.Verified {
		status = "DAMAGED: " + v.Error
	}
	fmt.Fprintf(w, "offset %d  size %d  %s/%d@%d  stored %s  [%s]\n", v.Offset, v.Size, v.Topic, v.QueueID, v.QueueOffset, msTime(v.StoreTime), status)
	fmt.Fprintf(w, "  msgId %s  uniqKey %q  keys %q  tags %q\n", v.MsgID, v.UniqKey, v.Keys, v.Tags)
	if full {
		fmt.Fprintf(w, "  born %s from %s  store host %s  flag %d  sysFlag %#x  reconsume %d  preparedTxOffset %d  bodyCRC %#x\n",
			msTime(v.BornTime), v.BornHost, v.StoreHost, v.Flag, v.SysFlag, v.ReconsumeTimes, v.PreparedTxOff, v.BodyCRC)
		names := make([]string, 0, len(v.Properties))
		for k := range v.Properties {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			fmt.Fprintf(w, "  property %s = %q\n", k, v.Properties[k])
		}
	}
	fmt.Fprintf(w, "  body (%d bytes) %s\n", v.BodySize, v.Body)
}

// printRecords prints records as JSON or text.
func printRecords(w io.Writer, asJSON, full bool, views []recordView) error {
	if asJSON {
		return printJSON(w, views)
	}
	if len(views) == 0 {
		fmt.Fprintln(w, "no messages found")
	}
	for _, v := range views {
		printRecord(w, v, full)
	}
	return nil
}

func newInspectKey(f *offlineFlags) *cobra.Command {
	max := 32
	var begin, end int64 = 0, math.MaxInt64
	cmd := &cobra.Command{
		Use:   "key TOPIC KEY",
		Short: "find messages by key (KEYS or UNIQ_KEY) through the key index, newest first",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.openStore()
			if err != nil {
				return err
			}
			defer s.Close()
			recs, err := s.QueryByKey(args[0], args[1], max, begin, end)
			if err != nil {
				return err
			}
			views := make([]recordView, 0, len(recs))
			for _, rec := range recs {
				r, _ := msg.Decode(rec)
				v, err := viewRecord(rec, r.PhysOffset)
				if err != nil {
					return err
				}
				views = append(views, v)
			}
			return printRecords(cmd.OutOrStdout(), f.json, false, views)
		},
	}
	cmd.Flags().IntVar(&max, "max", max, "most messages to print")
	cmd.Flags().Int64Var(&begin, "begin", begin, "earliest store time, ms since the epoch")
	cmd.Flags().Int64Var(&end, "end", end, "latest store time, ms since the epoch")
	return cmd
}

func newInspectID(f *offlineFlags) *cobra.Command {
	var topic string
	cmd := &cobra.Command{
		Use:   "id MSGID",
		Short: "find a message by offset message id (decoded to a CommitLog offset) or by unique id (UNIQ_KEY, through the key index)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.openStore()
			if err != nil {
				return err
			}
			defer s.Close()
			id := args[0]
			var views []recordView
			if _, phys, perr := msg.ParseOffsetMsgID(id); perr == nil {
				v, err := readView(s, phys)
				if err == nil {
					views = append(views, v)
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "as an offset message id (offset %d): %v\n", phys, err)
				}
			}
			// Also try it as a unique id: client ids are 32 hex digits too.
			topics := []string{topic}
			if topic == "" {
				topics = topicNames(s)
			}
			for _, t := range topics {
				recs, err := s.QueryByKey(t, id, 16, 0, math.MaxInt64)
				if err != nil {
					return err
				}
				for _, rec := range recs {
					r, _ := msg.Decode(rec)
					if uk, _ := msg.Property(r.Properties, msg.PropUniqKey); uk != id {
						continue // a KEYS match, not the unique id
					}
					v, err := viewRecord(rec, r.PhysOffset)
					if err != nil {
						return err
					}
					views = append(views, v)
				}
			}
			if len(views) == 0 {
				return fmt.Errorf("no message with id %s", id)
			}
			return printRecords(cmd.OutOrStdout(), f.json, true, views)
		},
	}
	cmd.Flags().StringVar(&topic, "topic", "", "topic to look the unique id up in (default: every topic)")
	return cmd
}

func topicNames(s *engine.Store) []string {
	var names []string
	for _, ref := range queue.SortedRefs(s.Meta().Queues()) {
		if len(names) == 0 || names[len(names)-1] != ref.Topic {
			names = append(names, ref.Topic)
		}
	}
	return names
}

// readView reads whatever is stored at phys, damaged or not.
func readView(s *engine.Store, phys int64) (recordView, error) {
	var h [msg.BlankHeaderSize]byte
	if err := s.CommitLog().ReadAt(h[:], phys); err != nil {
		return recordView{}, err
	}
	size, kind, err := msg.PeekHeader(h[:])
	switch {
	case err != nil:
		return recordView{}, fmt.Errorf("no record at %d: %w", phys, err)
	case kind == msg.KindBlank:
		return recordView{}, fmt.Errorf("offset %d is a BLANK filler of %d bytes (the end of a segment)", phys, size)
	case kind == msg.KindEnd:
		return recordView{}, fmt.Errorf("offset %d holds zeros: no record starts here", phys)
	case int64(size) > s.CommitLog().SegmentSize():
		return recordView{}, fmt.Errorf("no record at %d: size field says %d bytes, more than a segment", phys, size)
	}
	rec := make([]byte, size)
	if err := s.CommitLog().ReadAt(rec, phys); err != nil {
		return recordView{}, err
	}
	return viewRecord(rec, phys)
}

func newInspectOffset(f *offlineFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "offset PHYS",
		Short: "decode the record at a CommitLog offset: every field and property, and whether it verifies",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			phys, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || phys < 0 {
				return fmt.Errorf("offset %q: want a non-negative decimal CommitLog offset", args[0])
			}
			s, err := f.openStore()
			if err != nil {
				return err
			}
			defer s.Close()
			v, err := readView(s, phys)
			if err != nil {
				return err
			}
			return printRecords(cmd.OutOrStdout(), f.json, true, []recordView{v})
		},
	}
}

// entryView is a consume-queue entry and its record.
type entryView struct {
	QueueOffset int64       `json:"queueOffset"`
	Phys        int64       `json:"phys"`
	Size        int32       `json:"size"`
	TagsCode    int64       `json:"tagsCode"`
	StoreTime   int64       `json:"storeTime"`
	Record      *recordView `json:"record,omitempty"`
	Error       string      `json:"error,omitempty"`
}

func newInspectQueue(f *offlineFlags) *cobra.Command {
	var from int64 = -1
	count := 20
	cmd := &cobra.Command{
		Use:   "queue TOPIC QUEUE",
		Short: "list consume-queue entries with their records",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			qid, err := strconv.ParseInt(args[1], 10, 32)
			if err != nil {
				return fmt.Errorf("queue id %q: %w", args[1], err)
			}
			s, err := f.openStore()
			if err != nil {
				return err
			}
			defer s.Close()
			topic := args[0]
			st, ok := s.QueueState(topic, int32(qid))
			if !ok {
				return fmt.Errorf("no queue %s/%d", topic, qid)
			}
			start := from
			if start < 0 {
				start = st.Min
			}
			var views []entryView
			err = s.Meta().Scan(topic, int32(qid), start, start+int64(max(count, 0)), func(off int64, e queue.Entry) bool {
				ev := entryView{QueueOffset: off, Phys: e.Phys, Size: e.Size, TagsCode: e.TagsCode, StoreTime: e.StoreTime}
				if v, err := readView(s, e.Phys); err != nil {
					ev.Error = err.Error()
				} else {
					ev.Record = &v
				}
				views = append(views, ev)
				return true
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if f.json {
				return printJSON(w, map[string]any{"topic": topic, "queueId": qid, "min": st.Min, "max": st.Max, "entries": views})
			}
			fmt.Fprintf(w, "queue %s/%d: offsets [%d, %d)\n", topic, qid, st.Min, st.Max)
			for _, ev := range views {
				fmt.Fprintf(w, "@%d  phys %d  size %d  tagsCode %d  stored %s\n", ev.QueueOffset, ev.Phys, ev.Size, ev.TagsCode, msTime(ev.StoreTime))
				if ev.Record != nil {
					printRecord(indent{w}, *ev.Record, false)
				} else {
					fmt.Fprintf(w, "    ERROR %s\n", ev.Error)
				}
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&from, "from", from, "first queue offset (default: the queue's min)")
	cmd.Flags().IntVar(&count, "count", count, "number of entries")
	return cmd
}

// indent prefixes every line written through it with two spaces.
type indent struct{ w io.Writer }

// Write writes p indented; it assumes p is whole lines.
func (i indent) Write(p []byte) (int, error) {
	s := strings.ReplaceAll(strings.TrimSuffix(string(p), "\n"), "\n", "\n  ")
	if _, err := io.WriteString(i.w, "  "+s+"\n"); err != nil {
		return 0, err
	}
	return len(p), nil
}

func newInspectTopics(f *offlineFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "topics",
		Short: "list topics and queues with their offset ranges, topic and group configs, and consumer offsets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.openStore()
			if err != nil {
				return err
			}
			defer s.Close()
			type queueView struct {
				Topic   string `json:"topic"`
				QueueID int32  `json:"queueId"`
				Min     int64  `json:"min"`
				Max     int64  `json:"max"`
			}
			type offsetView struct {
				Group   string `json:"group"`
				Topic   string `json:"topic"`
				QueueID int32  `json:"queueId"`
				Offset  int64  `json:"offset"`
				Lag     int64  `json:"lag"`
			}
			states := s.Meta().Queues()
			var queues []queueView
			for _, ref := range queue.SortedRefs(states) {
				st := states[ref]
				queues = append(queues, queueView{ref.Topic, ref.QueueID, st.Min, st.Max})
			}
			offs, err := s.Meta().ConsumerOffsets()
			if err != nil {
				return err
			}
			var offsets []offsetView
			groups := make([]string, 0, len(offs))
			for g := range offs {
				groups = append(groups, g)
			}
			slices.Sort(groups)
			for _, g := range groups {
				for _, ref := range queue.SortedRefs(toStates(offs[g])) {
					o := offs[g][ref]
					offsets = append(offsets, offsetView{g, ref.Topic, ref.QueueID, o, max(states[ref].Max-o, 0)})
				}
			}
			topicDocs, err := s.Meta().Topics()
			if err != nil {
				return err
			}
			groupDocs, err := s.Meta().Groups()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if f.json {
				return printJSON(w, map[string]any{"queues": queues, "consumerOffsets": offsets,
					"topicConfigs": rawDocs(topicDocs), "groupConfigs": rawDocs(groupDocs)})
			}
			fmt.Fprintf(w, "%-40s %6s %12s %12s\n", "TOPIC", "QUEUE", "MIN", "MAX")
			for _, q := range queues {
				fmt.Fprintf(w, "%-40s %6d %12d %12d\n", q.Topic, q.QueueID, q.Min, q.Max)
			}
			fmt.Fprintf(w, "\n%-30s %-30s %6s %12s %10s\n", "GROUP", "TOPIC", "QUEUE", "OFFSET", "LAG")
			for _, o := range offsets {
				fmt.Fprintf(w, "%-30s %-30s %6d %12d %10d\n", o.Group, o.Topic, o.QueueID, o.Offset, o.Lag)
			}
			fmt.Fprintf(w, "\ntopic configs: %d\n", len(topicDocs))
			for _, name := range sortedKeys(topicDocs) {
				fmt.Fprintf(w, "  %s %s\n", name, topicDocs[name])
			}
			fmt.Fprintf(w, "group configs: %d\n", len(groupDocs))
			for _, name := range sortedKeys(groupDocs) {
				fmt.Fprintf(w, "  %s %s\n", name, groupDocs[name])
			}
			return nil
		},
	}
}

func toStates(m map[queue.Ref]int64) map[queue.Ref]queue.State {
	out := make(map[queue.Ref]queue.State, len(m))
	for r := range m {
		out[r] = queue.State{}
	}
	return out
}

// rawDocs keeps config documents that are JSON as JSON in the output.
func rawDocs(m map[string][]byte) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if json.Valid(v) {
			out[k] = json.RawMessage(v)
		} else {
			out[k] = string(v)
		}
	}
	return out
}
