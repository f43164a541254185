package broker

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/wharfmq/wharf/broker/brokerstats"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// The statistics VIEW_BROKER_STATS_DATA serves (RocketMQ's
// BrokerStatsManager names) and what their key is.
const (
	statsTopicPutNums  = "TOPIC_PUT_NUMS"  // key: topic
	statsTopicPutSize  = "TOPIC_PUT_SIZE"  // key: topic
	statsGroupGetNums  = "GROUP_GET_NUMS"  // key: topic@group
	statsGroupGetSize  = "GROUP_GET_SIZE"  // key: topic@group
	statsBrokerPutNums = "BROKER_PUT_NUMS" // key: the cluster name
	statsBrokerGetNums = "BROKER_GET_NUMS" // key: the cluster name
)

// statsItem finds the counter of a statistic; ok is false for a name
// Wharf does not keep or a key it has no counter for.
func (b *Broker) statsItem(name, key string) (*brokerstats.Item, bool) {
	t := b.traffic
	switch name {
	case statsTopicPutNums, statsTopicPutSize:
		s, ok := t.topics.Lookup(key)
		if !ok {
			return nil, false
		}
		if name == statsTopicPutNums {
			return &s.putNums, true
		}
		return &s.putSize, true
	case statsGroupGetNums, statsGroupGetSize:
		topic, group, ok := strings.Cut(key, "@")
		if !ok {
			return nil, false
		}
		s, ok := t.groups.Lookup(groupKey{topic, group})
		if !ok {
			return nil, false
		}
		if name == statsGroupGetNums {
			return &s.getNums, true
		}
		return &s.getSize, true
	case statsBrokerPutNums, statsBrokerGetNums:
		if key != b.cfg.BrokerClusterName {
			return nil, false
		}
		if name == statsBrokerPutNums {
			return &t.brokerPut, true
		}
		return &t.brokerGet, true
	}
	return nil, false
}

// handleViewBrokerStatsData serves VIEW_BROKER_STATS_DATA (315): header
// statsName and statsKey; body BrokerStatsData, the sum, per-second rate
// and per-call average of the statistic over the last minute, hour and day
// ({"statsDay":{"avgpt":..,"sum":..,"tps":..},"statsHour":..,"statsMinute":..},
// fastjson's key order). An unknown statistic or key is SYSTEM_ERROR with
// Java's remark, which mqadmin and rocketmq-exporter expect for a topic
// or group that had no traffic yet.
func (b *Broker) handleViewBrokerStatsData(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	name, err := req.ExtString("statsName")
	if err != nil {
		return badRequest(req, err)
	}
	key, err := req.ExtString("statsKey")
	if err != nil {
		return badRequest(req, err)
	}
	it, ok := b.statsItem(name, key)
	if !ok {
		return remoting.NewResponse(req, remoting.RespSystemError, fmt.Sprintf("The stats <%s> <%s> not exist", name, key))
	}
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.Body = appendBrokerStatsData(make([]byte, 0, 256), it.Day(), it.Hour(), it.Minute())
	return resp
}

func appendBrokerStatsData(out []byte, day, hour, minute brokerstats.Window) []byte {
	item := func(out []byte, w brokerstats.Window) []byte {
		out = append(out, `{"avgpt":`...)
		out = body.AppendJavaDouble(out, w.Avgpt)
		out = append(out, `,"sum":`...)
		out = strconv.AppendInt(out, w.Sum, 10)
		out = append(out, `,"tps":`...)
		out = body.AppendJavaDouble(out, w.TPS)
		return append(out, '}')
	}
	out = append(out, `{"statsDay":`...)
	out = item(out, day)
	out = append(out, `,"statsHour":`...)
	out = item(out, hour)
	out = append(out, `,"statsMinute":`...)
	out = item(out, minute)
	return append(out, '}')
}
