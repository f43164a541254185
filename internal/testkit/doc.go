// Package testkit holds the test helpers that need none of Wharf's
// servers: a logger that writes to t.Log, Eventually, and a raw remoting
// client. It imports only remoting and engine/msg, so the internal tests of
// every package (broker's included, which cannot import broker/brokertest)
// share one copy; broker/brokertest builds on it to start servers.
package testkit
