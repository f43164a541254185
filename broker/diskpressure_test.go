package broker

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/wharfmq/wharf/remoting"
)

// pullBodies pulls topic/q from offset 0 to its end and returns the bodies
// in queue order; any answer but SUCCESS before the end fails the test
// (OFFSET_TOO_SMALL/MOVED means retention removed them).
func pullBodies(t *testing.T, c *testClient, topic string, q int) []string {
	t.Helper()
	var out []string
	off := int64(0)
	for range 1 << 16 {
		resp := c.call(remoting.CodePullMessage, pullExt("CG-check", topic, q, off, 0, 0), nil)
		if resp.Code == remoting.RespPullNotFound && off >= extInt(t, resp, "maxOffset") {
			return out
		}
		expectCode(t, resp, remoting.RespSuccess, fmt.Sprintf("pull %s/%d@%d", topic, q, off))
		for _, r := range decodeAll(t, resp.Body) {
			if r.QueueOffset != off {
				t.Fatalf("pull %s/%d: offset %d where %d was due", topic, q, r.QueueOffset, off)
			}
			out = append(out, string(r.Body))
			off++
		}
	}
	t.Fatalf("%s/%d: no end after %d pulls", topic, q, 1<<16)
	return nil
}

// runtimeTable is GET_BROKER_RUNTIME_INFO's table (wharf admin broker status).
func runtimeTable(t *testing.T, c *testClient) map[string]string {
	t.Helper()
	resp := c.call(remoting.CodeGetBrokerRuntimeInfo, nil, nil)
	expectCode(t, resp, remoting.RespSuccess, "runtime info")
	var kv struct {
		Table map[string]string `json:"table"`
	}
	if err := json.Unmarshal(resp.Body, &kv); err != nil {
		t.Fatal(err)
	}
	return kv.Table
}

// sendUntilRefused sends 1-queue messages of body size to topic until one
// is refused (or limit are acknowledged) and returns the acknowledged
// bodies and the refusal.
func sendUntilRefused(t *testing.T, c *testClient, topic string, size, limit int) ([]string, *remoting.Command) {
	t.Helper()
	pad := strings.Repeat("x", size)
	var acked []string
	for len(acked) < limit {
		body := fmt.Sprintf("m%08d-%s", len(acked), pad)
		resp := c.call(remoting.CodeSendMessage, sendExt(topic, 0, props("KEYS", fmt.Sprintf("k%d", len(acked)))), []byte(body))
		if resp.Code != remoting.RespSuccess {
			return acked, resp
		}
		acked = append(acked, body)
	}
	return acked, nil
}

// sameBodies fails unless got is exactly want.
func sameBodies(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("pulled %d messages from offset 0, %d were acknowledged", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("message %d: pulled %.20q, sent %.20q", i, got[i], want[i])
		}
	}
}
