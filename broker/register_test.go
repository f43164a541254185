package broker

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
)

// TestRegistration: the broker registers TBW102 at start, a topic created
// by a send is routable when the send returns, and Close unregisters.
func TestRegistration(t *testing.T) {
	ns := startNameServer(t, nil)
	cfg := testConfig(t.TempDir())
	cfg.NamesrvAddr = "127.0.0.1:1;" + ns.Addr() // a dead name server must not stop the live one
	b := startBroker(t, cfg)
	nsc := newTestClient(t, ns.Addr())
	route := func(topic string) *remoting.Command {
		return nsc.call(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": topic}, nil)
	}
	var tbw *remoting.Command
	eventually(t, 10e9, "TBW102 route", func() bool { tbw = route(systopic.AutoCreate); return tbw.Code == 0 })
	var rd struct {
		BrokerDatas []struct {
			BrokerAddrs map[string]string `json:"brokerAddrs"`
		} `json:"brokerDatas"`
		QueueDatas []struct {
			Perm           int `json:"perm"`
			WriteQueueNums int `json:"writeQueueNums"`
		} `json:"queueDatas"`
	}
	if err := json.Unmarshal(tbw.Body, &rd); err != nil || len(rd.BrokerDatas) != 1 || rd.BrokerDatas[0].BrokerAddrs["0"] != b.Addr() ||
		rd.QueueDatas[0].Perm != 7 || rd.QueueDatas[0].WriteQueueNums != 8 {
		t.Fatalf("TBW102 route %s (%v)", tbw.Body, err)
	}
	newTestClient(t, b.Addr()).send("RegT", 0, "", "x")
	expectCode(t, route("RegT"), remoting.RespSuccess, "route right after the auto-creating send")
	b.Close()
	expectCode(t, route("RegT"), remoting.RespTopicNotExist, "route after Close")
}

// TestRegistrationRoundsWithSeveralNameServers: one registration round
// sends the same increment to every name server at once; each call must
// get its own reply (a request shared between concurrent calls had its
// opaque overwritten, so one call matched no reply and waited out its 5 s
// timeout, and a controller-mode CREATE_TOPIC with it). Every round of
// topic changes completes well within that timeout, on all three.
func TestRegistrationRoundsWithSeveralNameServers(t *testing.T) {
	nss := []*nameserver.Server{startNameServer(t, nil), startNameServer(t, nil), startNameServer(t, nil)}
	cfg := testConfig(t.TempDir())
	cfg.NamesrvAddr = nss[0].Addr() + ";" + nss[1].Addr() + ";" + nss[2].Addr()
	b := startBroker(t, cfg)
	if !b.reg.registerWithin(5 * time.Second) {
		t.Fatal("the first registration did not end within 5 s")
	}
	for i := range 100 {
		topic := fmt.Sprintf("Rounds%d", i)
		if err := b.topics.Put(meta.NewTopicConfig(topic, 1, body.PermRead|body.PermWrite)); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		if !b.reg.registerWithin(2 * time.Second) {
			t.Fatalf("round %d did not end within 2 s", i)
		}
		if d := time.Since(began); d > time.Second {
			t.Logf("round %d took %v", i, d)
		}
	}
	for _, ns := range nss {
		nsc := newTestClient(t, ns.Addr())
		expectCode(t, nsc.call(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": "Rounds99"}, nil),
			remoting.RespSuccess, "route of the last topic on "+ns.Addr())
	}
}
