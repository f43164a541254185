//go:build race

package broker

// raceEnabled: the race detector is on. The official Go client has data
// races of its own (internal/client.go GetOrNewRocketMQClient against the
// route refresh; the orderly processQueue's red-black tree), which fail any
// test that runs it, so the Go-client tests run only without -race; the
// broker's own concurrency is raced by the processor tests.
const raceEnabled = true
