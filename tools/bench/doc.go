// Package bench is Wharf's own end-to-end load generator: a lean client on
// the remoting package that produces to and consumes from a broker and
// reports throughput, latency percentiles and the CPU each side used.
//
// Produce modes:
//   - sync: every producer has one request in flight (SEND_MESSAGE_V2).
//   - async: every producer keeps Window single-message requests in flight
//     on its one connection.
//   - batch: like async, but each request is one SEND_BATCH_MESSAGE of
//     Batch messages to one queue.
//
// Consume pulls every queue of the topic (PULL_MESSAGE without long
// polling) from a start offset up to the max offsets seen at start, with
// Window pulls in flight per connection, and checks that every pull body
// decodes to exactly the number of messages the broker said it holds.
//
// Each run prints one summary line of key=value pairs (see Result.Line), so
// scripts can grep it; the CLI command `wharf bench` is a thin wrapper.
package bench
