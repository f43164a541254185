package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/broker/sqlfilter"
	"github.com/wharfmq/wharf/engine/commitlog"
)

// TestGetScripts runs testdata/get: messages put into queues, then Gets
// with tag and SQL92 filters, printing the status, the offsets returned
// and each message's tag and properties. One store per file.
//
//	put topic=T queue=Q      one message per input line: its tag ("-" for
//	                         none), then name=value properties
//	get topic=T queue=Q offset=N [max=32]
//	                         the input is the filter: empty (none),
//	                         "tags A || B" (a subscription expression) or
//	                         "sql EXPR"
func TestGetScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/get", func(t *testing.T, path string) {
		s := openStore(t, testOptions(vfs.NewMem(), commitlog.AsyncFlush))
		defer s.Close()
		n := 0
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			var topic string
			var queue int
			d.ScanArgs(t, "topic", &topic)
			d.ScanArgs(t, "queue", &queue)
			switch d.Cmd {
			case "put":
				var b strings.Builder
				for _, line := range strings.Split(d.Input, "\n") {
					fields := strings.Fields(line)
					if len(fields) == 0 {
						d.Fatalf(t, "empty message line")
					}
					tag := fields[0]
					if tag == "-" {
						tag = ""
					}
					m := newMsg(topic, int32(queue), n, tag)
					n++
					for _, kv := range fields[1:] {
						name, value, _ := strings.Cut(kv, "=")
						m.Properties += "\x02" + name + "\x01" + value
					}
					res, err := s.Put(m)
					if err != nil {
						d.Fatalf(t, "put: %v", err)
					}
					fmt.Fprintf(&b, "%s/%d@%d\n", topic, queue, res.QueueOffset)
				}
				if err := s.WaitDispatched(5 * time.Second); err != nil {
					d.Fatalf(t, "%v", err)
				}
				return b.String()
			case "get":
				var offset int64
				maxCount := 32
				d.ScanArgs(t, "offset", &offset)
				d.MaybeScanArgs(t, "max", &maxCount)
				res, err := s.Get(topic, int32(queue), offset, maxCount, ddFilter(t, d), nil)
				if err != nil {
					return fmt.Sprintf("error: %v\n", err)
				}
				var b strings.Builder
				fmt.Fprintf(&b, "%s next=%d queue=[%d,%d) count=%d scanned=%d\n",
					res.Status, res.NextOffset, res.MinOffset, res.MaxOffset, res.Count, res.Scanned)
				for _, r := range decodeRecords(t, res.Data) {
					tag, ok := r.Property("TAGS")
					if !ok {
						tag = "-"
					}
					fmt.Fprintf(&b, "@%d %s", r.QueueOffset, tag)
					for _, kv := range strings.Split(string(r.Properties), "\x02") {
						name, value, _ := strings.Cut(kv, "\x01")
						switch name {
						case "", "UNIQ_KEY", "KEYS", "TAGS", "__CRC32#":
						default:
							fmt.Fprintf(&b, " %s=%s", name, value)
						}
					}
					b.WriteString("\n")
				}
				return b.String()
			}
			d.Fatalf(t, "unknown command %q", d.Cmd)
			return ""
		})
	})
}

// ddFilter builds the filter a get's input names.
func ddFilter(t *testing.T, d *datadriven.TestData) *TagFilter {
	kind, expr, _ := strings.Cut(strings.TrimSpace(d.Input), " ")
	switch kind {
	case "":
		return nil
	case "tags":
		var tags []string
		for _, tag := range strings.Split(expr, "||") {
			tags = append(tags, strings.TrimSpace(tag))
		}
		return NewTagFilter(tags...)
	case "sql":
		x, err := sqlfilter.Compile(expr)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		return NewPropsFilter(x.Match)
	}
	d.Fatalf(t, "unknown filter %q", kind)
	return nil
}
