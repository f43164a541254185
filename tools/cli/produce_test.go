package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfmq/wharf/tools/admin"
)

// runWharf runs `wharf args...` in process with stdin.
func runWharf(stdin string, args ...string) (string, error) {
	var out bytes.Buffer
	root := NewRoot()
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// TestProduceConsume: produce sends stdin lines (with keys from the line)
// and files; consume prints them back with a format, from the beginning,
// from the end minus N, and as a group that commits what it printed.
func TestProduceConsume(t *testing.T) {
	c := startCluster(t)
	const topic = "PCT"
	c.must("topic", "create", topic, "--queues", "2", "-b", c.b.Addr())
	ns := c.ns.Addr()
	c.eventually("route of "+topic, func() bool {
		_, err := c.admin("topic", "route", topic)
		return err == nil
	})

	out, err := runWharf("k1\tone\nk2\ttwo\nk3\tthree\n", "produce", "-n", ns, "-t", topic, "-K", "--tag", "TA", "-k", "common")
	if err != nil {
		t.Fatalf("produce: %v\n%s", err, out)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "SEND_OK ") {
		t.Fatalf("produce printed %q", out)
	}
	file := filepath.Join(t.TempDir(), "m.txt")
	if err := os.WriteFile(file, []byte("whole\nfile"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runWharf("", "produce", "-b", c.b.Addr(), "-t", topic, "--file", file, "--json")
	var sr admin.SendResult
	if err != nil || json.Unmarshal([]byte(out), &sr) != nil || sr.MsgID == "" || len(sr.MsgID) != 32 || sr.Broker != c.b.Addr() {
		t.Fatalf("produce --file: %v %q", err, out)
	}
	if _, err := runWharf("no delimiter\n", "produce", "-n", ns, "-t", topic, "-K"); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("line without a key: %v", err)
	}
	if _, err := runWharf("x\n", "produce", "-n", ns, "-t", "NoSuchTopicPC"); err == nil {
		t.Fatal("produce to a missing topic succeeded")
	}

	// Everything from the beginning, then stop at the end.
	out, err = runWharf("", "consume", "-n", ns, "-t", topic, "-e", "--format", `%t|%k|%g|%b\n`)
	if err != nil {
		t.Fatalf("consume: %v\n%s", err, out)
	}
	for _, want := range []string{"PCT|common k1|TA|one\n", "PCT|common k3|TA|three\n", "PCT|||whole\nfile\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("consume output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "PCT|"); n != 4 {
		t.Fatalf("consume printed %d messages:\n%s", n, out)
	}
	// -c stops after N; -o -1 starts one before each queue's end.
	out, err = runWharf("", "consume", "-b", c.b.Addr(), "-t", topic, "-c", "1", "--format", `%q:%o\n`)
	if err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("consume -c 1: %v %q", err, out)
	}
	out, err = runWharf("", "consume", "-n", ns, "-t", topic, "-o", "-1", "-e", "--format", `%o `)
	if err != nil || strings.Count(out, " ") != 2 {
		t.Fatalf("consume -o -1: %v %q", err, out)
	}

	// A group: reads 3, commits, and the next run starts after them.
	out, err = runWharf("", "consume", "-n", ns, "-t", topic, "-g", "PCG", "-o", "beginning", "-c", "3", "--json")
	if err != nil || strings.Count(out, "\n") != 3 {
		t.Fatalf("consume -g -c 3: %v %q", err, out)
	}
	var m struct {
		Topic string `json:"topic"`
		Body  string `json:"body"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &m); err != nil || m.Topic != topic || m.Body == "" {
		t.Fatalf("consume --json line: %v %+v", err, m)
	}
	out, err = runWharf("", "consume", "-n", ns, "-t", topic, "-g", "PCG", "-e", "--format", `%b;`)
	if err != nil || strings.Count(out, ";") != 1 {
		t.Fatalf("second group run printed %q (%v), want the 1 message left", out, err)
	}

	if _, err := runWharf("", "consume", "-n", ns, "-t", topic, "--format", "%x"); err == nil || !strings.Contains(err.Error(), "%x") {
		t.Fatalf("unknown placeholder: %v", err)
	}
	if _, err := runWharf("", "consume", "-n", ns, "-t", topic, "-o", "later"); err == nil {
		t.Fatal("-o later accepted")
	}
}
