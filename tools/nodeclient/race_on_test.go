//go:build race

package nodeclient

// raceEnabled: the official Go client races internally (see
// broker/race_on_test.go), so the checks that use it are left out under
// -race; the ali-ons scripts and Wharf's own admin client still run.
const raceEnabled = true
