// Package broker is Wharf's RocketMQ 4.x-compatible broker: an engine.Store,
// a remoting.Server with one processor per request code, and the
// registration loop that keeps the name servers informed. The official
// clients (rocketmq-client-go v2, the Java client) work against it unchanged.
//
// # Requests served
//
//	10/310/320 SEND_MESSAGE(_V2) / SEND_BATCH_MESSAGE   send.go
//	11 PULL_MESSAGE, long polling                      pull.go, longpoll.go
//	14/15/29/30/31/32 consumer offsets and queue range  offset.go
//	34/35/38 HEART_BEAT, UNREGISTER_CLIENT, consumers  heartbeat.go, clients.go
//	41/42 LOCK_BATCH_MQ / UNLOCK_BATCH_MQ              lock.go
//	17/21/201/215 topic and group admin                admin.go
//	12/33 QUERY_MESSAGE, VIEW_MESSAGE_BY_ID            query.go
//
// The broker sends REGISTER_BROKER (103) to every name server at start,
// every registerNameServerPeriod and at once after any topic change, and
// UNREGISTER_BROKER (104) on Close; and NOTIFY_CONSUMER_IDS_CHANGED (40),
// oneway, to a consumer group when a member joins, leaves (connection close
// or 120 s without heartbeat) or changes its subscription to a higher
// subVersion (trap T18).
//
// Every ext value the broker writes is a string (trap T2). Bad requests
// (missing or malformed ext fields, bad JSON bodies) get code 1 with a remark
// naming the problem; nothing a client sends panics the broker.
//
// # Choices where RocketMQ leaves room
//
//   - Start offset of a new group (trap T7). QUERY_CONSUMER_OFFSET answers the
//     committed offset if there is one. Otherwise, like Java's "offset 0 is
//     still in memory", it answers 0 when the queue still starts at offset 0
//     and is young: it does not exist yet, or holds fewer than 1000 messages,
//     or its first message is less than 10 minutes old. So a new group on a
//     young topic sees the messages produced before it started, even with
//     CONSUME_FROM_LAST_OFFSET. Otherwise it answers 22 QUERY_NOT_FOUND and
//     the client falls back to its consumeFromWhere.
//   - Subscription of a pull. With the SUBSCRIPTION bit the request's tag
//     expression is used; otherwise the group's subscription from the latest
//     heartbeat, built from the tag strings (trap T9). When no heartbeat has
//     told the subscription yet (a pull racing the first heartbeat after a
//     reconnect) the pull is served unfiltered instead of failing with 24:
//     clients filter by tag again after every pull.
//   - Long polling. Pulls that find nothing (19) with the SUSPEND bit are
//     held per queue until a message is dispatched past their offset or
//     suspendTimeoutMillis passes (capped at 25 s, below the Go client's
//     30 s), then re-run and answered. Held pulls are answered on Close.
//     OFFSET_FOUND_NULL (a hole) is answered at once, never held.
//   - Queue locks (orderly consumers) live 60 s and are also released at
//     once when the holding connection closes.
//   - Transactional (TRAN_MSG) sends are refused with 16 NO_PERMISSION until
//     transactions are implemented; DELAY is stored but not yet honoured.
//   - Only a master (brokerId 0) is supported.
package broker
