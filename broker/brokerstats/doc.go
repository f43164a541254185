// Package brokerstats keeps the broker's traffic counters and the windows
// RocketMQ reports them over:
//
//   - Table: per-key counters (a topic; a topic and a consumer group)
//     looked up without allocating on the send and pull paths, bounded to
//     a number of keys beyond which traffic is counted under one overflow
//     key, so a client inventing topics cannot grow memory or metric
//     cardinality without limit.
//   - Item: a counter (value and number of calls) with the minute, hour
//     and day snapshots of RocketMQ's StatsItem, for VIEW_BROKER_STATS_DATA.
//   - Rates: samples of the broker-wide counters once a second, for the
//     "10 s, 1 min, 10 min" rates of GET_BROKER_RUNTIME_INFO (putTps,
//     getTotalTps, ...), as RocketMQ's StoreStatsService.
//
// It is plain Go: the broker feeds it and asks it; the Sampler owns the
// one goroutine that takes the snapshots.
package brokerstats
