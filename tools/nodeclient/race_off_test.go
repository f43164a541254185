//go:build !race

package nodeclient

// raceEnabled: see race_on_test.go.
const raceEnabled = false
