package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/tools/admin"
)

// consumeWait is how long each pull may wait at a queue's end for a
// message (long polling) when consume does not stop there.
const consumeWait = 5 * time.Second

// maxBody bounds how much of a compressed body consume inflates.
const maxBody = 64 << 20

type consumeFlags struct {
	clientFlags
	topic      string
	group      string
	offset     string
	count      int
	format     string
	expression string
	exitAtEnd  bool
}

func newConsume() *cobra.Command {
	f := &consumeFlags{}
	cmd := &cobra.Command{
		Use:   "consume -t TOPIC",
		Short: "print a topic's messages as they come, kcat-style, with a format; stops after -c messages, at the end (-e) or on Ctrl-C",
		Long: `Read every queue of a topic (on its master brokers, or one broker with -b)
with pulls and print each message with --format. Without -g it pulls as the
tools group and commits nothing; with -g it starts from the group's
committed offsets and commits what it printed when it stops. It reads all
queues itself: it is not a member of the group (no heartbeat, no
rebalance), so stop the group's consumers first.

-o picks where to start in each queue: beginning, end, stored (the
group's committed offset, else the end; the default with -g), N (offset N)
or -N (N before the end). The default without -g is beginning.

--format placeholders: %t topic, %q queue id, %o queue offset, %k keys,
%g tag, %i message id (client), %I offset message id, %T store time (ms),
%B born time (ms), %b body, %S body size, %h properties (k=v,...); \n,
\t and %% for a newline, a tab and a percent sign.
--json prints one JSON object per message instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runConsume(cmd, f) },
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&f.topic, "topic", "t", "", "topic (required)")
	fl.StringVarP(&f.group, "group", "g", "", "consumer group whose offsets to start from and commit")
	fl.StringVarP(&f.offset, "offset", "o", "", "beginning, end, stored, N or -N (default beginning; stored with -g)")
	fl.IntVarP(&f.count, "count", "c", 0, "stop after this many messages (0: no limit)")
	fl.StringVar(&f.format, "format", `%b\n`, "output format (see above)")
	fl.StringVar(&f.expression, "tag", "*", `tag expression ("*", "a || b")`)
	fl.BoolVarP(&f.exitAtEnd, "exit-at-end", "e", false, "stop once every queue has been read to its end")
	return cmd
}

// queueRead is one queue being read.
type queueRead struct {
	admin.QueueRef
	next int64 // offset of the next message to print
}

func runConsume(cmd *cobra.Command, f *consumeFlags) error {
	if f.topic == "" {
		return errors.New("give the topic with -t")
	}
	if f.count < 0 {
		return errors.New("-c must be 0 or more")
	}
	format, err := parseFormat(f.format)
	if err != nil {
		return err
	}
	ctx, stop := signalContext(cmd)
	defer stop()
	c := f.client()
	defer c.Close()
	refs, err := c.TopicQueues(ctx, f.topic, f.broker)
	if err != nil {
		return err
	}
	queues := make([]*queueRead, len(refs))
	for i, r := range refs {
		q := &queueRead{QueueRef: r}
		if q.next, err = startOffset(ctx, c, f, r); err != nil {
			return err
		}
		queues[i] = q
	}

	// One goroutine per queue pulls; this one prints. Printing stops the
	// pullers by cancelling their context.
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type batch struct {
		q    *queueRead
		msgs []admin.Message
		end  bool // the queue is read to its end
		err  error
	}
	batches := make(chan batch)
	var wg sync.WaitGroup
	printed := make([]int64, len(queues)) // next offset to commit, per queue
	for i, q := range queues {
		printed[i] = q.next
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := q.next
			for pctx.Err() == nil {
				wait := consumeWait
				if f.exitAtEnd {
					wait = 0
				}
				r, err := c.Pull(pctx, q.Addr, admin.PullRequest{Group: f.group, Topic: f.topic, QueueID: q.QueueID, Offset: next,
					Expression: f.expression, Wait: wait, CommitOffset: -1})
				var b batch
				switch {
				case err != nil:
					b = batch{q: q, err: err}
				case r.Status == admin.Found:
					b = batch{q: q, msgs: r.Messages}
				case r.Status == admin.OffsetIllegal && next < r.MinOffset:
					// Retention removed what we asked for: go on from
					// the oldest message kept.
				case r.Status == admin.NoNewMessage || r.Status == admin.OffsetIllegal:
					b = batch{q: q, end: true}
				}
				if r.NextOffset > next || r.Status == admin.OffsetIllegal {
					next = r.NextOffset
				}
				if b.q == nil {
					continue
				}
				select {
				case batches <- b:
				case <-pctx.Done():
					return
				}
				if b.err != nil || (b.end && f.exitAtEnd) {
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(batches) }()

	out := cmd.OutOrStdout()
	n, atEnd := 0, map[*queueRead]bool{}
	index := map[*queueRead]int{}
	for i, q := range queues {
		index[q] = i
	}
	var runErr error
	for b := range batches {
		if b.err != nil {
			// Pulls cut short by our own stop (count, end, signal) are
			// not errors.
			if pctx.Err() == nil {
				runErr = b.err
				cancel()
			}
			continue
		}
		if b.end {
			atEnd[b.q] = true
			if f.exitAtEnd && len(atEnd) == len(queues) {
				cancel()
			}
			continue
		}
		for i := range b.msgs {
			if (f.count > 0 && n >= f.count) || runErr != nil {
				break
			}
			m := &b.msgs[i]
			if err := printMessage(out, m, format, f.json); err != nil {
				runErr = err
				cancel()
				break
			}
			n++
			printed[index[b.q]] = m.QueueOffset + 1
		}
		if f.count > 0 && n >= f.count {
			cancel()
		}
	}
	if f.group != "" {
		// Commit even when stopped by a signal: ctx is done then.
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer ccancel()
		for i, q := range queues {
			if printed[i] != q.next {
				if err := c.CommitOffset(cctx, q.Addr, f.group, f.topic, q.QueueID, printed[i]); err != nil {
					runErr = errors.Join(runErr, err)
				}
			}
		}
	}
	return runErr
}

// startOffset is where -o (and -g) say to start reading queue r.
func startOffset(ctx context.Context, c *admin.Client, f *consumeFlags, r admin.QueueRef) (int64, error) {
	o := f.offset
	if o == "" {
		o = "beginning"
		if f.group != "" {
			o = "stored"
		}
	}
	switch o {
	case "beginning":
		return c.MinOffset(ctx, r.Addr, f.topic, r.QueueID)
	case "end":
		return c.MaxOffset(ctx, r.Addr, f.topic, r.QueueID)
	case "stored":
		if f.group == "" {
			return 0, errors.New("-o stored needs a group (-g)")
		}
		off, ok, err := c.ConsumerOffset(ctx, r.Addr, f.group, f.topic, r.QueueID)
		if err != nil || ok {
			return off, err
		}
		return c.MaxOffset(ctx, r.Addr, f.topic, r.QueueID)
	}
	n, err := strconv.ParseInt(o, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("-o %q: want beginning, end, stored, N or -N", o)
	}
	if n >= 0 {
		return n, nil
	}
	end, err := c.MaxOffset(ctx, r.Addr, f.topic, r.QueueID)
	if err != nil {
		return 0, err
	}
	minOff, err := c.MinOffset(ctx, r.Addr, f.topic, r.QueueID)
	return max(end+n, minOff), err
}

// formatPart is a literal or a placeholder of --format.
type formatPart struct {
	lit string
	ph  byte // 0 for a literal
}

// parseFormat splits a --format string into literals and placeholders.
func parseFormat(s string) ([]formatPart, error) {
	var parts []formatPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, formatPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if (ch != '%' && ch != '\\') || i+1 == len(s) {
			lit.WriteByte(ch)
			continue
		}
		i++
		next := s[i]
		if ch == '\\' {
			switch next {
			case 'n':
				lit.WriteByte('\n')
			case 't':
				lit.WriteByte('\t')
			case '\\':
				lit.WriteByte('\\')
			default:
				lit.WriteByte('\\')
				lit.WriteByte(next)
			}
			continue
		}
		if next == '%' {
			lit.WriteByte('%')
			continue
		}
		if !strings.ContainsRune("tqokgiITBbSh", rune(next)) {
			return nil, fmt.Errorf("--format: unknown placeholder %%%c", next)
		}
		flush()
		parts = append(parts, formatPart{ph: next})
	}
	flush()
	return parts, nil
}

// consumedMessage is a message as consume --json prints it.
type consumedMessage struct {
	admin.Message
	Body string `json:"body"`
}

func printMessage(w io.Writer, m *admin.Message, format []formatPart, asJSON bool) error {
	body, err := m.BodyPrefix(maxBody)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(w).Encode(consumedMessage{Message: *m, Body: string(body)})
	}
	var sb strings.Builder
	for _, p := range format {
		switch p.ph {
		case 0:
			sb.WriteString(p.lit)
		case 't':
			sb.WriteString(m.Topic)
		case 'q':
			sb.WriteString(strconv.Itoa(int(m.QueueID)))
		case 'o':
			sb.WriteString(strconv.FormatInt(m.QueueOffset, 10))
		case 'k':
			sb.WriteString(m.Properties["KEYS"])
		case 'g':
			sb.WriteString(m.Properties["TAGS"])
		case 'i':
			sb.WriteString(m.ClientID())
		case 'I':
			sb.WriteString(m.MsgID)
		case 'T':
			sb.WriteString(strconv.FormatInt(m.StoreTimestamp, 10))
		case 'B':
			sb.WriteString(strconv.FormatInt(m.BornTimestamp, 10))
		case 'b':
			sb.Write(body)
		case 'S':
			sb.WriteString(strconv.Itoa(len(body)))
		case 'h':
			keys := make([]string, 0, len(m.Properties))
			for k := range m.Properties {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for i, k := range keys {
				if i > 0 {
					sb.WriteByte(',')
				}
				sb.WriteString(k + "=" + m.Properties[k])
			}
		}
	}
	_, err = io.WriteString(w, sb.String())
	return err
}
