// Package offsets owns the consumer offsets of a broker: committing them
// (a cache that skips rewriting an unchanged value and keeps the commits of
// one queue in arrival order), the start offset of a group that never
// committed (the "young queue answers 0" rule, trap T7, described in the
// broker package doc), and the domain part of a reset to a time (which
// queues move, the force rule, the refusal of an unknown group).
//
// The wire (ext headers, response codes) stays in package broker; this
// package takes and returns plain values.
//
// Lock order: Service.mu (the slot table) is never held while a slot's mu
// is taken; a slot's mu is held across the store write of its key, so that
// commits of one key land in the order they arrived.
package offsets
