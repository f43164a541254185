package client

// GroupCount is how many connections a consumer group has, and how it
// consumes (the heartbeat's consumeType: CONSUME_PASSIVELY for push,
// CONSUME_ACTIVELY for pull).
type GroupCount struct {
	Group       string
	ConsumeType string
	Conns       int
}

// Counts returns the number of producer group memberships (one per group
// and connection, as RocketMQ's producer_connections counts) and, per
// consumer group, its connections.
func (r *Registry[C]) Counts() (producers int, consumers []GroupCount) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, members := range r.producers {
		producers += len(members)
	}
	consumers = make([]GroupCount, 0, len(r.consumers))
	for name, g := range r.consumers {
		consumers = append(consumers, GroupCount{Group: name, ConsumeType: g.consumeType, Conns: len(g.members)})
	}
	return producers, consumers
}
