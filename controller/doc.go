// Package controller is Wharf's controller: the Raft-replicated registry of
// replica groups that elects masters, after RocketMQ 5's controller mode
// (HA.md §5). Three (or five) controllers form a hashicorp/raft group; they
// run inside name servers (enableControllerInNamesrv) or on their own
// (`wharf controller -c controller.conf`).
//
// # Parts
//
//   - controller/api: request and response codes, headers and bodies.
//   - controller/fsm: the replicated state and the decisions on it.
//   - controller/client: one function per request, for brokers and tools.
//   - This package: Raft (log and stable store in raft-boltdb under
//     controllerStorePath, file snapshots beside it), the shared port, the
//     heartbeat table, the request handlers, and the leader's loop that
//     replaces dead masters.
//
// # One port for Raft and remoting
//
// Each controller listens on its address in controllerDLegerPeers. A
// remoting frame's first byte is always 0x00 (a length below 16 MiB); our
// Raft dialer sends the byte 'R' first. The listener reads the first byte
// of each connection and hands it to Raft or to the remoting server. So a
// broker's controllerAddr may list the peer addresses, or the name
// servers' listen addresses when the controllers are embedded (a name
// server registers the same handlers with Register).
//
// # Requests
//
// 904 BROKER_HEARTBEAT is recorded by every controller (brokers heartbeat
// to all of them, so a new leader knows who is alive). 1005 is answered by
// every controller. 1001, 1002, 1003, 1004, 1006, 1011, 1012, 1013 are
// answered by the leader only; a follower answers 2007 NOT_LEADER and names
// the leader in the remark. Other codes get 3. The leader decides (package
// fsm) and proposes one event through Raft; it answers once the event is
// applied. Decisions are serialized, and a new leader first applies every
// committed entry (a Raft barrier).
//
// # Liveness
//
// The heartbeat table is in memory on each controller, never replicated. A
// broker is alive while its last request (a heartbeat, or any request on
// the connection its heartbeats use) is younger than its heartbeat timeout
// (the heartbeat's heartbeatTimeoutMills, else
// controllerHeartBeatTimeoutMills, default 3 s) and that connection is
// open. A closed connection makes it inactive at once: it leaves the
// candidates and may be dropped from SyncStateSets. But a closed
// connection does not prove the process is dead (a partition looks the
// same), so it does not end a master's lease.
//
// # Fencing: the master's lease
//
// A master must never acknowledge a write after another broker became
// master of its group. The rule has two sides, with L = brokerLeaseMillis
// (default 2000 ms) and M = brokerLeaseMarginMillis (default 500 ms):
//
// Broker side. A master renews its lease by sending BROKER_HEARTBEAT (904)
// as a two-way request (not oneway) to the controller leader, about every
// second. Let T be the broker's monotonic clock reading taken just BEFORE
// it sent the request. The lease is renewed until T + L if and only if the
// reply arrives with code 0 (SUCCESS) and its ext fields name this broker
// as master at its current epoch: masterBrokerId = its own controller id
// and masterEpoch = the epoch it is master in. Any other reply (2007
// NOT_LEADER, an error, a timeout, no reply, another master, another
// epoch) renews nothing. When its clock passes the last renewed T + L, the
// master stops acknowledging writes (it answers code 14,
// SERVICE_NOT_AVAILABLE) until a renewal succeeds again. Oneway heartbeats
// and other requests (1004 included) never renew the lease.
//
// Controller side. The leader answers a two-way heartbeat with SUCCESS
// only after Raft confirmed with a quorum that it still leads
// (VerifyLeader), so a deposed leader cannot renew a lease. It records the
// time R at which it received any request from the broker (R is after
// the broker's T). It does not elect a replacement for master X before
// R_last(X) + L + M has passed, even if X's connection closed, nor, while
// that connection is open, before X's heartbeat timeout has passed. A controller that just became
// leader has not seen the renewals the old leader answered: for
// max(heartbeat timeout, L + M) after gaining leadership it treats every
// master as possibly holding its lease. ELECT_MASTER requests obey the
// same rule: while the master may hold its lease they answer 2011
// (master still exists), or 2012 for a designated election of another
// broker. M absorbs the difference between the two machines' clock rates
// and the scheduling delays; brokers and controllers must use the same L.
//
// # Failover timing
//
// A master killed with kill -9 closes its connections; the leader elects
// once R_last + L + M has passed (at most about 2.5 s with the defaults,
// less the time since its last request), found by a scan every
// scanNotActiveBrokerInterval (default 250 ms). A master that goes silent
// without closing is replaced after its heartbeat timeout (default 3 s).
// The election is one Raft commit. Raft itself uses a 500 ms heartbeat and
// election timeout and a 250 ms leader lease, tuned for a LAN
// (controllerRaftHeartbeatTimeoutMillis).
package controller
