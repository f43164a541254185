package admin

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Java brokers write maps keyed by MessageQueue (TopicStatsTable,
// ConsumeStats) with fastjson, which puts the key object itself in key
// position: {"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{...}}}.
// encoding/json cannot read that, so the outer objects are walked here and
// only well-formed pieces are handed to encoding/json. A key written as a
// string holding the queue's JSON (what a standard-JSON writer would emit)
// is accepted too.

// MessageQueue is Java's MessageQueue.
type MessageQueue struct {
	BrokerName string `json:"brokerName"`
	QueueID    int32  `json:"queueId"`
	Topic      string `json:"topic"`
}

var errFastjson = errors.New("malformed body")

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the index after the JSON value (or fastjson key object)
// that starts at b[i]. Strings are skipped whole so braces in them do not
// count; nesting is bounded by the input's length.
func valueEnd(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, fmt.Errorf("%w: value expected at end of input", errFastjson)
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("%w: unterminated string at %d", errFastjson, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e, err := valueEnd(b, j)
				if err != nil {
					return 0, err
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("%w: unclosed object at %d", errFastjson, i)
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ':' &&
			b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		if j == i {
			return 0, fmt.Errorf("%w: unexpected %q at %d", errFastjson, b[i], i)
		}
		return j, nil
	}
}

// eachMember calls fn with the raw key and raw value of every member of the
// object at the start of b (keys may be objects, as fastjson writes them).
func eachMember(b []byte, fn func(key, val []byte) error) error {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return fmt.Errorf("%w: object expected", errFastjson)
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil
	}
	for {
		ke, err := valueEnd(b, i)
		if err != nil {
			return err
		}
		key := b[i:ke]
		i = skipWS(b, ke)
		if i >= len(b) || b[i] != ':' {
			return fmt.Errorf("%w: ':' expected at %d", errFastjson, i)
		}
		i = skipWS(b, i+1)
		ve, err := valueEnd(b, i)
		if err != nil {
			return err
		}
		if err := fn(key, b[i:ve]); err != nil {
			return err
		}
		i = skipWS(b, ve)
		if i >= len(b) {
			return fmt.Errorf("%w: unclosed object", errFastjson)
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return nil
		default:
			return fmt.Errorf("%w: ',' or '}' expected at %d", errFastjson, i)
		}
	}
}

// decodeMQKey reads a MessageQueue key: an object, or a string holding one.
func decodeMQKey(key []byte) (MessageQueue, error) {
	var mq MessageQueue
	if len(key) > 0 && key[0] == '"' {
		var s string
		if err := json.Unmarshal(key, &s); err != nil {
			return mq, err
		}
		key = []byte(s)
	}
	if err := json.Unmarshal(key, &mq); err != nil {
		return mq, fmt.Errorf("%w: message queue key %.80q: %v", errFastjson, key, err)
	}
	return mq, nil
}

// decodeMQTables reads a fastjson object whose member table is a map keyed
// by MessageQueue: fn gets each queue and its value's JSON; the other
// members are returned raw (they are plain JSON).
func decodeMQTables(body []byte, table string, fn func(MessageQueue, []byte) error) (map[string][]byte, error) {
	other := map[string][]byte{}
	err := eachMember(body, func(key, val []byte) error {
		var name string
		if err := json.Unmarshal(key, &name); err != nil {
			return fmt.Errorf("%w: member name %.80q", errFastjson, key)
		}
		if name != table {
			other[name] = val
			return nil
		}
		return eachMember(val, func(k, v []byte) error {
			mq, err := decodeMQKey(k)
			if err != nil {
				return err
			}
			return fn(mq, v)
		})
	})
	return other, err
}
