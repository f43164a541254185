// Package slavesync is a slave's SlaveSynchronize (RocketMQ 4.9,
// shared/HA.md §3): every Interval it pulls four tables from its master's
// listen address and applies them durably, through the stores the broker
// serves from (broker/meta, broker/offsets, broker/schedule, all kept in
// the engine's Pebble metadata):
//
//	code  request                           applied as
//	21    GET_ALL_TOPIC_CONFIG              whole table replaced when the dataVersion differs;
//	                                        the slave's own built-in topics are kept
//	201   GET_ALL_SUBSCRIPTIONGROUP_CONFIG  whole table replaced when the dataVersion differs
//	43    GET_ALL_CONSUMER_OFFSET           merged per queue (below); keys the master lacks are kept
//	45    GET_ALL_DELAY_OFFSET              per delay level, the master's value; levels it lacks are kept
//
// RocketMQ runs the sync every 10 s (5.x: ticks every 3 s, at most once a
// minute); Wharf's default is DefaultInterval, 3 s, so a slave that takes
// over reads metadata at most a few seconds old.
//
// # A round is all or nothing on the wire
//
// A round fetches and decodes all four bodies before it applies any: a
// master that is down, answers an error code or sends a malformed body
// leaves the slave exactly as it was. A master that answers SYSTEM_ERROR
// "No ... in this broker" (what Java answers for a table it cannot encode)
// has an empty table (ErrEmpty): nothing of it is applied, and the round
// still counts as good. A failing round is logged when the state changes
// (first failure, a different error, recovery), not every round.
//
// Entries the slave cannot take are left out of the tables, each named in
// a warning when the master's table version changes: a name its store
// cannot hold (engine.CheckName) and a topic with more queues than
// body.MaxQueueNums. One such entry must not fail the round: the tables
// after it (consumer and delay offsets) would never sync again.
//
// # Consumer offsets never go backwards because the master was away
//
// RocketMQ's slave overwrites its offsets with the master's every round
// (putAll). Consumers that committed to the slave while the master was
// down lose those commits when it returns with its old offsets, and
// re-consume (apache/rocketmq#1094). Here, for each (group, topic, queue),
// the slave remembers M', the master's value at the previous sync, and
// with the master's value now M and its own L:
//
//	nothing remembered (first sync)  store max(L, M); M if there is no L
//	M == M'                          keep L (the master did not move; L may hold newer slave commits)
//	M != M', M >= L                  store M (the master moved forward)
//	M != M', L == M'                 store M (the slave took no commit since: a reset on the master)
//	M != M', M < L, L != M'          keep L (commits on the slave are newer than the master's)
//
// L != M' means "the slave committed since it last applied the master":
// after a sync that applies M, L == M'. So a slave ahead of its master
// stays ahead until the master passes it, and an explicit reset on the
// master (which moves M backwards) is applied unless the slave holds
// commits of its own for that queue: then the slave keeps its higher value
// until the master passes it. Master values below 0 ("none") are ignored.
//
// M' is stored durably, as a consumer offset of the reserved group
// StateGroupPrefix+group (under meta.ReservedGroupPrefix, which clients
// may not use, as schedule.OffsetGroup is), after the group's own offset,
// so a crash between the two writes makes the next round apply M again,
// never keep a stale L. The master's GET_ALL_CONSUMER_OFFSET leaves these groups out.
package slavesync
