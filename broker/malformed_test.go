package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
	rt "github.com/wharfmq/wharf/remoting/remotingtest"
	"github.com/wharfmq/wharf/systopic"
)

// T15: the malformed-request matrix against a live broker. Every case must
// end, within a second, in an error response with a non-zero code and a
// remark after which the same connection still serves, or (frame damage)
// in the connection being closed, after which a new connection serves.
// No handler may panic, and a healthy producer keeps going meanwhile.

// badGroups are consumer group names refused where a group is stored.
var badGroups = map[string]string{
	"blank": "", "len300": strings.Repeat("g", 300), "control": "g\x01roup", "nul": "g\x00", "newline": "g\nx",
}

// v2Keys maps SEND_MESSAGE keys to SEND_MESSAGE_V2's one-letter keys.
var v2Keys = map[string]string{"producerGroup": "a", "topic": "b", "defaultTopic": "c", "defaultTopicQueueNums": "d",
	"queueId": "e", "sysFlag": "f", "bornTimestamp": "g", "flag": "h", "properties": "i", "reconsumeTimes": "j",
	"unitMode": "k", "maxReconsumeTimes": "l", "batch": "m", "bname": "n"}

func toV2(ext map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range ext {
		if k2, ok := v2Keys[k]; ok {
			out[k2] = v
		}
	}
	return out
}

func toV2Fields(fs []rt.Field) []rt.Field {
	out := make([]rt.Field, len(fs))
	for i, f := range fs {
		out[i] = rt.Field{Key: v2Keys[f.Key], Kind: f.Kind}
	}
	return out
}

// batchEntry encodes one batch entry with chosen (possibly lying) lengths.
func batchEntry(size, bodyLen int32, body []byte, propLen int16, props string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(size))
	b = binary.BigEndian.AppendUint32(b, 0) // magic
	b = binary.BigEndian.AppendUint32(b, 0) // body crc
	b = binary.BigEndian.AppendUint32(b, 0) // flag
	b = binary.BigEndian.AppendUint32(b, uint32(bodyLen))
	b = append(b, body...)
	b = binary.BigEndian.AppendUint16(b, uint16(propLen))
	return append(b, props...)
}

const (
	matrixTopic    = "MT"
	matrixQueues   = 4
	matrixMaxBody  = 64 << 10
	matrixGroup    = "MG"
	matrixClientID = "127.0.0.1@matrix"
)

// brokerCases is the broker's matrix.
func brokerCases() []rt.Case {
	var cs []rt.Case
	add := func(name string, code int16, ext map[string]string, body []byte, want rt.Outcome) {
		cs = append(cs, rt.Case{Name: name, Req: remoting.NewRequest(code, ext, body), Want: want})
	}
	errCase := func(name string, code int16, ext map[string]string, body []byte) {
		add(name, code, ext, body, rt.WantError)
	}

	// SEND_MESSAGE, SEND_MESSAGE_V2, SEND_BATCH_MESSAGE.
	send := sendExt(matrixTopic, 0, "")
	sendReq := []rt.Field{rt.Str("producerGroup"), rt.Str("topic"), rt.Str("defaultTopic"), rt.I32("defaultTopicQueueNums"),
		rt.I32("queueId"), rt.I32("sysFlag"), rt.I64("bornTimestamp"), rt.I32("flag")}
	sendNum := []rt.Field{rt.I32("defaultTopicQueueNums"), rt.I32("queueId"), rt.I32("sysFlag"), rt.I64("bornTimestamp"),
		rt.I32("flag"), rt.I32("reconsumeTimes"), rt.I32("maxReconsumeTimes")}
	goodBatch := msg.AppendBatchEntry(nil, 0, []byte("b"), "")
	for _, v := range []struct {
		name string
		code int16
		ext  func(map[string]string) map[string]string
		req  []rt.Field
		num  []rt.Field
		body []byte
	}{
		{"send", remoting.CodeSendMessage, func(m map[string]string) map[string]string { return m }, sendReq, sendNum, []byte("x")},
		{"sendv2", remoting.CodeSendMessageV2, toV2, toV2Fields(sendReq), toV2Fields(sendNum), []byte("x")},
		{"batch", remoting.CodeSendBatchMessage, toV2, toV2Fields(sendReq), toV2Fields(sendNum), goodBatch},
	} {
		base := v.ext(send)
		cs = append(cs, rt.FieldCases(v.name, v.code, base, v.body, v.req, v.num)...)
		topicKey, queueKey, propsKey := "topic", "queueId", "properties"
		if v.code != remoting.CodeSendMessage {
			topicKey, queueKey, propsKey = "b", "e", "i"
		}
		for name, topic := range rt.BadTopics {
			errCase(v.name+"/topic_"+name, v.code, rt.WithExt(base, topicKey, topic), v.body)
		}
		errCase(v.name+"/topic_TBW102", v.code, rt.WithExt(base, topicKey, systopic.AutoCreate), v.body)
		errCase(v.name+"/topic_schedule", v.code, rt.WithExt(base, topicKey, systopic.Schedule), v.body)
		errCase(v.name+"/unknown_topic_bad_default", v.code, rt.WithExt(base, topicKey, "NEW_T", "defaultTopic", "NOPE", "c", "NOPE"), v.body)
		errCase(v.name+"/queue_unknown", v.code, rt.WithExt(base, queueKey, strconv.Itoa(matrixQueues)), v.body)
		errCase(v.name+"/queue_1000", v.code, rt.WithExt(base, queueKey, "1000"), v.body)
		errCase(v.name+"/queue_maxint", v.code, rt.WithExt(base, queueKey, strconv.Itoa(math.MaxInt32)), v.body)
		big := make([]byte, matrixMaxBody+1)
		if v.code == remoting.CodeSendBatchMessage {
			big = msg.AppendBatchEntry(nil, 0, big, "")
		}
		errCase(v.name+"/body_over_max", v.code, base, big)
		errCase(v.name+"/props_over_32k", v.code, rt.WithExt(base, propsKey, props("K", strings.Repeat("v", 40000))), v.body)
		errCase(v.name+"/props_transaction", v.code, rt.WithExt(base, propsKey, props(msg.PropTranMsg, "true")), v.body)
	}
	// Batch bodies whose inner lengths lie.
	batch := toV2(send)
	okEntry := batchEntry(20+3+2+0, 3, []byte("abc"), 0, "")
	for name, body := range map[string][]byte{
		"empty":               nil,
		"size_over_body":      batchEntry(1000, 3, []byte("abc"), 0, ""),
		"size_under_fixed":    batchEntry(5, 3, []byte("abc"), 0, ""),
		"size_negative":       batchEntry(-1, 3, []byte("abc"), 0, ""),
		"size_short_by_one":   batchEntry(24, 3, []byte("abc"), 0, ""),
		"bodylen_over_size":   batchEntry(25, 300, []byte("abc"), 0, ""),
		"bodylen_negative":    batchEntry(25, -3, []byte("abc"), 0, ""),
		"proplen_over":        batchEntry(25, 3, []byte("abc"), 50, ""),
		"proplen_negative":    batchEntry(27, 3, []byte("abc"), -2, "ab"),
		"trailing_bytes":      append(append([]byte{}, okEntry...), 1, 2, 3),
		"truncated_header":    okEntry[:10],
		"good_then_lying":     append(append([]byte{}, okEntry...), batchEntry(9999, 3, []byte("abc"), 0, "")...),
		"entry_with_delay":    msg.AppendBatchEntry(nil, 0, []byte("d"), props(msg.PropDelay, "3")),
		"entry_transactional": msg.AppendBatchEntry(nil, 0, []byte("t"), props(msg.PropTranMsg, "true")),
		"random_bytes":        []byte("\x00\x00\x00\x30this is not a batch body at all, really"),
	} {
		errCase("batch/body_"+name, remoting.CodeSendBatchMessage, batch, body)
	}

	// PULL_MESSAGE.
	pull := pullExt(matrixGroup, matrixTopic, 0, 0, 0, 0)
	pullNum := []rt.Field{rt.I32("queueId"), rt.I64("queueOffset"), rt.I32("maxMsgNums"), rt.I32("sysFlag"),
		rt.I64("commitOffset"), rt.I64("suspendTimeoutMillis")}
	cs = append(cs, rt.FieldCases("pull", remoting.CodePullMessage, pull, nil,
		append([]rt.Field{rt.Str("consumerGroup"), rt.Str("topic")}, pullNum...), pullNum)...)
	for name, topic := range rt.BadTopics {
		errCase("pull/topic_"+name, remoting.CodePullMessage, rt.WithExt(pull, "topic", topic), nil)
	}
	for name, g := range badGroups {
		errCase("pull/group_"+name, remoting.CodePullMessage, rt.WithExt(pull, "consumerGroup", g), nil)
	}
	errCase("pull/unknown_topic", remoting.CodePullMessage, rt.WithExt(pull, "topic", "NO_SUCH_TOPIC"), nil)
	errCase("pull/queue_negative", remoting.CodePullMessage, rt.WithExt(pull, "queueId", "-1"), nil)
	errCase("pull/queue_unknown", remoting.CodePullMessage, rt.WithExt(pull, "queueId", strconv.Itoa(matrixQueues)), nil)
	errCase("pull/offset_negative", remoting.CodePullMessage, rt.WithExt(pull, "queueOffset", "-1"), nil)
	errCase("pull/offset_maxint64", remoting.CodePullMessage, rt.WithExt(pull, "queueOffset", strconv.FormatInt(math.MaxInt64, 10)), nil)
	errCase("pull/sql92_filter", remoting.CodePullMessage, rt.WithExt(pull, "sysFlag", "4", "expressionType", "SQL92", "subscription", "a > 1"), nil)

	// Offsets and queue queries.
	qh := map[string]string{"topic": matrixTopic, "queueId": "0"}
	for _, v := range []struct {
		name string
		code int16
		ext  map[string]string
		req  []rt.Field
		num  []rt.Field
	}{
		{"query_offset", remoting.CodeQueryConsumerOffset, rt.WithExt(qh, "consumerGroup", matrixGroup),
			[]rt.Field{rt.Str("consumerGroup"), rt.Str("topic"), rt.I32("queueId")}, []rt.Field{rt.I32("queueId")}},
		{"update_offset", remoting.CodeUpdateConsumerOffset, rt.WithExt(qh, "consumerGroup", matrixGroup, "commitOffset", "0"),
			[]rt.Field{rt.Str("consumerGroup"), rt.Str("topic"), rt.I32("queueId"), rt.I64("commitOffset")},
			[]rt.Field{rt.I32("queueId"), rt.I64("commitOffset")}},
		{"max_offset", remoting.CodeGetMaxOffset, qh, []rt.Field{rt.Str("topic"), rt.I32("queueId")}, []rt.Field{rt.I32("queueId")}},
		{"min_offset", remoting.CodeGetMinOffset, qh, []rt.Field{rt.Str("topic"), rt.I32("queueId")}, []rt.Field{rt.I32("queueId")}},
		{"earliest_time", remoting.CodeGetEarliestMsgStoreTime, qh, []rt.Field{rt.Str("topic"), rt.I32("queueId")}, []rt.Field{rt.I32("queueId")}},
		{"search_offset", remoting.CodeSearchOffsetByTimestamp, rt.WithExt(qh, "timestamp", "0"),
			[]rt.Field{rt.Str("topic"), rt.I32("queueId"), rt.I64("timestamp")}, []rt.Field{rt.I32("queueId"), rt.I64("timestamp")}},
	} {
		cs = append(cs, rt.FieldCases(v.name, v.code, v.ext, nil, v.req, v.num)...)
		for name, topic := range rt.BadTopics {
			errCase(v.name+"/topic_"+name, v.code, rt.WithExt(v.ext, "topic", topic), nil)
		}
		errCase(v.name+"/queue_negative", v.code, rt.WithExt(v.ext, "queueId", "-1"), nil)
		errCase(v.name+"/queue_unknown", v.code, rt.WithExt(v.ext, "queueId", strconv.Itoa(matrixQueues)), nil)
		if _, ok := v.ext["consumerGroup"]; ok {
			for name, g := range badGroups {
				errCase(v.name+"/group_"+name, v.code, rt.WithExt(v.ext, "consumerGroup", g), nil)
			}
		}
	}
	errCase("update_offset/offset_below_minus_one", remoting.CodeUpdateConsumerOffset,
		rt.WithExt(qh, "consumerGroup", matrixGroup, "commitOffset", "-2"), nil)

	// QUERY_MESSAGE and VIEW_MESSAGE_BY_ID.
	query := map[string]string{"topic": matrixTopic, "key": "k", "maxNum": "32", "beginTimestamp": "0",
		"endTimestamp": strconv.FormatInt(math.MaxInt64, 10)}
	cs = append(cs, rt.FieldCases("query", remoting.CodeQueryMessage, query, nil,
		[]rt.Field{rt.Str("topic"), rt.Str("key"), rt.I32("maxNum"), rt.I64("beginTimestamp"), rt.I64("endTimestamp")},
		[]rt.Field{rt.I32("maxNum"), rt.I64("beginTimestamp"), rt.I64("endTimestamp")})...)
	errCase("query/topic_len300", remoting.CodeQueryMessage, rt.WithExt(query, "topic", rt.BadTopics["len300"]), nil)
	view := map[string]string{"offset": "0"}
	cs = append(cs, rt.FieldCases("view", remoting.CodeViewMessageByID, view, nil, []rt.Field{rt.I64("offset")}, []rt.Field{rt.I64("offset")})...)
	errCase("view/offset_negative", remoting.CodeViewMessageByID, rt.WithExt(view, "offset", "-1"), nil)
	errCase("view/offset_huge", remoting.CodeViewMessageByID, rt.WithExt(view, "offset", strconv.FormatInt(math.MaxInt64, 10)), nil)
	errCase("view/offset_past_end", remoting.CodeViewMessageByID, rt.WithExt(view, "offset", "1000000000"), nil)
	errCase("view/offset_mid_record", remoting.CodeViewMessageByID, rt.WithExt(view, "offset", "7"), nil)

	// Admin.
	topicCfg := map[string]string{"topic": "MT_ADMIN", "readQueueNums": "4", "writeQueueNums": "4", "perm": "6"}
	cs = append(cs, rt.FieldCases("create_topic", remoting.CodeUpdateAndCreateTopic, topicCfg, nil, []rt.Field{rt.Str("topic")},
		[]rt.Field{rt.I32("readQueueNums"), rt.I32("writeQueueNums"), rt.I32("perm")})...)
	for name, topic := range rt.BadTopics {
		errCase("create_topic/topic_"+name, remoting.CodeUpdateAndCreateTopic, rt.WithExt(topicCfg, "topic", topic), nil)
		errCase("delete_topic/topic_"+name, remoting.CodeDeleteTopicInBroker, map[string]string{"topic": topic}, nil)
	}
	errCase("create_topic/TBW102", remoting.CodeUpdateAndCreateTopic, rt.WithExt(topicCfg, "topic", systopic.AutoCreate), nil)
	errCase("create_topic/read_negative", remoting.CodeUpdateAndCreateTopic, rt.WithExt(topicCfg, "readQueueNums", "-1"), nil)
	errCase("create_topic/zero_queues", remoting.CodeUpdateAndCreateTopic, rt.WithExt(topicCfg, "readQueueNums", "0", "writeQueueNums", "0"), nil)
	errCase("create_topic/2000_queues", remoting.CodeUpdateAndCreateTopic, rt.WithExt(topicCfg, "writeQueueNums", "2000"), nil)
	errCase("create_topic/perm_negative", remoting.CodeUpdateAndCreateTopic, rt.WithExt(topicCfg, "perm", "-1"), nil)
	errCase("create_topic/perm_too_big", remoting.CodeUpdateAndCreateTopic, rt.WithExt(topicCfg, "perm", "64"), nil)
	errCase("create_topic/filter_type_bad", remoting.CodeUpdateAndCreateTopic, rt.WithExt(topicCfg, "topicFilterType", "NOT_A_TYPE"), nil)
	errCase("delete_topic/missing_topic", remoting.CodeDeleteTopicInBroker, map[string]string{}, nil)
	errCase("delete_topic/TBW102", remoting.CodeDeleteTopicInBroker, map[string]string{"topic": systopic.AutoCreate}, nil)

	// Heartbeat, unregister, consumer list, locks.
	for name, body := range map[string]string{
		"empty": "", "broken_json": `{"clientID":`, "array": `[1,2]`, "wrong_types": `{"clientID":5,"consumerDataSet":"x"}`,
		"no_client_id":  `{"producerDataSet":[{"groupName":"PG"}]}`,
		"group_control": `{"clientID":"c","consumerDataSet":[{"groupName":"g\u0001x","subscriptionDataSet":[]}]}`,
		"group_len300":  `{"clientID":"c","consumerDataSet":[{"groupName":"` + strings.Repeat("g", 300) + `","subscriptionDataSet":[]}]}`,
	} {
		errCase("heartbeat/"+name, remoting.CodeHeartBeat, nil, []byte(body))
	}
	errCase("unregister/missing_client_id", remoting.CodeUnregisterClient, map[string]string{"producerGroup": "PG"}, nil)
	errCase("consumer_list/missing_group", remoting.CodeGetConsumerListByGroup, map[string]string{}, nil)
	errCase("consumer_list/unknown_group", remoting.CodeGetConsumerListByGroup, map[string]string{"consumerGroup": "NOBODY"}, nil)
	for _, code := range []int16{remoting.CodeLockBatchMQ, remoting.CodeUnlockBatchMQ} {
		for name, body := range map[string]string{
			"empty": "", "broken_json": `{"consumerGroup":"x",`, "missing_fields": `{}`, "mqset_wrong_type": `{"consumerGroup":"g","clientId":"c","mqSet":"x"}`,
		} {
			errCase(fmt.Sprintf("lock_%d/%s", code, name), code, nil, []byte(body))
		}
	}

	// Oneway flag on requests that need a reply: no reply, connection fine.
	oneway := func(name string, code int16, ext map[string]string, body []byte) {
		r := remoting.NewRequest(code, ext, body)
		r.Flag = remoting.FlagOneway
		cs = append(cs, rt.Case{Name: "oneway/" + name, Req: r, Want: rt.WantNoReply})
	}
	oneway("send", remoting.CodeSendMessage, send, []byte("oneway"))
	oneway("sendv2", remoting.CodeSendMessageV2, toV2(send), []byte("oneway"))
	oneway("batch", remoting.CodeSendBatchMessage, toV2(send), goodBatch)
	oneway("pull", remoting.CodePullMessage, pull, nil)
	oneway("query_offset", remoting.CodeQueryConsumerOffset, rt.WithExt(qh, "consumerGroup", matrixGroup), nil)
	oneway("update_offset", remoting.CodeUpdateConsumerOffset, rt.WithExt(qh, "consumerGroup", matrixGroup, "commitOffset", "0"), nil)
	oneway("max_offset", remoting.CodeGetMaxOffset, qh, nil)
	oneway("min_offset", remoting.CodeGetMinOffset, qh, nil)
	oneway("earliest", remoting.CodeGetEarliestMsgStoreTime, qh, nil)
	oneway("search", remoting.CodeSearchOffsetByTimestamp, rt.WithExt(qh, "timestamp", "0"), nil)
	oneway("heartbeat", remoting.CodeHeartBeat, nil, []byte(`{"clientID":"ow"}`))
	oneway("unregister", remoting.CodeUnregisterClient, map[string]string{"clientID": "ow"}, nil)
	oneway("consumer_list", remoting.CodeGetConsumerListByGroup, map[string]string{"consumerGroup": matrixGroup}, nil)
	oneway("lock", remoting.CodeLockBatchMQ, nil, []byte(`{"consumerGroup":"g","clientId":"c","mqSet":[]}`))
	oneway("unlock", remoting.CodeUnlockBatchMQ, nil, []byte(`{"consumerGroup":"g","clientId":"c","mqSet":[]}`))
	oneway("create_topic", remoting.CodeUpdateAndCreateTopic, rt.WithExt(topicCfg, "topic", "MT_ONEWAY"), nil)
	oneway("delete_topic", remoting.CodeDeleteTopicInBroker, map[string]string{"topic": "MT_ONEWAY"}, nil)
	oneway("all_topics", remoting.CodeGetAllTopicConfig, nil, nil)
	oneway("all_groups", remoting.CodeGetAllSubscriptionGroupConfig, nil, nil)
	oneway("query", remoting.CodeQueryMessage, query, nil)
	oneway("view", remoting.CodeViewMessageByID, view, nil)
	oneway("malformed_send", remoting.CodeSendMessage, map[string]string{}, nil)

	for _, code := range rt.UnknownCodes {
		errCase(fmt.Sprintf("unknown_code/%d", code), code, map[string]string{"topic": matrixTopic}, []byte("?"))
	}
	cs = append(cs, rt.FrameCases(remoting.CodeGetMaxOffset, qh)...)
	return cs
}

// TestMalformedRequestMatrix is T15 for the broker.
func TestMalformedRequestMatrix(t *testing.T) {
	pl := rt.NewPanicLog(testLogger(t).Handler())
	cfg := testConfig(t.TempDir())
	cfg.MaxMessageSize = matrixMaxBody
	cfg.RejectTransactionMessage = true // props_transaction must be refused
	b, err := New(cfg, WithLogger(slog.New(pl)))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	tc := newTestClient(t, b.Addr())
	expectCode(t, tc.call(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": matrixTopic,
		"readQueueNums": strconv.Itoa(matrixQueues), "writeQueueNums": strconv.Itoa(matrixQueues), "perm": "6"}, nil),
		remoting.RespSuccess, "create topic")
	for q := range matrixQueues {
		tc.send(matrixTopic, q, props(msg.PropKeys, "k"), "seed")
	}

	// A healthy producer on its own connection for the whole matrix.
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := remoting.NewClient(remoting.ClientOptions{Logger: testLogger(t), Language: "GO", Version: 317})
		defer c.Close()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, err := c.Invoke(ctx, b.Addr(), remoting.NewRequest(remoting.CodeSendMessage,
				sendExt("HEALTHY", i%4, ""), []byte("healthy "+strconv.Itoa(i))))
			cancel()
			if err == nil && resp.Code != remoting.RespSuccess {
				err = fmt.Errorf("code %d %s", resp.Code, resp.Remark)
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				continue
			}
			sent.Add(1)
		}
	}()

	// Baseline rate of the healthy producer alone (a measuring window,
	// reported next to the rate during the matrix; 2 shared cores make a
	// ratio too noisy to assert).
	eventually(t, 5*time.Second, "the healthy producer's first send", func() bool { return sent.Load() > 0 })
	baseFrom, baseAt := sent.Load(), time.Now()
	time.Sleep(200 * time.Millisecond)
	baseRate := float64(sent.Load()-baseFrom) / time.Since(baseAt).Seconds()

	cases := brokerCases()
	valid := func() *remoting.Command {
		return remoting.NewRequest(remoting.CodeGetMaxOffset, map[string]string{"topic": matrixTopic, "queueId": "0"}, nil)
	}
	began := time.Now()
	before := sent.Load()
	rt.RunMatrix(t, rt.Target{Addr: b.Addr(), Valid: valid}, cases)
	took := time.Since(began)
	during := sent.Load() - before
	close(stop)
	wg.Wait()

	t.Logf("T15 broker: %d cases in %v; healthy producer sent %d during the matrix (%.0f/s, alone %.0f/s), %d errors; panics logged: %d",
		len(cases), took.Round(time.Millisecond), during, float64(during)/took.Seconds(), baseRate, failed.Load(), pl.N.Load())
	if len(cases) < 200 {
		t.Errorf("only %d cases, want >= 200", len(cases))
	}
	if during == 0 {
		t.Error("the healthy producer made no progress during the matrix")
	}
	if failed.Load() != 0 {
		t.Errorf("the healthy producer had %d errors, first: %v", failed.Load(), firstErr.Load())
	}
	if pl.N.Load() != 0 {
		t.Errorf("%d panics logged", pl.N.Load())
	}
	// The seed messages are intact.
	for q := range matrixQueues {
		resp := tc.call(remoting.CodePullMessage, pullExt("CHECK", matrixTopic, q, 0, 0, 0), nil)
		expectCode(t, resp, remoting.RespSuccess, "pull seed")
		if recs := decodeAll(t, resp.Body); len(recs) == 0 || string(recs[0].Body) != "seed" {
			t.Errorf("queue %d: seed message not intact", q)
		}
	}
}
