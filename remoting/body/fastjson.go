package body

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Java writes maps keyed by MessageQueue (TopicStatsTable, ConsumeStats,
// ResetOffsetBody) with fastjson, which puts the key object itself in key
// position:
//
//	{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{...}}}
//
// encoding/json can neither write nor read that, so this file writes it
// piece by piece (AppendMessageQueue, AppendString, AppendJavaDouble) and
// reads it by walking the outer objects and handing only well-formed
// pieces to encoding/json (eachMember, DecodeMQTable). Keys may also be
// numbers (fastjson's Map<Long,...>) or strings holding a queue's JSON
// (what a standard-JSON writer emits); both are read.

// MessageQueue is Java's MessageQueue.
type MessageQueue struct {
	BrokerName string `json:"brokerName"`
	QueueID    int32  `json:"queueId"`
	Topic      string `json:"topic"`
}

// ErrMalformed is wrapped by every error of the fastjson reader.
var ErrMalformed = errors.New("malformed body")

// AppendMessageQueue appends mq as fastjson writes it (fields sorted).
func AppendMessageQueue(dst []byte, mq MessageQueue) []byte {
	dst = append(dst, `{"brokerName":`...)
	dst = AppendString(dst, mq.BrokerName)
	dst = append(dst, `,"queueId":`...)
	dst = strconv.AppendInt(dst, int64(mq.QueueID), 10)
	dst = append(dst, `,"topic":`...)
	dst = AppendString(dst, mq.Topic)
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. '"', '\\' and control
// characters are escaped (\n, \r, \t short, the others as \u00XX);
// invalid UTF-8 is replaced by U+FFFD so the output is valid JSON. Unlike
// encoding/json, '<', '>' and '&' are written as they are, as fastjson
// does.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendJavaDouble appends v as Java's Double.toString writes the values
// that occur in bodies: integral values keep a ".0". NaN and infinities,
// which JSON cannot hold, are written as 0.0.
func AppendJavaDouble(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	n := len(dst)
	dst = strconv.AppendFloat(dst, v, 'f', -1, 64)
	if !strings.ContainsRune(string(dst[n:]), '.') {
		dst = append(dst, ".0"...)
	}
	return dst
}

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
		return 0, fmt.Errorf("%w: value expected at end of input", ErrMalformed)
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
		return 0, fmt.Errorf("%w: unterminated string at %d", ErrMalformed, i)
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
		return 0, fmt.Errorf("%w: unclosed object at %d", ErrMalformed, i)
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ':' &&
			b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
			j++
		}
		if j == i {
			return 0, fmt.Errorf("%w: unexpected %q at %d", ErrMalformed, b[i], i)
		}
		return j, nil
	}
}

// eachMember calls fn with the raw key and raw value of every member of
// the object at the start of b. Keys may be objects or numbers, as fastjson
// writes them; neither keys nor values are checked beyond their extent.
func eachMember(b []byte, fn func(key, val []byte) error) error {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return fmt.Errorf("%w: object expected", ErrMalformed)
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
			return fmt.Errorf("%w: ':' expected at %d", ErrMalformed, i)
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
			return fmt.Errorf("%w: unclosed object", ErrMalformed)
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return nil
		default:
			return fmt.Errorf("%w: ',' or '}' expected at %d", ErrMalformed, i)
		}
	}
}

// decodeMessageQueueKey reads a MessageQueue key: an object, or a string
// holding one.
func decodeMessageQueueKey(key []byte) (MessageQueue, error) {
	var mq MessageQueue
	if len(key) > 0 && key[0] == '"' {
		var s string
		if err := json.Unmarshal(key, &s); err != nil {
			return mq, fmt.Errorf("%w: message queue key %.80q: %v", ErrMalformed, key, err)
		}
		key = []byte(s)
	}
	if err := json.Unmarshal(key, &mq); err != nil {
		return mq, fmt.Errorf("%w: message queue key %.80q: %v", ErrMalformed, key, err)
	}
	return mq, nil
}

// DecodeMQTable reads a fastjson object whose member named table is a map
// keyed by MessageQueue: fn gets each queue and its value's JSON, in body
// order. The other members are returned raw (they are plain JSON).
func DecodeMQTable(body []byte, table string, fn func(MessageQueue, []byte) error) (map[string][]byte, error) {
	other := map[string][]byte{}
	err := eachMember(body, func(key, val []byte) error {
		var name string
		if err := json.Unmarshal(key, &name); err != nil {
			return fmt.Errorf("%w: member name %.80q", ErrMalformed, key)
		}
		if name != table {
			other[name] = val
			return nil
		}
		return eachMember(val, func(k, v []byte) error {
			mq, err := decodeMessageQueueKey(k)
			if err != nil {
				return err
			}
			return fn(mq, v)
		})
	})
	return other, err
}
