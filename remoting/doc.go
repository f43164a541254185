// Package remoting speaks the RocketMQ 4.x remoting protocol: frames,
// RemotingCommand headers in both serializations, the request and response
// code catalogue, and a TCP server and client that pipeline requests on one
// connection.
//
// # Frame
//
// Every message on the wire is one frame, all integers big-endian:
//
//	+---------+------------+--------------+------------------------------+
//	| length  | headerMark | header       | body                         |
//	| int32   | int32      | headerLength | length - 4 - headerLength    |
//	+---------+------------+--------------+------------------------------+
//	length does not count itself; headerMark = serializeType<<24 | headerLength.
//
// Serialize type 0 is a JSON header (see header_json.go), type 1 the
// ROCKETMQ binary header (see header_binary.go). A whole frame, length field
// included, is at most [MaxFrameSize] bytes, as in Java's NettyDecoder.
//
// # Connections
//
// A [Conn] reads frames continuously and runs every request in its own
// goroutine, so replies may leave in a different order than the requests
// arrived (PROTOCOL.md trap T1): a 20 s long-polling pull must never delay a
// send on the same connection. Writes are serialized per connection by a
// mutex. A goroutine that answers many connections (the broker's reader of
// a slave's reports) uses [Conn.ReplyNoWait], which never waits for the
// peer; replies queued for a peer that does not read them stop its reader
// at 1 MiB, so TCP holds that peer back. Frames with the response flag
// are matched to waiting [Conn.Invoke] calls by opaque. [Server] and
// [Client] own their connections and every goroutine they start; Close
// stops and waits for all of them.
//
// # TLS
//
// A Server serves whatever its listener hands out: package internal/wiretls
// wraps a listener in a TLS server mode. On a plaintext connection a first
// byte of 0x16 (a TLS handshake record, never the first byte of a frame
// under 16 MiB) closes it with "TLS handshake on a plaintext port" in the
// log, at most once a second, instead of a "frame too large". A Client with
// ClientOptions.TLS dials TLS.
package remoting
