package client

import (
	"fmt"
	"strings"

	"github.com/wharfmq/wharf/broker/sqlfilter"
	"github.com/wharfmq/wharf/engine"
)

// SubscriptionData is one subscription as a heartbeat states it (Java
// SubscriptionData without codeSet, ignored on purpose: trap T9).
type SubscriptionData struct {
	Topic          string
	SubString      string
	Tags           []string
	SubVersion     int64
	ExpressionType string
}

// Subscription is a consumer group's subscription to one topic, from the
// latest heartbeat, with its filter built.
type Subscription struct {
	Topic      string
	SubString  string
	ExpType    string
	Tags       []string
	SubVersion int64
	// Filter selects the messages the subscription wants; nil when SQLErr
	// is set.
	Filter *engine.TagFilter
	// SQLErr is why a SQL92 expression did not compile (RocketMQ then
	// keeps no ConsumerFilterData).
	SQLErr error
}

// expressionSQL92 is RocketMQ's ExpressionType.SQL92 (matched exactly, as
// its FilterFactory does).
const expressionSQL92 = "SQL92"

func newSubscription(sd SubscriptionData) *Subscription {
	s := &Subscription{Topic: sd.Topic, SubString: sd.SubString, ExpType: sd.ExpressionType, SubVersion: sd.SubVersion}
	if !IsTagType(sd.ExpressionType) {
		// Compiled once per subscription change: a heartbeat only
		// replaces a subscription with a higher subVersion. Whether the
		// broker serves it is decided at pull time, as in RocketMQ,
		// whose heartbeat registers any expression type.
		s.Filter, s.SQLErr = sqlFilter(sd.ExpressionType, sd.SubString, sqlfilter.Compile)
		return s
	}
	// Build the filter from the tag strings (trap T9: the client's codeSet
	// hashes UTF-8 bytes, the queue stores Java's UTF-16 hash).
	for _, t := range sd.Tags {
		if t = strings.TrimSpace(t); t != "" {
			s.Tags = append(s.Tags, t)
		}
	}
	if len(s.Tags) == 0 && sd.SubString != "" && sd.SubString != "*" {
		s.Tags = ParseTags(sd.SubString)
	}
	s.Filter = engine.NewTagFilter(s.Tags...)
	return s
}

// IsTagType is RocketMQ's ExpressionType.isTagType: empty or "TAG" (Wharf
// also takes "tag").
func IsTagType(expType string) bool { return expType == "" || strings.EqualFold(expType, "TAG") }

// PullFilter builds the filter of a non-TAG expression a pull carries,
// compiling SQL92 once per distinct expression (the official clients resend
// it with every pull).
func (r *Registry[C]) PullFilter(expType, expr string) (*engine.TagFilter, error) {
	return sqlFilter(expType, expr, r.sqlCache.Compile)
}

// sqlFilter builds the engine filter of a non-TAG expression with compile
// (sqlfilter.Compile, or a Cache's).
func sqlFilter(expType, expr string, compile func(string) (*sqlfilter.Expr, error)) (*engine.TagFilter, error) {
	if expType != expressionSQL92 {
		return nil, fmt.Errorf("expression type %q is not supported, only TAG and SQL92", expType)
	}
	x, err := compile(expr)
	if err != nil {
		return nil, err
	}
	return engine.NewPropsFilter(x.Match), nil
}

// ParseTags splits a tag expression "a || b" into tags; "" and "*" mean
// all (nil).
func ParseTags(expr string) []string {
	expr = strings.TrimSpace(expr)
	if expr == "" || expr == "*" {
		return nil
	}
	var tags []string
	for _, t := range strings.Split(expr, "||") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	return tags
}
