// Package e2e holds end-to-end reliability tests that run the real wharf
// binary as a separate process and drive it with the official RocketMQ Go
// client: SIGKILL during SYNC_FLUSH produce (RELIABILITY.md T8), SIGTERM
// under load (T11) and the soak of memory, goroutines, FDs and latency
// (T23). It has no non-test code; the tests build ./tools/wharf
// once per run and start it as `wharf broker` against an in-process name
// server, on free loopback ports so packages can test in parallel.
//
// Sizes: `go test ./tools/e2e/` runs the CI size (20 kills); -short runs 5;
// `-args -kills=100` (or WHARF_E2E_KILLS=100) runs the nightly size.
// TestSoak runs 20 producers + 20 push consumers for 45 s (20 s under
// -short); WHARF_SOAK=30m (or -args -soak=30m) runs the nightly length, with
// 100 + 100 clients from 10 min on (WHARF_SOAK_CLIENTS, -soak-clients) and
// the send rate capped at 5000 msgs/s (WHARF_SOAK_RATE, -soak-rate).
//
// Replication: group (group_test.go) runs one brokerName's master and slave
// as processes with their own ports and HA ports, optionally with a
// tcpproxy on the slave's HA link; checkThrough reads every acked message
// back through a given broker.
// TestSyncMasterKill9 kills a SYNC_MASTER with -9 under full-speed
// producers and reads every SEND_OK back through its slave (3 kills;
// -ha-kills=20 or WHARF_E2E_HA_KILLS=20 in make stress);
// TestSlaveStopAndStall checks the 11 and 12 answers with the slave
// stopped and with its link stalled by the proxy.
// TestTwoGroupsMasterDies kills master-a of two SYNC_MASTER groups under
// the official client's producers and push consumer, about 20 s
// (consumption is held just before the kill: the client waits out a fixed
// 30 s timeout on a pull in flight to a dead broker); -groups-long (make
// stress) keeps master-a down across the client's 30 s route poll, so the
// consumer reads broker-a's backlog from slave-a.
//
// Controller mode (issue 12): chaosCluster (chaoscluster_test.go) runs 3
// `wharf namesrv` processes with embedded controllers and controller-mode
// broker groups (broker-a x3, broker-b x2), each replica's controllerAddr
// through its own tcpproxy per controller and its HA port behind a tcpproxy
// it advertises (haAdvertisedAddress); any process can be killed,
// stopped, continued or restarted with its ports and data dir, and any
// link cut or stalled.
// TestChaosControllerMode runs rounds of kill -9 of broker-a's master,
// SIGSTOP past an election then SIGCONT, kill -9 of the controller leader,
// a master/controllers partition, a master/slaves stall past
// haMaxTimeSlaveNotCatchup and a master/slaves cut with the master killed
// at the heal (chaospartition_test.go), under official-client producers and
// a push consumer, and reports lost, split-brain (two SEND_OK at one queue
// offset), stale (SEND_OK from a replaced master), out-of-order and
// duplicated messages. TestChaosDivergentTail (allAckInSyncStateSet=false)
// checks a returning master cuts the tail only it held. One round each in
// make test; -chaos-rounds=20 (WHARF_E2E_CHAOS_ROUNDS) in make stress.
package e2e
