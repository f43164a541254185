// Package fuzz holds the fuzz targets for Wharf's decoders and request
// processors. Every target also runs its seed corpus in plain
// `go test ./fuzz/`, and `make fuzz` runs each for FUZZTIME.
//
// Decoders of bytes read from the network or disk:
//
//   - FuzzFrame: remoting frames off a stream.
//   - FuzzHeaderJSON, FuzzHeaderBinary: the two header encodings.
//   - FuzzDecodeRecord, FuzzBatchBody, FuzzProperties: CommitLog records,
//     SEND_BATCH_MESSAGE bodies, properties strings.
//   - FuzzIndexOpen, FuzzTagBloomUnmarshal: index files and tag filters.
//   - FuzzRecoverSegment: CommitLog recovery of a damaged segment.
//
// Request processors, over a real loopback connection to one in-process
// server per fuzz process (handler_fuzz_test.go):
//
//   - FuzzBrokerRequest: any request code, ext fields and body to the
//     broker; every answer must come within 5 s and be a success or an
//     error with a remark, no handler may panic (recovered panics count),
//     and the server must keep serving the same and another connection.
//   - FuzzNameServerRequest: the same for the name server.
package fuzz
