// Package broker is Wharf's RocketMQ 4.x-compatible broker: an engine.Store,
// a remoting.Server with one processor per request code, and the
// registration loop that keeps the name servers informed. The official
// clients (rocketmq-client-go v2, the Java client) work against it unchanged.
//
// # Requests served
//
//	10/310/320 SEND_MESSAGE(_V2) / SEND_BATCH_MESSAGE   send.go
//	11 PULL_MESSAGE, long polling                      pull.go, longpoll.go (longpoll/)
//	14/15/29/30/31/32 consumer offsets and queue range  offset.go (offsets/)
//	34/35/38 HEART_BEAT, UNREGISTER_CLIENT, consumers  heartbeat.go (client/)
//	41/42 LOCK_BATCH_MQ / UNLOCK_BATCH_MQ              lock.go (client/)
//	17/21/201/215 topic and group admin                admin.go
//	12/33 QUERY_MESSAGE, VIEW_MESSAGE_BY_ID            query.go
//	36 CONSUMER_SEND_MSG_BACK (retry, dead letters)    sendback.go (retry/)
//	37 END_TRANSACTION                                 transaction.go
//	324/325 SEND_REPLY_MESSAGE(_V2), request-reply     reply.go
//	222 INVOKE_BROKER_TO_RESET_OFFSET                  reset.go (offsets/)
//
// With traceTopicEnable the trace topic (msgTraceTopicName) exists from the
// start, for clients that send message traces (WithTrace).
//
// Delayed messages (DELAY property) are delivered by package schedule;
// transaction check-backs (CHECK_TRANSACTION_STATE, 39) are sent by
// package transaction (the wire request is built in transaction.go).
//
// The broker registers with every name server (register.go): its whole
// topic table at start and whenever a name server lacks it, compressed
// (compressedRegister) and split into REGISTER_BROKER (103) requests of at
// most splitRegistrationSize topics; only the changed topics after a topic
// change; and every registerNameServerPeriod a QUERY_DATA_VERSION (322),
// which keeps it alive without carrying the table. maxTopicNums caps the
// table. It sends UNREGISTER_BROKER (104) on Close; and NOTIFY_CONSUMER_IDS_CHANGED (40),
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
//     clients filter by tag again after every pull. With
//     enablePropertyFilter on it fails with 24, as in RocketMQ: a SQL92
//     consumer does not filter again, and the client retries until its next
//     heartbeat (at most 30 s) registers the subscription.
//   - SQL92 subscriptions (enablePropertyFilter, false by default as in
//     RocketMQ; then a SQL92 pull fails with SYSTEM_ERROR "The broker does not
//     support consumer to filter message by SQL92", which the Go push consumer
//     logs before retrying every 3 s; the heartbeat itself succeeds, as in
//     RocketMQ). When enabled, package sqlfilter evaluates the expression on
//     each message's properties with RocketMQ's semantics. A pull carrying a
//     SQL92 expression that does not compile gets 23 SUBSCRIPTION_PARSE_FAILED
//     with the error (RocketMQ's PullMessageProcessor then silently serves
//     everything); one from the heartbeat gets 27 FILTER_DATA_NOT_EXIST, as in
//     RocketMQ. Every examined record is read (no tag codes or blooms); a pull
//     stops after max(800, maxMsgNums) entries or 1 MiB of rejected records
//     and, finding none, answers 20 with nextBeginOffset past them, like a tag
//     miss. The Go client's lite pull consumer (Poll) labels every expression
//     TAG, so a SQL92 selector there is read as a tag, on RocketMQ too.
//   - Long polling. Pulls that find nothing (19) with the SUSPEND bit are
//     held per queue until a message is dispatched past their offset or
//     suspendTimeoutMillis passes (capped at 25 s, below the Go client's
//     30 s), then re-run and answered. Held pulls, and pulls arriving while
//     the broker closes, are answered with SERVICE_NOT_AVAILABLE: after
//     "nothing new" a client pulls again at once on the closing connection
//     and the Go client waits out its 30 s request timeout; after an error
//     it waits 3 s and reconnects, so a consumer resumes about 3 s after a
//     restart.
//     OFFSET_FOUND_NULL (a hole) is answered at once, never held.
//   - maxMsgNums of a pull. Zero or negative serves one message, as RocketMQ
//     does (its batch is never full before the first message). The Go
//     client's lite pull consumer (Poll/ACK) sends 0 unless built with
//     WithPullBatchSize.
//   - Request-reply. A reply is pushed (PUSH_REPLY_MESSAGE_TO_CLIENT, 326)
//     to the requester named by its REPLY_TO_CLIENT. RocketMQ looks that
//     client up among producer heartbeats only, so a reply to a Go requester
//     whose first heartbeat has not reached the broker yet is lost (the Go
//     client's own RPC example sleeps a second for this). Wharf also
//     remembers the connection each request message came on, and pushes
//     there when no heartbeat names the client.
//   - Queue locks (orderly consumers) live 60 s and are also released at
//     once when the holding connection closes.
//   - Only a master (brokerId 0) is supported.
//
// # Retries and dead letters
//
// A clustering consumer whose handler fails sends the message back with
// CONSUMER_SEND_MSG_BACK (group, the message's CommitLog offset, delayLevel,
// maxReconsumeTimes). As in RocketMQ 4.9, the broker reads the original
// record and stores a copy with the same body, flag, sysFlag, born time and
// host and properties (so TAGS, KEYS and UNIQ_KEY, hence the client's
// MsgId, are kept), plus RETRY_TOPIC = the original topic (if not already
// set) and ORIGIN_MESSAGE_ID = the offset id of the first failed record (if
// not already set), and the record's reconsumeTimes field incremented. The
// copy goes to %RETRY%<group> (retryQueueNums queues, created at the group's
// first heartbeat and on send-back) behind delay level delayLevel, or
// 3 + reconsumeTimes when delayLevel is 0. When the original's
// reconsumeTimes has reached maxReconsumeTimes (header; else the group's
// retryMaxTimes, 16) or delayLevel < 0, the copy goes at once to
// %DLQ%<group> instead: 1 queue, created on demand with perm 6 (read and
// write, as 4.9.x does; older releases made it write-only, which only stops
// tools from reading it). New retry and DLQ topics are registered with the
// name servers at once. Answers: 0; 26 when the group does not exist (and
// autoCreateSubscriptionGroup is off); 1 "look message by offset failed"
// when no record starts at offset; 1 for a missing or malformed field.
//
// A plain send to %RETRY%<group> (the Go client's fallback when send-back
// fails) follows Java's handleRetryAndDLQ: reconsumeTimes >=
// maxReconsumeTimes (header, else the group's) sends it to the DLQ. This
// rule applies to %RETRY% topics only (trap T13).
//
// The Go push consumer subscribes to %RETRY%<group> itself and renames a
// retried message's topic back to RETRY_TOPIC before calling the handler.
// A consumer that starts before its group's retry topic exists (a brand-new
// group: the topic is created by its first heartbeat, after the client
// looked up its routes) pulls the retry topic only after its periodic route
// refresh and rebalance, about 20 s later with rocketmq-client-go v2, as
// with a Java broker; nothing is lost meanwhile.
//
// # Delayed messages
//
// A single (non-batch) message with DELAY=n > 0 (WithDelayTimeLevel) is
// stored in SCHEDULE_TOPIC_XXXX, queue n-1, with its real topic and queue in
// REAL_TOPIC and REAL_QID; levels past the last are clamped to it, a
// non-numeric DELAY is refused with 13. messageDelayLevel sets the levels
// (default "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";
// Wharf also accepts "ms"). The consume-queue tags code of such an entry is
// its delivery time, store time + the level's delay, as in RocketMQ (an
// engine hook computes it at dispatch, so it is rebuilt identically after a
// crash).
//
// One goroutine per level reads its queue in order. When the head is due it
// stores a new record in the real topic and queue: properties minus DELAY
// (REAL_TOPIC/REAL_QID stay), everything else kept, a new store time and
// offsets. Otherwise it sleeps on a timer until the head's delivery time;
// an idle level wakes when the dispatcher reports a new entry. A head whose
// delivery time lies further ahead than the level's delay (clock moved
// back, level shortened) is delivered at once, as Java does.
//
// Progress is stored per level as the consumer offset of the reserved group
// "wharf:schedule" on SCHEDULE_TOPIC_XXXX, after the delivered records are
// synced to disk. A restart, clean or kill -9, therefore neither loses a
// pending delayed message nor delivers one early; after a crash the
// messages delivered since the last stored offset (at most one batch of 64
// per level) are delivered again: delivery is at-least-once, and consumers
// see a duplicate with the same UNIQ_KEY (MsgId). Delayed messages older
// than fileReservedTime are removed by retention like any other.
//
// # Transactional messages
//
// As in RocketMQ 4.x. A single message sent with TRAN_MSG=true (the Go
// TransactionProducer also sets PGROUP and the prepared sysFlag bit) is
// stored as a half message: topic RMQ_SYS_TRANS_HALF_TOPIC (1 queue,
// created on first use), queue 0, its real topic and queue in REAL_TOPIC and
// REAL_QID, the sysFlag transaction bits cleared. It is dispatched to the
// half topic's queue only, so no consumer of the real topic sees it. The
// answer is a normal SEND_OK: msgId the half's offset id, queueId the
// requested queue, queueOffset the half-queue offset; the producer sends
// both back in END_TRANSACTION (commitLogOffset, tranStateTableOffset).
// rejectTransactionMessage=true refuses such sends with 16; a batch with
// TRAN_MSG is refused with 13. A half message is never delayed or routed to
// a DLQ; DELAY applies to the committed message, from the commit on.
//
// END_TRANSACTION (37) reads the record at commitLogOffset and checks it is
// a half message, that its PGROUP equals producerGroup and its queue offset
// equals tranStateTableOffset (1 with Java's remarks otherwise; missing or
// malformed fields, a commitOrRollback other than 0, 8, 12, an offset that
// does not start a record: 1 with a remark; a oneway request is never
// answered). Commit (8) stores the message in its real topic and queue:
// same body, flag, born time and host, properties minus REAL_TOPIC/REAL_QID
// (TRAN_MSG, PGROUP and UNIQ_KEY stay, so the Go consumer sets
// TransactionId), sysFlag transaction bits = commit,
// preparedTransactionOffset = the half's CommitLog offset. Commit and
// rollback (12) then write an op record to RMQ_SYS_TRANS_OP_HALF_TOPIC:
// tag "d", body the half-queue offset (as Java), plus
// TRAN_PREPARED_QUEUE_OFFSET = the transaction's first half. Unknown (0)
// does nothing. Ending is idempotent per transaction: a repeated or
// contrary END for any half of a transaction already ended answers 0 with
// the remark "transaction already ended" and stores nothing (Java would
// deliver a second commit twice).
//
// Check-back. Every transactionCheckInterval (60 s) one goroutine reads the
// half queue from its stored progress up to the end seen at the start of
// the pass. A half whose transaction ended is skipped. One born less than
// transactionTimeOut (6 s) ago stops the pass, unless its
// CHECK_IMMUNITY_TIME_IN_SECONDS is longer: then it is copied unchanged to
// the back of the queue until that time has passed (Java does the same). A
// half checked transactionCheckMax (15) times already, or older than
// fileReservedTime, is copied to TRANS_CHECK_MAX_TIME_TOPIC (1 queue) and
// gets an op record: it is never delivered nor checked again. Otherwise the
// half is copied to the back of the half queue with
// TRANSACTION_CHECK_TIMES + 1 and TRAN_PREPARED_QUEUE_OFFSET = its first
// half, and CHECK_TRANSACTION_STATE (39) is sent oneway to the producer of
// group PGROUP whose heartbeat is the latest: header
// tranStateTableOffset/commitLogOffset of the copy, msgId and transactionId
// = UNIQ_KEY, offsetMsgId; body the copy encoded as a stored record with
// topic and queue set back to the real ones. Without a live producer the
// check is lost (logged) and the next pass asks again, counting it. The
// producer's END_TRANSACTION names the copy. Note that the Go client only
// heartbeats a broker it has sent to, 1 s after start and then every 30 s:
// a producer that starts after the broker restarted is asked only once it
// sent something and heartbeated.
//
// State and restarts. The broker keeps in memory, per transaction that was
// checked or ended while one of its halves is still ahead of the progress,
// its newest half and its op record. The progress, half-queue and op-queue
// offsets, is stored as the consumer offsets of the reserved group
// "wharf:transaction", after every pass and on Close; the half offset only
// once everything written before it (copies, ops, committed messages) is
// synced to disk. At start the state is rebuilt from the halves and ops
// after the stored offsets, so a restart, clean or not, resumes the checks
// where they were, with their counts. After a crash some work since the
// last stored progress can repeat: a half is asked again (at-least-once
// checking), and a commit whose op record was lost can be stored twice (a
// duplicate with the same UNIQ_KEY); a committed message is never lost and
// a rolled-back one never delivered.
package broker
