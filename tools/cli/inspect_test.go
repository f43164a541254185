package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/msg"
)

const testSegSize = 64 << 10

// uniqHex is a client-style unique id (32 hex digits, like an offset id).
const uniqHex = "0A0B0C0D00002A9F0000000000000042"

type putRecord struct {
	topic string
	queue int32
	res   engine.PutResult
}

// populateDir writes a store with two topics into a temporary directory.
func populateDir(t *testing.T) (string, []putRecord) {
	t.Helper()
	dir := t.TempDir()
	s, err := engine.Open(engine.Options{
		Dir: dir, SegmentSize: testSegSize, FlushMode: commitlog.AsyncFlush, RetentionInterval: -1,
		IndexSlots: 1024, IndexEntriesPerFile: 4096, Logger: toolLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	var puts []putRecord
	for i := 0; i < 400; i++ {
		topic, q := "T", int32(i%3)
		if i%4 == 3 {
			topic, q = "Other", 0
		}
		uk := fmt.Sprintf("U%08d", i)
		if i == 42 {
			uk = uniqHex
		}
		m := &msg.Message{
			Topic: topic, QueueID: q, Body: []byte(fmt.Sprintf("body %d %s", i, strings.Repeat("x", i))),
			Properties:    fmt.Sprintf("UNIQ_KEY\x01%s\x02KEYS\x01k%d shared\x02TAGS\x01tag%d", uk, i, i%2),
			BornTimestamp: time.Now().UnixMilli(), BornHost: netip.MustParseAddrPort("127.0.0.1:5555"),
		}
		res, err := s.Put(m)
		if err != nil {
			t.Fatal(err)
		}
		puts = append(puts, putRecord{topic, q, res})
	}
	if err := s.CommitOffset("G1", "T", 1, 7); err != nil {
		t.Fatal(err)
	}
	if err := s.Meta().PutTopic("T", []byte(`{"topicName":"T","readQueueNums":3}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, puts
}

// run executes the wharf command line in-process.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := NewRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, args...)
	if err != nil {
		t.Fatalf("wharf %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestInspectCheck(t *testing.T) {
	dir, puts := populateDir(t)
	out := mustRun(t, "inspect", "check", "--data", dir)
	if !strings.Contains(out, "OK") || !strings.Contains(out, "400 records") {
		t.Fatalf("check output:\n%s", out)
	}
	var rep engine.CheckReport
	if err := json.Unmarshal([]byte(mustRun(t, "inspect", "check", "--data", dir, "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.ProblemCount != 0 || rep.CommitLog.Records != 400 || rep.EntriesVerified != 400 || rep.IndexProbes == 0 {
		t.Fatalf("json report: %+v", rep)
	}
	// Flip a bit inside the 10th record (in the first, sealed segment).
	victim := puts[10].res.Phys
	seg := filepath.Join(dir, "commitlog", commitlog.SegmentName(0))
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	data[victim+70] ^= 4
	if err := os.WriteFile(seg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "inspect", "check", "--data", dir)
	if err == nil {
		t.Fatalf("check of a damaged store succeeded:\n%s", out)
	}
	want := fmt.Sprintf("PROBLEM commitlog: segment %s +%d (offset %d)", commitlog.SegmentName(0), victim, victim)
	if !strings.Contains(out, want) || !strings.Contains(out, "399 records") {
		t.Fatalf("want %q in:\n%s", want, out)
	}
}

func TestOfflineToolsRefuseBesideABroker(t *testing.T) {
	dir, _ := populateDir(t)
	s, err := engine.Open(engine.Options{Dir: dir, SegmentSize: testSegSize, RetentionInterval: -1, Logger: toolLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, args := range [][]string{
		{"inspect", "check"}, {"inspect", "topics"}, {"inspect", "offset", "0"}, {"replay"}, {"compact"},
	} {
		out, err := run(t, append(args, "--data", dir)...)
		if err == nil || !strings.Contains(err.Error(), "is in use: stop the broker") {
			t.Fatalf("wharf %v beside an open store: %v\n%s", args, err, out)
		}
	}
	for _, args := range [][]string{{"inspect", "topics"}, {"inspect", "check"}, {"replay"}, {"replay", "--rebuild-meta"}, {"compact"}} {
		empty := t.TempDir()
		if _, err := run(t, append(args, "--data", empty)...); err == nil || !strings.Contains(err.Error(), "not a wharf data directory") {
			t.Fatalf("wharf %v on an empty dir: %v", args, err)
		}
		if left, _ := os.ReadDir(empty); len(left) != 0 {
			t.Fatalf("wharf %v wrote into an empty dir: %v", args, left)
		}
	}
}

func TestInspectLookups(t *testing.T) {
	dir, puts := populateDir(t)
	p5 := puts[5]
	// key
	out := mustRun(t, "inspect", "key", "T", "k5", "--data", dir)
	if !strings.Contains(out, fmt.Sprintf("offset %d ", p5.res.Phys)) || !strings.Contains(out, `uniqKey "U00000005"`) ||
		strings.Count(out, "offset ") != 1 {
		t.Fatalf("key k5:\n%s", out)
	}
	var views []recordView
	if err := json.Unmarshal([]byte(mustRun(t, "inspect", "key", "T", "shared", "--max", "1000", "--json", "--data", dir)), &views); err != nil {
		t.Fatal(err)
	}
	if len(views) != 300 || views[0].Offset < views[1].Offset {
		t.Fatalf("key shared: %d records", len(views))
	}
	// id: offset message id, then unique id (which also parses as an
	// offset id that points nowhere).
	out = mustRun(t, "inspect", "id", p5.res.MsgIDs[0], "--data", dir)
	if !strings.Contains(out, fmt.Sprintf("offset %d ", p5.res.Phys)) || !strings.Contains(out, "property KEYS = \"k5 shared\"") {
		t.Fatalf("id %s:\n%s", p5.res.MsgIDs[0], out)
	}
	out = mustRun(t, "inspect", "id", uniqHex, "--data", dir)
	if !strings.Contains(out, fmt.Sprintf("offset %d ", puts[42].res.Phys)) {
		t.Fatalf("id %s:\n%s", uniqHex, out)
	}
	if _, err := run(t, "inspect", "id", "nope", "--data", dir); err == nil {
		t.Fatal("unknown id found")
	}
	// offset
	var v []recordView
	if err := json.Unmarshal([]byte(mustRun(t, "inspect", "offset", fmt.Sprint(p5.res.Phys), "--json", "--data", dir)), &v); err != nil {
		t.Fatal(err)
	}
	if len(v) != 1 || v[0].Topic != "T" || v[0].QueueID != 2 || v[0].QueueOffset != 1 || !v[0].Verified ||
		v[0].Properties["TAGS"] != "tag1" || !strings.HasPrefix(v[0].Body, `"body 5 xxxxx"`) {
		t.Fatalf("offset %d: %+v", p5.res.Phys, v)
	}
	if _, err := run(t, "inspect", "offset", fmt.Sprint(p5.res.Phys+1), "--data", dir); err == nil {
		t.Fatal("decoded a record in the middle of one")
	}
	// queue
	out = mustRun(t, "inspect", "queue", "T", "1", "--from", "2", "--count", "3", "--data", dir)
	if !strings.Contains(out, "queue T/1: offsets [0, 100)") || !strings.Contains(out, "@2 ") || !strings.Contains(out, "@4 ") ||
		strings.Contains(out, "@5 ") || strings.Contains(out, "ERROR") {
		t.Fatalf("queue T/1:\n%s", out)
	}
	// topics
	out = mustRun(t, "inspect", "topics", "--data", dir)
	for _, want := range []string{"Other", "G1", `{"topicName":"T","readQueueNums":3}`} {
		if !strings.Contains(out, want) {
			t.Fatalf("topics: no %q in\n%s", want, out)
		}
	}
	var topics struct {
		Queues          []map[string]any `json:"queues"`
		ConsumerOffsets []map[string]any `json:"consumerOffsets"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "inspect", "topics", "--json", "--data", dir)), &topics); err != nil {
		t.Fatal(err)
	}
	if len(topics.Queues) != 4 || len(topics.ConsumerOffsets) != 1 || topics.ConsumerOffsets[0]["lag"].(float64) != 93 {
		t.Fatalf("topics json: %+v", topics)
	}
}

func TestReplayAndCompact(t *testing.T) {
	dir, _ := populateDir(t)
	small := []string{"--data", dir, "--index-slots", "1024", "--index-entries", "4096"}
	queueBefore := mustRun(t, "inspect", "queue", "T", "0", "--count", "1000", "--json", "--data", dir)
	keyBefore := mustRun(t, "inspect", "key", "T", "shared", "--max", "1000", "--json", "--data", dir)
	out := mustRun(t, append([]string{"replay"}, small...)...)
	if !strings.Contains(out, "into 400 queue entries in 4 queues") || !strings.Contains(out, "MB/s") {
		t.Fatalf("replay:\n%s", out)
	}
	if q := mustRun(t, "inspect", "queue", "T", "0", "--count", "1000", "--json", "--data", dir); q != queueBefore {
		t.Fatalf("queue after replay differs:\n%s\nbefore:\n%s", q, queueBefore)
	}
	if k := mustRun(t, "inspect", "key", "T", "shared", "--max", "1000", "--json", "--data", dir); k != keyBefore {
		t.Fatal("key lookup after replay differs")
	}
	mustRun(t, "inspect", "check", "--data", dir)
	out = mustRun(t, "compact", "--data", dir)
	if !strings.Contains(out, "meta: Pebble files") {
		t.Fatalf("compact:\n%s", out)
	}
	mustRun(t, "inspect", "check", "--data", dir)
	out = mustRun(t, "inspect", "topics", "--data", dir)
	if !strings.Contains(out, "G1") {
		t.Fatalf("offsets lost by replay/compact:\n%s", out)
	}
	// RELIABILITY T30: meta/ and index/ lost entirely. A plain replay
	// refuses (it would start with no topics) and names the remedy;
	// replay --rebuild-meta rebuilds the queues, the index and the topic
	// configs (offsets and group configs are gone with meta/).
	for _, d := range []string{"meta", "index"} {
		if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := run(t, append([]string{"replay"}, small...)...); !errors.Is(err, engine.ErrMetaMissing) ||
		!strings.Contains(err.Error(), "--rebuild-meta") {
		t.Fatalf("replay without meta/: %v", err)
	}
	out = mustRun(t, append([]string{"replay", "--rebuild-meta"}, small...)...)
	if !strings.Contains(out, "recreated 2 topic configs: Other T") || !strings.Contains(out, "consumer offsets were lost") {
		t.Fatalf("replay --rebuild-meta:\n%s", out)
	}
	if q := mustRun(t, "inspect", "queue", "T", "0", "--count", "1000", "--json", "--data", dir); q != queueBefore {
		t.Fatal("queue rebuilt without meta/ differs")
	}
	if k := mustRun(t, "inspect", "key", "T", "shared", "--max", "1000", "--json", "--data", dir); k != keyBefore {
		t.Fatal("key lookup rebuilt without index/ differs")
	}
	mustRun(t, "inspect", "check", "--data", dir)
}
