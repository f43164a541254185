package broker

import (
	"strconv"
	"testing"
	"time"

	"github.com/wharfmq/wharf/remoting"
)

// A pull that reaches a closing broker (read while Close drains the
// connections) is answered SERVICE_NOT_AVAILABLE, and the offset it
// carries is still committed: it is the consumer's progress.
func TestPullDuringCloseCommitsItsOffset(t *testing.T) {
	cfg := testConfig(t.TempDir())
	b := startBroker(t, cfg)
	c := newTestClient(t, b.Addr())
	for i := range 4 {
		c.send("SD", 0, "", "m"+strconv.Itoa(i))
	}
	c.call(remoting.CodeHeartBeat, nil, heartbeatBody("1.2.3.4@5", "SDG", 1, "SD"))
	waitDispatched(t, b)

	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	eventually(t, 5*time.Second, "Close began", b.closing)
	ext := pullExt("SDG", "SD", 0, 4, pullCommitOffset|pullSuspend, 1000)
	ext["commitOffset"] = "4"
	resp := c.call(remoting.CodePullMessage, ext, nil)
	expectCode(t, resp, remoting.RespServiceNotAvailable, "pull while the broker closes")
	if err := <-closed; err != nil {
		t.Fatal(err)
	}

	b2 := startBroker(t, cfg)
	resp = newTestClient(t, b2.Addr()).call(remoting.CodeQueryConsumerOffset,
		map[string]string{"consumerGroup": "SDG", "topic": "SD", "queueId": "0"}, nil)
	if resp.Code != remoting.RespSuccess || resp.ExtFields["offset"] != "4" {
		t.Fatalf("offset committed by the pull during Close: code %d %v, want 4", resp.Code, resp.ExtFields)
	}
}
