// Package testkit holds the test helpers that do not need package broker:
// a logger that writes to t.Log, Eventually and Never, a raw remoting
// client, a name server on loopback, free loopback ports, the sizes of a
// test store, a bare store and a reader of its queues for the tests of a
// broker service, and the goleak options for the official Go client. The
// internal tests of package broker, which cannot import broker/brokertest
// (it imports broker), share these with it; brokertest adds the broker and
// the cluster. TLSFiles makes a CA and certificates for TLS tests,
// NewTLSClient is NewClient over TLS, CaptureLog keeps log lines to assert
// on, and WharfBuild builds the wharf command once for the tests that run
// it as a process. Subpackage tcpproxy stalls, cuts or refuses a TCP link
// between two processes; subpackage loglines is the log sink CaptureLog
// writes to, for the tests of packages testkit itself imports.
package testkit
