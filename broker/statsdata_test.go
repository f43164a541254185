package broker

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/brokerstats"
	"github.com/wharfmq/wharf/remoting"
)

// brokerStatsData is Java's BrokerStatsData, as mqadmin decodes it.
type brokerStatsData struct {
	StatsMinute, StatsHour, StatsDay struct {
		Sum   int64   `json:"sum"`
		TPS   float64 `json:"tps"`
		Avgpt float64 `json:"avgpt"`
	}
}

func decodeStatsData(t *testing.T, body []byte, sd *brokerStatsData) {
	t.Helper()
	if err := json.Unmarshal(body, sd); err != nil {
		t.Fatalf("BrokerStatsData %q: %v", body, err)
	}
}

// TestViewBrokerStatsData serves VIEW_BROKER_STATS_DATA (315) for the
// statistics RocketMQ's tools ask: per topic puts, per topic@group gets,
// per broker; unknown ones are SYSTEM_ERROR with Java's remark.
func TestViewBrokerStatsData(t *testing.T) {
	b := startBroker(t, testConfig(t.TempDir()))
	c := newTestClient(t, b.Addr())
	const topic, group = "StatsDataT", "StatsDataG"
	createTopic(t, c, topic, 1)
	for range 3 {
		expectCode(t, c.send(topic, 0, "", "hello"), remoting.RespSuccess, "send")
	}
	waitDispatched(t, b)
	pull := c.call(remoting.CodePullMessage, pullExt(group, topic, 0, 0, 0, 0), nil)
	expectCode(t, pull, remoting.RespSuccess, "pull")
	b.traffic.sampler.SnapshotItems(time.Now())

	view := func(name, key string) *remoting.Command {
		return c.call(remoting.CodeViewBrokerStatsData, map[string]string{"statsName": name, "statsKey": key}, nil)
	}
	for _, tc := range []struct {
		name, key string
		sum       int64
		avgpt     float64
	}{
		{statsTopicPutNums, topic, 3, 1},
		{statsTopicPutSize, topic, 15, 5},
		{statsGroupGetNums, topic + "@" + group, 3, 3},
		{statsGroupGetSize, topic + "@" + group, int64(len(pull.Body)), float64(len(pull.Body))},
		{statsBrokerPutNums, b.cfg.BrokerClusterName, 3, 1},
		{statsBrokerGetNums, b.cfg.BrokerClusterName, 3, 3},
	} {
		resp := view(tc.name, tc.key)
		expectCode(t, resp, remoting.RespSuccess, tc.name)
		if !strings.HasPrefix(string(resp.Body), `{"statsDay":{"avgpt":`) {
			t.Errorf("%s body %s: not in fastjson's key order", tc.name, resp.Body)
		}
		var sd brokerStatsData
		decodeStatsData(t, resp.Body, &sd)
		if sd.StatsMinute.Sum != tc.sum || sd.StatsMinute.Avgpt != tc.avgpt || sd.StatsMinute.TPS <= 0 || sd.StatsDay.Sum != tc.sum {
			t.Errorf("%s %s: %+v, want sum %d avgpt %v", tc.name, tc.key, sd, tc.sum, tc.avgpt)
		}
	}
	for _, tc := range [][2]string{{statsTopicPutNums, "NoSuchTopic"}, {"NO_SUCH_STATS", topic}, {statsGroupGetNums, topic},
		{statsBrokerPutNums, "OtherCluster"}} {
		resp := view(tc[0], tc[1])
		if want := "The stats <" + tc[0] + "> <" + tc[1] + "> not exist"; resp.Code != remoting.RespSystemError || resp.Remark != want {
			t.Errorf("%v: code %d remark %q, want 1 %q", tc, resp.Code, resp.Remark, want)
		}
	}
	expectCode(t, c.call(remoting.CodeViewBrokerStatsData, map[string]string{"statsName": statsTopicPutNums}, nil),
		remoting.RespSystemError, "no statsKey")
}

func TestBrokerStatsDataBody(t *testing.T) {
	got := string(appendBrokerStatsData(nil, brokerstats.Window{Sum: 7, TPS: 0.5, Avgpt: 3.5}, brokerstats.Window{}, brokerstats.Window{Sum: 1, TPS: 2, Avgpt: 1}))
	want := `{"statsDay":{"avgpt":3.5,"sum":7,"tps":0.5},"statsHour":{"avgpt":0.0,"sum":0,"tps":0.0},"statsMinute":{"avgpt":1.0,"sum":1,"tps":2.0}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
