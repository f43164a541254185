package broker

import (
	"encoding/json"
	"testing"

	"github.com/wharfmq/wharf/remoting"
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
