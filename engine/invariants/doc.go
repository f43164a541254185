// Package invariants holds Wharf's expensive self-checks. They compile in
// only under the `invariants` build tag, which `make test` sets (and one CI
// pass leaves off), after Pebble's internal/invariants: checks that would
// cost too much in production — offsets dense, marks ordered, released
// buffers poisoned — run on every test, and a violated one panics with what
// it found.
package invariants
