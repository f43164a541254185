// Package failover drives a broker in controller mode (RocketMQ 5's
// enableControllerMode, shared/HA.md §5.4): it finds the broker's replica
// id, registers it with the controller group, follows the controller's
// decisions about who is master, keeps the master's SyncStateSet up to
// date, and holds the master's write lease.
//
// The driver talks to the controller through Controller (package
// controller/client adapts the remoting calls) and changes the broker
// through Node; it owns no sockets and no files but the identity file, so
// its decisions are tested with fakes and a fake clock.
//
// # Identity
//
// A replica's controller id is kept in storePathRootDir/brokerIdentity as
// RocketMQ writes it, "<cluster>#<brokerName>#<brokerId>". A broker
// without one asks for the next free id (1012), writes
// brokerIdentity-temp with the id and its registerCheckCode, applies for
// the id (1013) and only then writes brokerIdentity; a crash between the
// two applies again with the same check code, which the controller accepts
// as the same broker. An identity of another cluster or broker name is a
// start error: the data directory belongs to someone else.
//
// # Roles
//
// After registering (1003) the driver applies what the controller says,
// and then every Poll (GET_REPLICA_INFO, 1004) and at once on
// NOTIFY_BROKER_ROLE_CHANGED (1008): a master epoch above the broker's
// makes it master (its id is the master's) or a slave of the named
// master; no master at all makes it ask to be elected (1002). A stale
// epoch is ignored. Role changes go through Node, one at a time.
//
// # The lease
//
// A master renews its lease with a two-way BROKER_HEARTBEAT answered by
// the controller leader (package controller states the rule): the lease
// runs Lease from the moment the renewing request was sent. When it lapses
// the master may have been replaced, and Fenced reports true: the broker
// answers writes with SERVICE_NOT_AVAILABLE (14) until a renewal succeeds.
//
// The lease fences only where acknowledgements cannot: with
// allAckInSyncStateSet a write is acknowledged only when every member of
// the SyncStateSet holds it, a new master is always elected from that set
// (enableElectUncleanMaster=false), and a replica that became master no
// longer acknowledges the old master's bytes; so the old master cannot
// acknowledge anything after the new epoch began, lease or not. In that
// configuration (Wharf's default) a master keeps serving when the
// controllers lose their majority, as RocketMQ's does, because nobody can
// replace it. With allAckInSyncStateSet=false or unclean elections on, a
// lapsed lease fences the master (Options.FenceOnLeaseLoss).
//
// # SyncStateSet
//
// A master checks its set every CheckSyncStateSet: a member whose
// connection is gone or that has not caught up for MaxNotCatchup leaves;
// a connected replica whose acknowledged offset reached the confirm offset
// and the start of the current epoch, and that caught up within
// MaxNotCatchup, joins (RocketMQ's maybeShrinkSyncStateSet and
// maybeExpandInSyncStateSet). A replica within a MiB of the end, short of
// the confirm offset only because the load moves it, is waited for up to
// 300 ms with its acknowledgements counted (the confirm offset then cannot
// pass it) and joins once it holds the confirm offset and acknowledged
// something new meanwhile: without that, under steady load a returning
// replica rejoined only when a pause let it draw level. Either way a
// replica joins only on fresh evidence, as RocketMQ grows the set only as
// an acknowledgement arrives: while a stalled member is in the set the
// confirm offset stands still at what every replica acknowledged, so a
// stalled replica just dropped would otherwise rejoin at once, and two
// of them, dropped at different checks, would take turns in the set for
// ever (the master never acknowledging alone). A change goes to
// the controller (1001) with the current set's epoch. While an expansion
// is in flight the master already counts acknowledgements from the union
// of the old and the proposed set, so the set it waits for is never
// smaller than the controller's: the controller could elect the new member
// the moment it commits the change.
package failover
