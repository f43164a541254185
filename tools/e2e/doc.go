// Package e2e holds end-to-end reliability tests that run the real wharf
// binary as a separate process and drive it with the official RocketMQ Go
// client: SIGKILL during SYNC_FLUSH produce (RELIABILITY.md T8) and SIGTERM
// under load (T11). It has no non-test code; the tests build ./tools/wharf
// once per run and start it as `wharf broker` against an in-process name
// server, on free loopback ports so packages can test in parallel.
//
// Sizes: `go test ./tools/e2e/` runs the CI size (20 kills); -short runs 5;
// `-args -kills=100` (or WHARF_E2E_KILLS=100) runs the nightly size.
package e2e
