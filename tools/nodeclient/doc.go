// Package nodeclient proves that ali-ons, the RocketMQ client for Node.js
// (npm ali-ons, pinned in package-lock.json), works against Wharf unchanged.
//
// The package has no code of its own: its test starts a real `wharf
// standalone` on loopback, runs the small CommonJS scripts of js/ with
// `node` (each bounded in time and printing JSON lines), and checks what
// they report in Go, cross-checked with the official Go client
// (rocketmq-client-go) and Wharf's admin client.
//
// TestAliOnsMasterDies runs a name server, a SYNC_MASTER and its slave as
// separate processes, kills the master with SIGKILL, and has ali-ons
// consume from the slave alone, resuming from the offsets the slave took
// from its master.
//
// The tests need node on PATH and tools/nodeclient/node_modules (`npm ci`
// in this directory). Without them they skip, unless WHARF_NODE_REQUIRED is
// set (CI sets it, after `npm ci`), when they fail.
//
// What ali-ons does that the Go client does not, and so what these tests
// exercise on Wharf's side:
//
//   - Every request has a JSON header with language "JAVA", version 121,
//     and ext fields as JSON numbers and booleans, not strings (queueId,
//     sysFlag, queueOffset, commitOffset, subVersion, unitMode).
//   - It never creates a topic: a send to a topic without a route fails
//     in the client (TOPIC_NOT_EXIST from the name server), so the tests
//     create topics first.
//   - The heartbeat is sent once at start and then every 30 s; its
//     subscription data carries tagsSet/codeSet and consumeFromWhere as
//     names.
//   - Rebalance reads GET_CONSUMER_LIST_BY_GROUP from the first broker of
//     the route and expects a body with consumerIdList.
//   - QUERY_CONSUMER_OFFSET that is not SUCCESS is an error to it (read as
//     "no offset"), and it commits offsets with oneway
//     UPDATE_CONSUMER_OFFSET, -1 for a queue it holds at offset 0, and on
//     close it commits, unregisters (UNREGISTER_CLIENT) and leaves.
//   - A failed message goes back with CONSUMER_SEND_MSG_BACK, delayLevel 0
//     (the broker picks the level), originMsgId the offset message id it
//     computes from the store host and commit log offset; the consumer
//     subscribes to %RETRY%group itself and maps a retried message back to
//     its topic through the RETRY_TOPIC property.
//   - Tags are filtered on the broker and again in the client.
//   - It decodes pulled records itself (IPv4 hosts only) and parses the
//     properties string without dropping the empty item after the last
//     separator.
package nodeclient
