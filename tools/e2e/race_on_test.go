//go:build race

package e2e

// raceEnabled: the official Go client races internally (see
// broker/race_on_test.go), so the tests that use it skip under -race.
const raceEnabled = true
