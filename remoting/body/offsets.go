package body

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The GET_ALL_CONSUMER_OFFSET (43) and GET_ALL_DELAY_OFFSET (45) replies
// are fastjson maps keyed by numbers, which fastjson writes unquoted:
//
//	43: {"offsetTable":{"TopicA@GroupA":{0:12,1:7}}}   (Java ConsumerOffsetManager)
//	45: {"offsetTable":{1:0,2:37}}                      (Java DelayOffsetSerializeWrapper; key = delay level)
//
// The writers below emit that shape; the readers accept quoted and unquoted
// number keys in any order and skip other members (the 5.x dataVersion).

// TopicGroupSeparator joins topic and group in a consumer offset key.
const TopicGroupSeparator = "@"

// ConsumerOffsetKey is the key of a (topic, group) in the offset table.
type ConsumerOffsetKey struct {
	Topic, Group string
}

// ConsumerOffsetTable is the body of GET_ALL_CONSUMER_OFFSET: per topic
// and group, the committed offset of each queue.
type ConsumerOffsetTable map[ConsumerOffsetKey]map[int32]int64

// AppendConsumerOffsets appends t as Java writes it, keys sorted so equal
// tables give equal bytes.
func AppendConsumerOffsets(dst []byte, t ConsumerOffsetTable) []byte {
	keys := make([]ConsumerOffsetKey, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b ConsumerOffsetKey) int {
		return strings.Compare(a.Topic+TopicGroupSeparator+a.Group, b.Topic+TopicGroupSeparator+b.Group)
	})
	dst = append(dst, `{"offsetTable":{`...)
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, k.Topic+TopicGroupSeparator+k.Group)
		dst = append(dst, ':')
		dst = appendIntTable(dst, t[k])
	}
	return append(dst, "}}"...)
}

// DecodeConsumerOffsets reads a GET_ALL_CONSUMER_OFFSET body. A key
// without '@' is an error; Java splits at it, and RocketMQ topic and group
// names cannot hold one.
func DecodeConsumerOffsets(b []byte) (ConsumerOffsetTable, error) {
	t := ConsumerOffsetTable{}
	err := eachMember(b, func(key, val []byte) error {
		if name, err := memberName(key); err != nil || name != "offsetTable" {
			return err
		}
		return eachMember(val, func(k, v []byte) error {
			var tg string
			if err := json.Unmarshal(k, &tg); err != nil {
				return fmt.Errorf("%w: offset table key %.80q", ErrMalformed, k)
			}
			topic, group, ok := strings.Cut(tg, TopicGroupSeparator)
			if !ok || topic == "" || group == "" {
				return fmt.Errorf("%w: offset table key %q is not topic@group", ErrMalformed, tg)
			}
			queues, err := decodeIntTable(v)
			if err != nil {
				return err
			}
			t[ConsumerOffsetKey{topic, group}] = queues
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// AppendDelayOffsets appends the delay progress table (delay level, from
// 1, to the offset of its next message in the schedule topic's queue
// level-1) as Java's DelayOffsetSerializeWrapper.
func AppendDelayOffsets(dst []byte, levels map[int32]int64) []byte {
	dst = append(dst, `{"offsetTable":`...)
	dst = appendIntTable(dst, levels)
	return append(dst, '}')
}

// DecodeDelayOffsets reads a GET_ALL_DELAY_OFFSET body.
func DecodeDelayOffsets(b []byte) (map[int32]int64, error) {
	var t map[int32]int64
	err := eachMember(b, func(key, val []byte) error {
		name, err := memberName(key)
		if err != nil || name != "offsetTable" {
			return err
		}
		t, err = decodeIntTable(val)
		return err
	})
	if err != nil {
		return nil, err
	}
	if t == nil {
		t = map[int32]int64{}
	}
	return t, nil
}

func memberName(key []byte) (string, error) {
	var name string
	if err := json.Unmarshal(key, &name); err != nil {
		return "", fmt.Errorf("%w: member name %.80q", ErrMalformed, key)
	}
	return name, nil
}

// appendIntTable writes {k:v,...} with unquoted keys, sorted.
func appendIntTable(dst []byte, m map[int32]int64) []byte {
	keys := make([]int32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, int64(k), 10)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, m[k], 10)
	}
	return append(dst, '}')
}

// decodeIntTable reads {k:v,...} whose keys are int32 (quoted or not) and
// values int64.
func decodeIntTable(b []byte) (map[int32]int64, error) {
	m := map[int32]int64{}
	err := eachMember(b, func(k, v []byte) error {
		ks := string(k)
		if len(ks) >= 2 && ks[0] == '"' && ks[len(ks)-1] == '"' {
			ks = ks[1 : len(ks)-1]
		}
		key, err := strconv.ParseInt(ks, 10, 32)
		if err != nil {
			return fmt.Errorf("%w: key %.40q is not an int32", ErrMalformed, k)
		}
		val, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: value %.40q of key %d is not an int64", ErrMalformed, v, key)
		}
		m[int32(key)] = val
		return nil
	})
	return m, err
}
