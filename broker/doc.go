// Package broker is Wharf's RocketMQ 4.x-compatible broker. The official
// clients (rocketmq-client-go v2, the Java client) work against it
// unchanged.
//
// The root package is the assembly and the wire adapters only. New opens
// an engine.Store, builds the services and wires them together; each
// request code has a handler that decodes the header, calls a service and
// encodes the reply. What a request does, by RocketMQ's rules, lives in
// the service packages:
//
//	config/       Config, defaults, Validate, the broker.conf loader
//	meta/         topic and group tables, built-in and system topics (System),
//	              name rules, DataVersion, change hook (Drain/OnChange)
//	client/       producer/consumer registry, subscriptions, expiry,
//	              queue locks
//	longpoll/     held pulls: park, notify, expire, close
//	offsets/      offset commits, the new-group start rule, resets
//	retry/        send-back rules, %RETRY% -> %DLQ%
//	schedule/     delay levels and their delivery
//	transaction/  half/op state, END_TRANSACTION, check-back
//	sqlfilter/    SQL92 filter: compile, evaluate (a library)
//	brokerstats/  bounded traffic tables, StatsItem windows, rate sampler
//	              (a library; metrics.go and traffic.go feed and read it)
//	ha/           classic HA: wire format, master and slave services,
//	              SYNC_MASTER waits (replication.go wires them in)
//	ha/autoswitch/ failover mode's replication protocol
//	ha/epoch/     a replica's epoch file (failover mode)
//	slavesync/    a slave's SlaveSynchronize: configs and offsets from
//	              its master, applied durably
//	failover/     a broker in controller mode: roles from the controller
//	brokertest/   start a broker (or a cluster) on loopback for tests
//
// Rules of the structure:
//
//   - A service takes and returns plain Go values. Only the root imports
//     remoting (remoting/body wire types are allowed everywhere); ext
//     headers, *remoting.Command and response codes stay in the root's
//     handler files.
//   - Services do not import each other. One that needs another (or the
//     topic table) declares a small interface or func where it is used,
//     and New wires the concrete value in. Libraries (config, sqlfilter)
//     are not services: client uses sqlfilter.
//   - No *Broker back-pointer in a service. Each owns its goroutines
//     (Start/Close); Close stops them (the tests' TestMain has goleak).
//   - The broker reaches the engine only through engine.Store's façade
//     (engine, engine/msg): never engine/commitlog, engine/queue or
//     index. make lint-deps checks this rule and the first one (only
//     broker and broker/brokertest import remoting).
//
// # Requests served
//
//	file           codes             request (service)
//	send.go        10/310/320        SEND_MESSAGE(_V2), SEND_BATCH_MESSAGE
//	pull.go        11                PULL_MESSAGE, long polling (longpoll/,
//	                                   wired in longpoll.go)
//	offset.go      14/15/29/30/31/32 consumer offsets, queue range (offsets/)
//	heartbeat.go   34/35/38          HEART_BEAT, UNREGISTER_CLIENT,
//	                                   GET_CONSUMER_LIST_BY_GROUP (client/)
//	lock.go        41/42             LOCK_BATCH_MQ, UNLOCK_BATCH_MQ (client/)
//	admin.go       17/21/201/215     topic and group admin (meta/)
//	stats.go       28/202/208        runtime info, topic and consume stats
//	query.go       12/33             QUERY_MESSAGE, VIEW_MESSAGE_BY_ID
//	sendback.go    36                CONSUMER_SEND_MSG_BACK (retry/)
//	transaction.go 37                END_TRANSACTION (transaction/)
//	reply.go       324/325           SEND_REPLY_MESSAGE(_V2), request-reply
//	reset.go       222               INVOKE_BROKER_TO_RESET_OFFSET (offsets/)
//
// Sends (10/310/320) and UPDATE_CONSUMER_OFFSET (15) run inline on the
// connection's reader, in arrival order; every other request runs on a
// goroutine of its own (remoting).
//
// Requests the broker sends: REGISTER_BROKER (103), UNREGISTER_BROKER
// (104) and QUERY_DATA_VERSION (322) to the name servers (register.go);
// NOTIFY_CONSUMER_IDS_CHANGED (40, heartbeat.go) and, from package
// transaction, CHECK_TRANSACTION_STATE (39, the wire request is built in
// transaction.go) to clients; PUSH_REPLY_MESSAGE_TO_CLIENT (326,
// reply.go). Delayed messages (DELAY property) are delivered by package
// schedule.
//
// Every ext value the broker writes is a string (trap T2). Bad requests
// (missing or malformed ext fields, bad JSON bodies) get code 1 with a
// remark naming the problem; nothing a client sends panics the broker.
//
// # A send, through the packages
//
// Each arrow is a call in the code; the right column names the file or
// package and what it does.
//
//	client ──frame──▶ remoting.Server      inline on the conn's reader
//	  │
//	  ▼
//	handleSend                             send.go: parseSendHeader
//	  │  checkSend: meta.ValidateTopic; no client sends to SCHEDULE_TOPIC_XXXX
//	  │  or the transaction topics
//	  ├─▶ meta        topic lookup, or auto-create: %RETRY%<g> from the
//	  │               group table, else inherit the defaultTopic (TBW102,
//	  │               meta.Topics.Inherited);
//	  │               a new topic → registrar.registerWithin(1 s)
//	  │  pick a queue (-1), check the body size; sentMessage: born host,
//	  │  CLUSTER added, WAIT dropped
//	  ├─▶ client      NoteRequester (REPLY_TO_CLIENT: request-reply)
//	  ├─▶ transaction Prepare (TRAN_MSG=true): EnsureTopic (→ meta),
//	  │               rewrite to RMQ_SYS_TRANS_HALF_TOPIC queue 0
//	  └─▶ routeSend   otherwise (sendback.go):
//	        ├─▶ retry + meta    a %RETRY% send past maxReconsumeTimes
//	        │                   goes to %DLQ%<group> (created on demand)
//	        └─▶ schedule.Route  DELAY=n → SCHEDULE_TOPIC_XXXX, queue n-1
//	  │  (a batch skips all three: no TRAN_MSG, no DELAY in a batch)
//	  ▼
//	engine.Store.PutBatchNoWait     encode once (engine/msg); under the
//	  │                             CommitLog append lock: phys offset,
//	  │                             queue offset, store time
//	  ▼
//	reply                           ASYNC_FLUSH: WaitPut (in the page
//	                                cache), answer. SYNC_FLUSH: the
//	                                reader waits in place, or the conn's
//	                                syncAcker waits and answers
//	                                (syncack.go); one flusher writes and
//	                                fdatasyncs for every pending append
//	                                (group commit)
//
// Then, on the engine's goroutines:
//
//	flusher (or the mapped append) ──append hook──▶ dispatcher
//	  │  reads records up to Readable (synced, under SYNC_FLUSH)
//	  ▼
//	one Pebble batch: consume-queue entries, tag blooms; the key index
//	  ▼
//	OnDispatch(topic, queue, maxOffset)   dispatcher goroutine, no lock
//	  ├─▶ longpoll.Hold.Notify      held pulls below maxOffset re-run
//	  └─▶ schedule.Service.Notify   wakes the level's goroutine
//
// # A pull, through the packages
//
//	client ──frame──▶ remoting.Server      a goroutine per request
//	  ▼
//	handlePull → parsePull                 pull.go: header, maxMsgNums
//	  │                                    >= 1, suspend time
//	  ├─▶ meta       group (auto-create), consumeEnable; topic, read
//	  │              permission, queueId < readQueueNums
//	  ├─▶ client     the filter: with the SUBSCRIPTION bit the request's
//	  │              expression (TAG: engine.NewTagFilter; SQL92:
//	  │              PullFilter, compiled once, sqlfilter.Cache), else the
//	  │              group's Subscription from its heartbeat
//	  ├─▶ offsets    Commit of commitOffset (COMMIT_OFFSET bit), before
//	  │              the read, whatever the pull then finds
//	  │  closing? → SERVICE_NOT_AVAILABLE
//	  │  no SUSPEND? → engine.Store.AwaitVisible (below)
//	  ▼
//	runPull → engine.Store.Get      queue entries (dispatched records
//	  │                             only), filter, record bytes
//	  │  pullCode (codes.go)
//	  ├─ anything else ───────────▶ reply
//	  └─ 19 with SUSPEND ─▶ longpoll.Hold.Park   (re-checks the queue's
//	        │                                     max: a dispatch that
//	        │                                     raced the read)
//	        ▼  Notify (OnDispatch) | the suspend timer | Close
//	      answerHeld, on a Hold goroutine: runPull again → conn.Reply
//
// Offsets otherwise: UPDATE_CONSUMER_OFFSET → offsets.Commit;
// QUERY_CONSUMER_OFFSET → offsets.Query (the start rule below; a master
// clamps the offset to its queue's end, a slave answers it as stored).
//
// # System topics
//
// Names come from package systopic (and retry for the group topics). The
// broker creates the first eight at start (meta.System.Builtins, created
// by meta.OpenTopics), as a 4.9.8 broker does; the others when first
// used. Perm: 6 = read+write, 7 = read+write+inherit.
//
//	topic                        queues   perm  created  used by
//	TBW102                       8 (1)    7     start    auto-create (2)
//	SELF_TEST_TOPIC              1        6     start    nothing (3)
//	OFFSET_MOVED_EVENT           1        6     start    nothing (3)
//	<brokerClusterName>          16       7     start    a defaultTopic (2)
//	<brokerName>                 1        7     start    a defaultTopic (2)
//	<cluster>_REPLY_TOPIC        1        6     start    request-reply
//	SCHEDULE_TOPIC_XXXX          levels   6     start    schedule
//	RMQ_SYS_TRACE_TOPIC (4)      1        6     start    client traces
//	RMQ_SYS_TRANS_HALF_TOPIC     1        6     1st use  transaction: halves
//	RMQ_SYS_TRANS_OP_HALF_TOPIC  1        6     1st use  transaction: ops
//	TRANS_CHECK_MAX_TIME_TOPIC   1        6     1st use  transaction: given up
//	%RETRY%<group>               retry(5) 6     (5)      retry: redelivery
//	%DLQ%<group>                 1        6     (6)      retry: dead letters
//
//	(1) defaultTopicQueueNums; only with autoCreateTopicEnable (default on).
//	(2) a send to an unknown topic inherits from the topic its header
//	    names as defaultTopic (clients send TBW102), if that has perm 7.
//	(3) created as 4.9.8 does; Wharf writes nothing to it.
//	(4) msgTraceTopicName; with traceTopicEnable it exists from the
//	    start, for clients that send message traces (WithTrace).
//	(5) the group's retryQueueNums (1); created by the group's first
//	    heartbeat, a send-back or a send to it.
//	(6) created on demand: a send-back past maxReconsumeTimes, or a
//	    %RETRY% send past it.
//	levels: one queue per delay level (18 by default).
//
// Clients may not send to SCHEDULE_TOPIC_XXXX or the three transaction
// topics (16 NO_PERMISSION), nor to TBW102 (1). Every name systopic.Is
// knows (also SCHEDULE_TOPIC_XXXX_V2, BenchmarkTest, rmq_sys_*) refuses
// DELETE_TOPIC_IN_BROKER. Two reserved consumer groups keep the services'
// progress as offsets: "wharf:schedule" (per level) and
// "wharf:transaction" (half and op queues), and a slave adds
// "wharf:sync:<group>". Every request that names a consumer group for
// offsets or a subscription group refuses a name beginning with
// meta.ReservedGroupPrefix ("wharf:"), so clients cannot overwrite them;
// the services write their records directly, not through requests.
//
// # Lock order
//
// Outermost first; "A → B" means B is taken while A is held.
//
//	Broker.mu            Start holds it over srv.StartListener and each
//	                     service's Start (none takes a broker lock);
//	                     goAsync and Close take it briefly
//	registrar.mu         a whole round: → meta's topic table (Topics.Drain),
//	                     → the name-server remoting.Client
//	transaction          a check's copy or discard: → EnsureTopic
//	  Service.mu         (→ meta's topic table), → engine Put (append
//	                     and the flush wait); persist: → engine
//	                     MaxPhysOffset. End and Prepare call out without
//	                     it; Checker.SendCheck is called without it.
//	meta: topic table    → the engine's config write (a synced Pebble
//	                     set); GetOrCreate's make() and OnChange (registrar.ring,
//	                     never blocks) run unlocked
//	meta: group table    → the engine's config write; never held with
//	                     the topic table's
//	offsets: a slot's mu → engine CommitOffset, so commits of one key
//	                     land in arrival order; Service.mu is a leaf
//	engine               its own order (engine/doc.go); it calls no
//	                     broker code with a lock held: OnDispatch runs
//	                     after the batch commits
//
// Leaves (no other lock is taken while they are held): client.Registry.mu,
// client.Locks.mu (never held together), sqlfilter.Cache.mu (compiles
// unlocked), longpoll.Hold.mu (Answer and MaxOffset run unlocked),
// syncAcker.mu, registrar.wmu. Packages schedule and retry hold no
// locks. Replies and requests to clients (Conn.Reply, ReplyAll,
// InvokeOneway) go out with no broker lock held; only registrar.mu is
// held over a call, to the name servers.
//
// # Replication (classic master–slave, RocketMQ 4.9)
//
//   - replication.go wires package ha to the role. A master binds its HA
//     port in New (haListenPort, listenPort+1 by default; an ephemeral
//     port beside an ephemeral listen port), so a conflict is a start
//     error, and runs ha.Master over it from Start: it ships CommitLog
//     bytes from engine.Store (ReadLog, ReadableOffset, WatchReadable) and
//     trusts a peer's offset reports only when the name servers list its
//     IP as a slave of this broker name (slaveList, GET_BROKER_CLUSTER_INFO,
//     cached a second). A slave runs ha.Slave, which appends the bytes
//     with engine.Store.AppendReplica and finds the master through
//     Broker.MasterAddrs (haMasterAddress, or the REGISTER_BROKER reply).
//     A broker advertises its own HA address (HAServerAddr: registration's
//     haServerAddr, which classic and controller-mode slaves alike dial)
//     as haAdvertisedAddress when set, else brokerIP2:haListenPort.
//   - The send path's wait (handleSend, or the connection's syncAcker):
//     under SYNC_MASTER a send is answered after its store wait and then
//     replicaAnswer: SUCCESS once a slave holds its end, 11 at once when
//     no slave is in sync, 12 after slaveTimeout. A send read on its own
//     does not park its connection's reader for the slave: it registers
//     with ha.Master.Notify and the reader of the slave's report answers
//     it (replyWhenReplicated, with remoting.Conn.ReplyNoWait, so a client
//     that stops reading its replies delays no other). One wait covers an
//     acker's whole batch. WAIT=false skips it, as in RocketMQ.
//   - Roles (role.go): a slave (brokerRole=SLAVE, brokerId > 0, or
//     BecomeSlave) refuses
//     every request that appends, and topic create/delete and offset
//     resets, with SERVICE_NOT_AVAILABLE (14); accepts offset commits
//     (15); serves pulls without storing their commit flag and without
//     moving a consumer's offset; and starts neither the schedule nor the
//     transaction check-back service, since everything it stores comes
//     from its master. runPull answers suggestWhichBrokerId as RocketMQ
//     does (slaveReadEnable). The registrar feeds Broker.MasterAddrs and
//     OnMasterChange from the REGISTER_BROKER replies (a slave registers,
//     not only queries, every period). The runtime table carries
//     brokerRole, brokerId, haServerAddr, a slave's masterAddr and
//     following state, and a master's slaves with their acknowledged
//     offset and lag (addRoleInfo, addReplicationInfo).
//   - The role is run-time state (roleState: slave or master, brokerId,
//     epoch, the master a demoted broker follows), read on every request
//     that depends on it; cfg stays the user's file. BecomeMaster and
//     BecomeSlave (roleswitch.go) change it while the broker serves: they
//     stop and start the HA port or client, SlaveSynchronize and the
//     schedule and transaction services in a safe order, wait through
//     the append gate for appends under way before following another
//     master, and re-register with every name server at once under the
//     new brokerId with dataVersion.stateVersion = epoch, which name
//     servers compare before giving brokerId 0 to a claimant.
//     SetWriteFence makes a master answer appending requests 14 and never
//     SEND_OK while its lease has lapsed; SetPromoteHook is where a
//     promotion truncates and appends its epoch entry.
//   - Failover (issue 12) adds a controller client beside it: brokerId,
//     role and epoch from the controller (calling BecomeMaster and
//     BecomeSlave), the lease behind the write fence, and a confirm
//     offset bounding what Get serves.
//
// # Registration with the name servers
//
// The broker registers with every name server (register.go): its whole
// topic table at start and whenever a name server lacks it, compressed
// (compressedRegister) and split into REGISTER_BROKER (103) requests of
// at most splitRegistrationSize topics; only the changed topics after a
// topic change; and every registerNameServerPeriod a QUERY_DATA_VERSION
// (322), which keeps it alive without carrying the table. maxTopicNums
// caps the table. It sends UNREGISTER_BROKER (104) on Close.
//
// It sends NOTIFY_CONSUMER_IDS_CHANGED (40), oneway, to a consumer group
// when a member joins, leaves (connection close or 120 s without
// heartbeat) or changes its subscription to a higher subVersion (trap
// T18).
//
// # ACL
//
// With aclEnable=true (acl.go) every request passes package acl's Checker
// first, through remoting's Authorize hook on the reader goroutine: a
// refusal is NO_PERMISSION (16) and the handler never runs. With it off the
// hook is nil. Requests that reach a message by its CommitLog offset, which
// the hook cannot see, are checked again by their handler once the record
// is read (authorizeTopic): VIEW_MESSAGE_BY_ID and CONSUMER_SEND_MSG_BACK
// need SUB on the record's topic. The broker's own clients (registration, topic recovery,
// slave sync, the slave list, the controller) sign with broker.conf's
// accessKey/secretKey when set.
//
// A heartbeat or request message names its producer group and client id
// itself; only its account is proven. The client registry records that
// account (Checker.Account) with each claim, and what the broker sends to
// a group or client follows the account, not the name: a transaction
// check-back, which carries the half message, goes only to a producer of
// the group whose account may publish to the half's topic (else none is
// sent, as without a producer); a reply is pushed only when the live
// claims of its client id come from one account (else it is refused, and
// logged), since which of two accounts is the requester cannot be told.
//
// # Choices where RocketMQ leaves room
//
//   - What a pull sees of recent sends. Consume queues are filled by the
//     dispatcher after a send is answered, so RocketMQ may answer a pull
//     that arrives right after a send without it. Wharf answers a pull
//     without the SUSPEND bit (one that cannot wait for messages) only
//     once the dispatcher has reached what was readable when the pull
//     arrived (at most 200 ms, not while the dispatcher is stalled), and
//     GET_MAX_OFFSET the same way: every send answered before the request
//     is in the answer (`wharf consume -e` right after `wharf produce`). A
//     held pull needs no wait: a dispatch wakes it.
//
//   - Start offset of a new group (trap T7). QUERY_CONSUMER_OFFSET answers
//     the committed offset if there is one. Otherwise, like Java's "offset
//     0 is still in memory", it answers 0 when the queue still starts at
//     offset 0 and is young: it does not exist yet, or holds fewer than
//     1000 messages, or its first message is less than 10 minutes old. So
//     a new group on a young topic sees the messages produced before it
//     started, even with CONSUME_FROM_LAST_OFFSET. Otherwise it answers 22
//     QUERY_NOT_FOUND and the client falls back to its consumeFromWhere.
//
//   - Subscription of a pull. With the SUBSCRIPTION bit the request's tag
//     expression is used; otherwise the group's subscription from the
//     latest heartbeat, built from the tag strings (trap T9). When no
//     heartbeat has told the subscription yet (a pull racing the first
//     heartbeat after a reconnect) the pull is served unfiltered instead
//     of failing with 24: clients filter by tag again after every pull.
//     With enablePropertyFilter on it fails with 24, as in RocketMQ: a
//     SQL92 consumer does not filter again, and the client retries until
//     its next heartbeat (at most 30 s) registers the subscription.
//
//   - SQL92 subscriptions (enablePropertyFilter, false by default as in
//     RocketMQ). When off, a SQL92 pull fails with SYSTEM_ERROR "The
//     broker does not support consumer to filter message by SQL92", which
//     the Go push consumer logs before retrying every 3 s; the heartbeat
//     itself succeeds, as in RocketMQ. When on, package sqlfilter
//     evaluates the expression on each message's properties with
//     RocketMQ's semantics.
//
//     A pull carrying a SQL92 expression that does not compile gets 23
//     SUBSCRIPTION_PARSE_FAILED with the error (RocketMQ's
//     PullMessageProcessor then silently serves everything); one from the
//     heartbeat gets 27 FILTER_DATA_NOT_EXIST, as in RocketMQ.
//
//     Every examined record is read (no tag codes or blooms); a pull stops
//     after max(800, maxMsgNums) entries or 1 MiB of rejected records
//     and, finding none, answers 20 with nextBeginOffset past them, like a
//     tag miss. The Go client's lite pull consumer (Poll) labels every
//     expression TAG, so a SQL92 selector there is read as a tag, on
//     RocketMQ too.
//
//   - Long polling (trap T5). Pulls that find nothing (19) with the
//     SUSPEND bit are held per queue until a message is dispatched past
//     their offset or suspendTimeoutMillis passes (capped at 25 s, below
//     the Go client's 30 s), then re-run and answered.
//     OFFSET_FOUND_NULL (a hole) is answered at once, never held.
//
//     When the broker closes, held pulls and pulls arriving meanwhile are
//     answered with SERVICE_NOT_AVAILABLE: after "nothing new" a client
//     pulls again at once on the closing connection and the Go client
//     waits out its 30 s request timeout; after an error it waits 3 s and
//     reconnects, so a consumer resumes about 3 s after a restart.
//
//   - maxMsgNums of a pull. Zero or negative serves one message, as
//     RocketMQ does (its batch is never full before the first message).
//     The Go client's lite pull consumer (Poll/ACK) sends 0 unless built
//     with WithPullBatchSize.
//
//   - Request-reply. A reply is pushed (PUSH_REPLY_MESSAGE_TO_CLIENT, 326)
//     to the requester named by its REPLY_TO_CLIENT. RocketMQ looks that
//     client up among producer heartbeats only, so a reply to a Go
//     requester whose first heartbeat has not reached the broker yet is
//     lost (the Go client's own RPC example sleeps a second for this).
//     Wharf also remembers the connection each request message came on,
//     and pushes there when no heartbeat names the client.
//
//   - Queue locks (orderly consumers) live 60 s after their last renewal
//     and only UNLOCK_BATCH_MQ frees them sooner, as in Java: not the
//     holder's connection closing (its client may still be consuming the
//     queue in order, and re-locks from a new connection), nor its
//     membership expiring.
//
//   - Only a master (brokerId 0) is supported.
//
// # Retries and dead letters
//
// A clustering consumer whose handler fails sends the message back with
// CONSUMER_SEND_MSG_BACK (group, the message's CommitLog offset,
// delayLevel, maxReconsumeTimes). As in RocketMQ 4.9, the broker reads
// the original record and stores a copy with:
//
//   - the same body, flag, sysFlag, born time and host and properties (so
//     TAGS, KEYS and UNIQ_KEY, hence the client's MsgId, are kept);
//   - RETRY_TOPIC = the original topic (if not already set);
//   - ORIGIN_MESSAGE_ID = the offset id of the first failed record (if not
//     already set);
//   - the record's reconsumeTimes field incremented.
//
// The copy goes to %RETRY%<group> (retryQueueNums queues, created at the
// group's first heartbeat and on send-back) behind delay level
// delayLevel, or 3 + reconsumeTimes when delayLevel is 0.
//
// When the original's reconsumeTimes has reached maxReconsumeTimes
// (header; else the group's retryMaxTimes, 16) or delayLevel < 0, the
// copy goes at once to %DLQ%<group> instead: 1 queue, created on demand
// with perm 6 (read and write, as 4.9.x does; older releases made it
// write-only, which only stops tools from reading it). New retry and DLQ
// topics are registered with the name servers at once.
//
// Answers: 0; 26 when the group does not exist (and
// autoCreateSubscriptionGroup is off); 1 "look message by offset failed"
// when no record starts at offset; 1 for a missing or malformed field.
//
// A plain send to %RETRY%<group> (the Go client's fallback when
// send-back fails) follows Java's handleRetryAndDLQ: reconsumeTimes >=
// maxReconsumeTimes (header, else the group's) sends it to the DLQ. This
// rule applies to %RETRY% topics only (trap T13).
//
// The Go push consumer subscribes to %RETRY%<group> itself and renames a
// retried message's topic back to RETRY_TOPIC before calling the handler.
// A consumer that starts before its group's retry topic exists (a
// brand-new group: the topic is created by its first heartbeat, after
// the client looked up its routes) pulls the retry topic only after its
// periodic route refresh and rebalance, about 20 s later with
// rocketmq-client-go v2, as with a Java broker; nothing is lost
// meanwhile.
//
// # Delayed messages
//
// A single (non-batch) message with DELAY=n > 0 (WithDelayTimeLevel) is
// stored in SCHEDULE_TOPIC_XXXX, queue n-1, with its real topic and queue
// in REAL_TOPIC and REAL_QID; levels past the last are clamped to it, a
// non-numeric DELAY is refused with 13. messageDelayLevel sets the levels
// (default "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";
// Wharf also accepts "ms"). The consume-queue tags code of such an entry
// is its delivery time, store time + the level's delay, as in RocketMQ
// (an engine hook computes it at dispatch, so it is rebuilt identically
// after a crash).
//
// One goroutine per level reads its queue in order. When the head is due
// it stores a new record in the real topic and queue: properties minus
// DELAY (REAL_TOPIC/REAL_QID stay), everything else kept, a new store
// time and offsets. Otherwise it sleeps on a timer until the head's
// delivery time; an idle level wakes when the dispatcher reports a new
// entry. A head whose delivery time lies further ahead than the level's
// delay (clock moved back, level shortened) is delivered at once, as
// Java does.
//
// Progress is stored per level as the consumer offset of the reserved
// group "wharf:schedule" on SCHEDULE_TOPIC_XXXX, after the delivered
// records are synced to disk. A restart, clean or kill -9, therefore
// neither loses a pending delayed message nor delivers one early.
//
// After a crash the messages delivered since the last stored offset (at
// most one batch of 64 per level) are delivered again: delivery is
// at-least-once, and consumers see a duplicate with the same UNIQ_KEY
// (MsgId). Delayed messages older than fileReservedTime are removed by
// retention like any other.
//
// # Transactional messages
//
// As in RocketMQ 4.x. A single message sent with TRAN_MSG=true (the Go
// TransactionProducer also sets PGROUP and the prepared sysFlag bit) is
// stored as a half message: topic RMQ_SYS_TRANS_HALF_TOPIC (1 queue,
// created on first use), queue 0, its real topic and queue in REAL_TOPIC
// and REAL_QID, the sysFlag transaction bits cleared. It is dispatched to
// the half topic's queue only, so no consumer of the real topic sees it.
//
// The answer is a normal SEND_OK: msgId the half's offset id, queueId the
// requested queue, queueOffset the half-queue offset; the producer sends
// both back in END_TRANSACTION (commitLogOffset, tranStateTableOffset).
// rejectTransactionMessage=true refuses such sends with 16; a batch with
// TRAN_MSG is refused with 13. A half message is never delayed or routed
// to a DLQ; DELAY applies to the committed message, from the commit on.
//
// END_TRANSACTION (37) reads the record at commitLogOffset and checks it
// is a half message, that its PGROUP equals producerGroup and its queue
// offset equals tranStateTableOffset (1 with Java's remarks otherwise;
// missing or malformed fields, a commitOrRollback other than 0, 8, 12, an
// offset that does not start a record: 1 with a remark; a oneway request
// is never answered).
//
// Commit (8) stores the message in its real topic and queue: same body,
// flag, born time and host, properties minus REAL_TOPIC/REAL_QID
// (TRAN_MSG, PGROUP and UNIQ_KEY stay, so the Go consumer sets
// TransactionId), sysFlag transaction bits = commit,
// preparedTransactionOffset = the half's CommitLog offset. Commit and
// rollback (12) then write an op record to RMQ_SYS_TRANS_OP_HALF_TOPIC:
// tag "d", body the half-queue offset (as Java), plus
// TRAN_PREPARED_QUEUE_OFFSET = the transaction's first half. Unknown (0)
// does nothing.
//
// Ending is idempotent per transaction: a repeated or contrary END for
// any half of a transaction already ended answers 0 with the remark
// "transaction already ended" and stores nothing (Java would deliver a
// second commit twice).
//
// Check-back. Every transactionCheckInterval (60 s) one goroutine reads
// the half queue from its stored progress up to the end seen at the
// start of the pass:
//
//   - a half whose transaction ended is skipped;
//   - one born less than transactionTimeOut (6 s) ago stops the pass,
//     unless its CHECK_IMMUNITY_TIME_IN_SECONDS is longer: then it is
//     copied unchanged to the back of the queue until that time has
//     passed (Java does the same);
//   - a half checked transactionCheckMax (15) times already, or older
//     than fileReservedTime, is copied to TRANS_CHECK_MAX_TIME_TOPIC (1
//     queue) and gets an op record: it is never delivered nor checked
//     again;
//   - otherwise the half is copied to the back of the half queue with
//     TRANSACTION_CHECK_TIMES + 1 and TRAN_PREPARED_QUEUE_OFFSET = its
//     first half, and CHECK_TRANSACTION_STATE (39) is sent oneway to the
//     producer of group PGROUP whose heartbeat is the latest.
//
// The check's header is tranStateTableOffset/commitLogOffset of the copy,
// msgId and transactionId = UNIQ_KEY, offsetMsgId; its body is the copy
// encoded as a stored record with topic and queue set back to the real
// ones. Without a live producer the check is lost (logged) and the next
// pass asks again, counting it. The producer's END_TRANSACTION names the
// copy. Note that the Go client only heartbeats a broker it has sent to,
// 1 s after start and then every 30 s: a producer that starts after the
// broker restarted is asked only once it sent something and heartbeated.
//
// State and restarts. The broker keeps in memory, per transaction that
// was checked or ended while one of its halves is still ahead of the
// progress, its newest half and its op record. The progress, half-queue
// and op-queue offsets, is stored as the consumer offsets of the reserved
// group "wharf:transaction", after every pass and on Close; the half
// offset only once everything written before it (copies, ops, committed
// messages) is synced to disk. At start the state is rebuilt from the
// halves and ops after the stored offsets, so a restart, clean or not,
// resumes the checks where they were, with their counts.
//
// After a crash some work since the last stored progress can repeat: a
// half is asked again (at-least-once checking), and a commit whose op
// record was lost can be stored twice (a duplicate with the same
// UNIQ_KEY); a committed message is never lost and a rolled-back one
// never delivered.
package broker
