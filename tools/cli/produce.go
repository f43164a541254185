package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/wharfmq/wharf/tools/admin"
)

// maxLine bounds one stdin line (one message body): RocketMQ's default
// maxMessageSize.
const maxLine = 4 << 20

type produceFlags struct {
	clientFlags
	topic        string
	tag          string
	keys         []string
	keysFromLine bool
	delimiter    string
	files        []string
}

// clientFlags are the connection flags of the client tools (produce,
// consume), named as in `wharf admin`.
type clientFlags struct {
	namesrv string
	broker  string
	json    bool
	timeout time.Duration
}

func (f *clientFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.namesrv, "namesrv", "n", admin.DefaultNamesrv, "name servers, HOST:PORT[;HOST:PORT...]")
	fl.StringVarP(&f.broker, "broker", "b", "", "use this broker only (no name server needed)")
	fl.DurationVar(&f.timeout, "timeout", admin.DefaultTimeout, "timeout of each request")
	fl.BoolVar(&f.json, "json", false, "print JSON lines")
}

func (f *clientFlags) client() *admin.Client {
	return admin.New(admin.Options{Namesrv: f.namesrv, Timeout: f.timeout})
}

func newProduce() *cobra.Command {
	f := &produceFlags{}
	cmd := &cobra.Command{
		Use:   "produce -t TOPIC",
		Short: "send messages from stdin, one per line, or files (one message each), and print where each was stored",
		Long: `Send messages to a topic with synchronous sends, round-robin over its
writable queues on the master brokers (from the name server, -n) or over
one broker's queues (-b). Each line of stdin is one message (up to 4 MiB),
or with --file each file is one message ("-" is all of stdin). --tag and
--key set the tag and keys of every message; with --keys-from-line a line
is KEY, the delimiter (a tab unless --delimiter), then the body.
Prints one line per message: SEND_OK, the client message id, the offset
message id, broker, queue and queue offset (--json: one JSON object per
line). Exit status 1 when a send fails (it stops at the first failure).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.topic == "" {
				return errors.New("give the topic with -t")
			}
			if f.delimiter == "" {
				return errors.New("--delimiter must not be empty")
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			c := f.client()
			defer c.Close()
			s, err := c.NewSender(ctx, f.topic, f.broker)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			send := func(key string, body []byte) error {
				m := admin.OutMessage{Body: body, Tag: f.tag, Keys: f.keys}
				if key != "" {
					m.Keys = append(append([]string{}, f.keys...), key)
				}
				r, err := s.Send(ctx, m)
				if err != nil {
					return err
				}
				if f.json {
					return json.NewEncoder(out).Encode(r)
				}
				_, err = fmt.Fprintf(out, "SEND_OK %s %s %s queue %d offset %d\n", r.MsgID, r.OffsetMsgID, r.Broker, r.QueueID, r.QueueOffset)
				return err
			}
			if len(f.files) > 0 {
				for _, name := range f.files {
					body, err := readFileArg(cmd.InOrStdin(), name)
					if err != nil {
						return err
					}
					if err := send("", body); err != nil {
						return fmt.Errorf("%s: %w", name, err)
					}
				}
				return nil
			}
			sc := bufio.NewScanner(cmd.InOrStdin())
			sc.Buffer(make([]byte, 0, 64<<10), maxLine)
			for n := 1; sc.Scan(); n++ {
				line, key := sc.Text(), ""
				if f.keysFromLine {
					var ok bool
					if key, line, ok = strings.Cut(line, f.delimiter); !ok {
						return fmt.Errorf("line %d has no key delimiter %q", n, f.delimiter)
					}
				}
				if err := send(key, []byte(line)); err != nil {
					return fmt.Errorf("line %d: %w", n, err)
				}
			}
			if err := sc.Err(); err != nil {
				return fmt.Errorf("reading stdin: %w", err)
			}
			return nil
		},
	}
	f.add(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&f.topic, "topic", "t", "", "topic (required)")
	fl.StringVar(&f.tag, "tag", "", "tag of every message")
	fl.StringArrayVarP(&f.keys, "key", "k", nil, "key of every message (repeat for several)")
	fl.BoolVarP(&f.keysFromLine, "keys-from-line", "K", false, "each line is KEY, the delimiter, then the body")
	fl.StringVar(&f.delimiter, "delimiter", "\t", "key delimiter for --keys-from-line")
	fl.StringArrayVarP(&f.files, "file", "f", nil, `send this file as one message ("-" for stdin; repeat for several)`)
	return cmd
}

// readFileArg reads a --file argument: a path, or "-" for all of stdin.
func readFileArg(stdin io.Reader, name string) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(io.LimitReader(stdin, maxLine+1))
		if err == nil && len(b) > maxLine {
			err = fmt.Errorf("stdin holds more than a message may (%d bytes)", maxLine)
		}
		return b, err
	}
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxLine {
		return nil, fmt.Errorf("%s: %d bytes is more than a message may hold (%d)", name, fi.Size(), maxLine)
	}
	return os.ReadFile(name)
}
