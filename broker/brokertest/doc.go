// Package brokertest starts Wharf servers for tests: a broker, a name
// server, or a cluster of both, on loopback with small stores in
// t.TempDir, each closed by t.Cleanup. It re-exports the server-free
// helpers of internal/testkit (Logger, Eventually, Client) so that a test
// outside package broker needs one import.
//
// The internal tests of package broker cannot import this package (it
// imports broker); they use internal/testkit directly and the same Config
// through broker's helpers_test.go.
package brokertest
