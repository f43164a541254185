package offsets

import (
	"errors"
	"fmt"
)

// ErrUnknownGroup refuses a reset for a group the broker does not know.
var ErrUnknownGroup = errors.New("unknown consumer group")

// Reset is a request to move a group's offsets on one topic to a time.
type Reset struct {
	Group, Topic string
	// Queues is the topic's read queue count.
	Queues int32
	// Timestamp is milliseconds since the epoch, or -1 for the end of
	// each queue.
	Timestamp int64
	// Force lets an offset move forward too.
	Force bool
	// CreateGroup creates an unknown group instead of refusing it.
	CreateGroup bool
}

// ResetResult is what a reset committed.
type ResetResult struct {
	// Offsets is the new offset of each queue, by queue id.
	Offsets []int64
	// Moved lists the queues whose offset changed (or that had none).
	Moved []int32
	// Kept lists the queues that kept their offset because the target was
	// ahead and Force was false.
	Kept []int32
}

// Reset moves a group's offsets on a topic to the first message stored at
// or after r.Timestamp (-1: the end of each queue) and commits them.
//
// As in RocketMQ, without Force an offset only moves back, so a reset never
// skips messages the group has not consumed. A queue the group has no
// offset for gets the target offset. A group with no subscription group
// config and no offset on the topic is refused with ErrUnknownGroup (a typo
// must not create offsets for a group nobody runs) unless r.CreateGroup.
func (s *Service) Reset(r Reset) (ResetResult, error) {
	if err := s.checkGroup(r); err != nil {
		return ResetResult{}, err
	}
	res := ResetResult{Offsets: make([]int64, r.Queues)}
	for q := range r.Queues {
		target, err := s.resetTarget(r.Topic, q, r.Timestamp)
		if err != nil {
			return ResetResult{}, err
		}
		cur, ok, err := s.store.ConsumerOffset(r.Group, r.Topic, q)
		if err != nil {
			return ResetResult{}, err
		}
		if ok && cur >= 0 && !r.Force && target > cur {
			target = cur
			res.Kept = append(res.Kept, q)
		}
		if !ok || cur != target {
			res.Moved = append(res.Moved, q)
		}
		res.Offsets[q] = target
	}
	for q, off := range res.Offsets {
		if err := s.Commit(r.Group, r.Topic, int32(q), off); err != nil {
			return ResetResult{}, fmt.Errorf("[reset-offset] committing queue %d: %v", q, err)
		}
	}
	return res, nil
}

// checkGroup returns ErrUnknownGroup for a group with no config and no
// offset on the topic, unless the request creates it.
func (s *Service) checkGroup(r Reset) error {
	if s.groups.Known(r.Group) {
		return nil
	}
	for q := range r.Queues {
		if _, ok, err := s.store.ConsumerOffset(r.Group, r.Topic, q); err != nil {
			return err
		} else if ok {
			return nil
		}
	}
	if !r.CreateGroup {
		return ErrUnknownGroup
	}
	if err := s.groups.Create(r.Group); err != nil {
		return err
	}
	s.log.Info("reset offset: subscription group created on request", "group", r.Group)
	return nil
}

// resetTarget is the offset a reset to ts moves a queue to: its end for
// -1, else the first offset stored at or after ts (the end when every
// message is older).
func (s *Service) resetTarget(topic string, queueID int32, ts int64) (int64, error) {
	if ts == -1 {
		st, _ := s.store.QueueState(topic, queueID)
		return st.Max, nil
	}
	off, err := s.store.OffsetByTime(topic, queueID, ts)
	if err != nil {
		return 0, fmt.Errorf("[reset-offset] searching queue %d of %s by time: %w", queueID, topic, err)
	}
	return off, nil
}
