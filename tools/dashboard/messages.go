package dashboard

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/systopic"
	"github.com/wharfmq/wharf/tools/admin"
)

// Bounds of the message pages.
const (
	maxResults   = 200      // messages one query returns
	maxScan      = 2000     // messages a time-range query reads per queue
	pullBatch    = 32       // messages per PULL_MESSAGE
	bodyPreview  = 16 << 10 // body bytes a detail shows
	dlqRecent    = 50       // newest messages per DLQ queue
	maxTraceRecs = 16
)

// msgSummary is one row of a message list.
type msgSummary struct {
	MsgID           string `json:"msgId"`
	UniqKey         string `json:"uniqKey"`
	Topic           string `json:"topic"`
	Tags            string `json:"tags"`
	Keys            string `json:"keys"`
	Broker          string `json:"broker"`
	QueueID         int32  `json:"queueId"`
	QueueOffset     int64  `json:"queueOffset"`
	CommitLogOffset int64  `json:"commitLogOffset"`
	StoreTimestamp  int64  `json:"storeTimestamp"`
	BornTimestamp   int64  `json:"bornTimestamp"`
	BodySize        int    `json:"bodySize"`
	ReconsumeTimes  int32  `json:"reconsumeTimes"`
	// RetryTopic is a retried or dead-lettered message's original topic.
	RetryTopic string `json:"retryTopic,omitempty"`
}

func summarize(m admin.Message) msgSummary {
	return msgSummary{
		MsgID: m.MsgID, UniqKey: m.ClientID(), Topic: m.Topic, Tags: m.Properties["TAGS"], Keys: m.Properties["KEYS"],
		Broker: m.Broker, QueueID: m.QueueID, QueueOffset: m.QueueOffset, CommitLogOffset: m.CommitLogOffset,
		StoreTimestamp: m.StoreTimestamp, BornTimestamp: m.BornTimestamp, BodySize: len(m.Body),
		ReconsumeTimes: m.ReconsumeTimes, RetryTopic: m.Properties["RETRY_TOPIC"],
	}
}

func summaries(ms []admin.Message) []msgSummary {
	slices.SortStableFunc(ms, func(a, b admin.Message) int { return cmp.Compare(b.StoreTimestamp, a.StoreTimestamp) })
	out := make([]msgSummary, 0, min(len(ms), maxResults))
	for _, m := range ms[:min(len(ms), maxResults)] {
		out = append(out, summarize(m))
	}
	return out
}

// messages answers a query by key, by id or by topic and time range.
func (s *Server) messages(ctx context.Context, q query) (any, error) {
	topic := q.str("topic")
	key, id := q.str("key"), q.str("id")
	var ms []admin.Message
	var err error
	switch {
	case id != "":
		if _, _, perr := msg.ParseOffsetMsgID(id); perr != nil && topic == "" {
			return nil, badRequest("%q is not an offset message id; give the topic to look it up as a client message id", id)
		}
		ms, err = s.ac.MessageByID(ctx, id, topic, "")
	case topic == "":
		return nil, badRequest("parameter %q is required", "topic")
	case key != "":
		ms, err = s.ac.MessagesByKey(ctx, topic, key, "", maxResults)
	default:
		ms, err = s.byTime(ctx, q, topic)
	}
	if errors.Is(err, admin.ErrNotFound) {
		return map[string]any{"messages": []msgSummary{}}, nil
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"messages": summaries(ms)}, nil
}

// byTime reads the topic's messages stored in [begin, end] (ms; the last
// hour when absent), at most maxScan per queue.
func (s *Server) byTime(ctx context.Context, q query, topic string) ([]admin.Message, error) {
	now := time.Now().UnixMilli()
	begin, ok, err := parseInt(q, "begin")
	if err != nil {
		return nil, err
	}
	if !ok {
		begin = now - time.Hour.Milliseconds()
	}
	end, ok, err := parseInt(q, "end")
	if err != nil {
		return nil, err
	}
	if !ok {
		end = now
	}
	if end < begin {
		return nil, badRequest("end %d is before begin %d", end, begin)
	}
	qs, err := s.ac.TopicQueues(ctx, topic, "")
	if err != nil {
		return nil, err
	}
	var out []admin.Message
	for _, r := range qs {
		from, err := s.ac.SearchOffset(ctx, r.Addr, topic, r.QueueID, begin)
		if err != nil {
			return nil, err
		}
		to, err := s.ac.SearchOffset(ctx, r.Addr, topic, r.QueueID, end+1)
		if err != nil {
			return nil, err
		}
		to = min(to+1, from+maxScan) // the search may land just before end
		for off := from; off < to; {
			ms, err := s.pull(ctx, r.Addr, topic, r.QueueID, off, min(pullBatch, to-off))
			if err != nil {
				return nil, err
			}
			if len(ms) == 0 {
				break
			}
			for _, m := range ms {
				if m.StoreTimestamp >= begin && m.StoreTimestamp <= end {
					out = append(out, m)
				}
			}
			off = ms[len(ms)-1].QueueOffset + 1
		}
	}
	return out, nil
}

// pull reads up to n messages of one queue from off on, as the tools'
// group (which never commits); none there is an empty result.
func (s *Server) pull(ctx context.Context, broker, topic string, queueID int32, off, n int64) ([]admin.Message, error) {
	r, err := s.ac.Pull(ctx, broker, admin.PullRequest{Topic: topic, QueueID: queueID, Offset: off, MaxNums: int32(n), CommitOffset: -1})
	if err != nil {
		return nil, err
	}
	return r.Messages[:min(len(r.Messages), int(n))], nil
}

// message shows one message: its fields, properties, a body preview and,
// when the trace topic holds any, its trace records.
func (s *Server) message(ctx context.Context, q query) (any, error) {
	broker, err := q.need("broker")
	if err != nil {
		return nil, err
	}
	off, ok, err := parseInt(q, "offset")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, badRequest("parameter %q is required", "offset")
	}
	if err := s.knownBroker(ctx, broker); err != nil {
		return nil, err
	}
	m, err := s.ac.ViewMessage(ctx, broker, off)
	if err != nil {
		return nil, err
	}
	b, berr := m.BodyPrefix(bodyPreview)
	d := map[string]any{
		"message":    summarize(m),
		"properties": m.Properties,
		"sysFlag":    m.SysFlag, "flag": m.Flag, "bornHost": m.BornHost, "storeHost": m.StoreHost,
		"compressed": m.Compressed, "bodyCRC": m.BodyCRC,
		"truncated": len(b) >= bodyPreview,
	}
	switch {
	case berr != nil:
		d["bodyError"] = berr.Error()
	case utf8.Valid(b):
		d["body"] = string(b)
	default:
		d["bodyHex"] = hex.Dump(b[:min(len(b), 1024)])
	}
	d["trace"] = s.trace(ctx, m)
	return d, nil
}

// trace returns the message's trace records (RMQ_SYS_TRACE_TOPIC, keyed
// by the client message id), each split into its fields; none when the
// trace topic does not exist or holds nothing for it.
func (s *Server) trace(ctx context.Context, m admin.Message) [][]string {
	out := [][]string{}
	id := m.ClientID()
	if id == "" {
		return out
	}
	ms, err := s.ac.MessagesByKey(ctx, systopic.Trace, id, "", maxTraceRecs)
	if err != nil {
		return out // no trace topic, or nothing traced: not an error here
	}
	for _, tm := range ms {
		b, err := tm.BodyPrefix(64 << 10)
		if err != nil {
			continue
		}
		// A trace body is records ended by \x02, fields split by \x01.
		for rec := range strings.SplitSeq(string(b), "\x02") {
			if f := strings.Split(strings.TrimSpace(rec), "\x01"); len(f) > 1 && strings.Contains(rec, id) {
				out = append(out, f)
			}
		}
	}
	return out
}

// dlq lists the dead-letter topics with their message counts.
func (s *Server) dlq(ctx context.Context, _ query) (any, error) {
	ts, err := s.allTopics(ctx)
	if err != nil {
		return nil, err
	}
	type row struct {
		Group    string `json:"group"`
		Topic    string `json:"topic"`
		Messages int64  `json:"messages"`
	}
	rows := []row{}
	for _, t := range ts {
		if g, ok := strings.CutPrefix(t.Topic, dlqPrefix); ok {
			rows = append(rows, row{g, t.Topic, t.Messages})
		}
	}
	return map[string]any{"dlq": rows}, nil
}

// dlqMessages lists the newest messages of a group's dead-letter topic.
func (s *Server) dlqMessages(ctx context.Context, q query) (any, error) {
	g, err := q.need("group")
	if err != nil {
		return nil, err
	}
	topic := dlqPrefix + g
	qs, err := s.ac.TopicStatus(ctx, topic, "")
	if err != nil {
		return nil, err
	}
	var all []admin.Message
	for _, st := range qs {
		for off := max(st.MinOffset, st.MaxOffset-dlqRecent); off < st.MaxOffset; {
			ms, err := s.pull(ctx, st.Addr, topic, st.QueueID, off, pullBatch)
			if err != nil {
				return nil, err
			}
			if len(ms) == 0 {
				break
			}
			all = append(all, ms...)
			off = ms[len(ms)-1].QueueOffset + 1
		}
	}
	return map[string]any{"group": g, "topic": topic, "messages": summaries(all)}, nil
}

// decode reads a mutating request's JSON body into v.
func decode(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return badRequest("request body: %v", err)
	}
	return nil
}

func (s *Server) createTopic(ctx context.Context, b []byte) (any, error) {
	var req struct {
		Topic       string `json:"topic"`
		Cluster     string `json:"cluster"`
		ReadQueues  int32  `json:"readQueues"`
		WriteQueues int32  `json:"writeQueues"`
	}
	if err := decode(b, &req); err != nil {
		return nil, err
	}
	req.Topic = strings.TrimSpace(req.Topic)
	if req.Topic == "" {
		return nil, badRequest("topic is required")
	}
	w := cmp.Or(req.WriteQueues, 4)
	r := cmp.Or(req.ReadQueues, w)
	if w < 1 || r < 1 || w > 1024 || r > 1024 {
		return nil, badRequest("queue counts must be 1 to 1024")
	}
	tc := admin.TopicConfig{TopicName: req.Topic, ReadQueueNums: r, WriteQueueNums: w, Perm: 6}
	addrs, err := s.ac.CreateTopicOn(ctx, tc, "", req.Cluster)
	if err != nil {
		return nil, err
	}
	return map[string]any{"topic": req.Topic, "brokers": addrs}, nil
}

func (s *Server) deleteTopic(ctx context.Context, b []byte) (any, error) {
	var req struct {
		Topic string `json:"topic"`
	}
	if err := decode(b, &req); err != nil {
		return nil, err
	}
	if req.Topic == "" {
		return nil, badRequest("topic is required")
	}
	addrs, err := s.ac.DeleteTopic(ctx, req.Topic, "", "")
	if err != nil {
		return nil, err
	}
	return map[string]any{"topic": req.Topic, "brokers": addrs}, nil
}

func (s *Server) resetOffset(ctx context.Context, b []byte) (any, error) {
	var req struct {
		Group     string `json:"group"`
		Topic     string `json:"topic"`
		Timestamp int64  `json:"timestamp"` // ms
		Latest    bool   `json:"latest"`
	}
	if err := decode(b, &req); err != nil {
		return nil, err
	}
	if req.Group == "" || req.Topic == "" {
		return nil, badRequest("group and topic are required")
	}
	// Forced, as the dashboards do: the operator picked the time.
	qs, err := s.ac.ResetOffsets(ctx, req.Group, req.Topic, "", admin.ResetTarget{Time: time.UnixMilli(req.Timestamp), Latest: req.Latest}, true, false)
	if err != nil {
		return nil, err
	}
	return map[string]any{"queues": qs}, nil
}

// resend sends a dead-lettered message again to its group's retry topic,
// so the group, and only it, consumes it again (the client restores the
// original topic from RETRY_TOPIC).
func (s *Server) resend(ctx context.Context, b []byte) (any, error) {
	var req struct {
		Group           string `json:"group"`
		Broker          string `json:"broker"`
		CommitLogOffset int64  `json:"commitLogOffset"`
	}
	if err := decode(b, &req); err != nil {
		return nil, err
	}
	if req.Group == "" || req.Broker == "" {
		return nil, badRequest("group and broker are required")
	}
	if err := s.knownBroker(ctx, req.Broker); err != nil {
		return nil, err
	}
	m, err := s.ac.ViewMessage(ctx, req.Broker, req.CommitLogOffset)
	if err != nil {
		return nil, err
	}
	if m.Topic != dlqPrefix+req.Group {
		return nil, badRequest("the message at %d is in topic %q, not in %s%s", req.CommitLogOffset, m.Topic, dlqPrefix, req.Group)
	}
	m.Properties = maps.Clone(m.Properties)
	// Sent now, not after a delay, and not as a scheduled message.
	for _, p := range []string{"DELAY", "REAL_TOPIC", "REAL_QID", "TIMER_DELIVER_MS", "TIMER_DELAY_SEC", "TIMER_DELAY_MS"} {
		delete(m.Properties, p)
	}
	id, err := s.ac.Resend(ctx, req.Broker, retryPrefix+req.Group, m)
	if err != nil {
		return nil, err
	}
	return map[string]any{"msgId": id, "topic": retryPrefix + req.Group}, nil
}
