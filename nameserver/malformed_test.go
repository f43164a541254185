package nameserver

// T15 for the name server: the malformed-request matrix. The harness
// (rawConn, rt.RunMatrix, rt.FrameCases and the generators) is a copy of the one
// in broker/malformed_test.go; test files cannot be shared across packages.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfmq/wharf/remoting"
	rt "github.com/wharfmq/wharf/remoting/remotingtest"
)

// compressedRaw zlib-compresses raw bytes as a REGISTER_BROKER body.
func compressedRaw(t *testing.T, raw []byte) []byte {
	return deflateZlib(t, raw)
}

func chunk(b []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

// nameServerCases is the name server's matrix.
func nameServerCases(t *testing.T) []rt.Case {
	var cs []rt.Case
	errCase := func(name string, req *remoting.Command) {
		cs = append(cs, rt.Case{Name: name, Req: req, Want: rt.WantError})
	}
	body, err := EncodeRegisterBody(defaultTopics(), DataVersion{Counter: 1, Timestamp: 1})
	if err != nil {
		t.Fatal(err)
	}
	reg := RegisterRequest("broker-m", "127.0.0.1:10911", "DefaultCluster", 0, body).ExtFields
	regWith := func(b []byte, kv ...string) *remoting.Command {
		r := remoting.NewRequest(remoting.CodeRegisterBroker, rt.WithExt(reg, kv...), b)
		return r
	}
	// REGISTER_BROKER header.
	cs = append(cs, rt.FieldCases("register", remoting.CodeRegisterBroker, reg, body,
		[]rt.Field{rt.Str("brokerName"), rt.Str("clusterName"), rt.Str("brokerAddr"), rt.I64("brokerId")},
		[]rt.Field{rt.I64("brokerId"), rt.I32("bodyCrc32")})...)
	for _, k := range []string{"brokerName", "clusterName", "brokerAddr"} {
		errCase("register/empty_"+k, regWith(body, k, ""))
	}
	errCase("register/broker_id_negative", regWith(body, "brokerId", "-1"))
	errCase("register/crc_mismatch", regWith(body, "bodyCrc32", "12345"))
	for name, addr := range map[string]string{
		"no_port": "127.0.0.1", "no_host": ":10911", "port_0": "127.0.0.1:0", "port_99999": "127.0.0.1:99999",
		"port_text": "127.0.0.1:abc", "comma": "127.0.0.1:1,127.0.0.2:2", "space": "127.0.0.1: 10911",
		"quote": `"127.0.0.1":10911`, "brace": "{127.0.0.1}:10911", "newline": "127.0.0.1:10911\n",
	} {
		errCase("register/addr_"+name, regWith(body, "brokerAddr", addr))
	}
	// REGISTER_BROKER bodies.
	dv := []byte(`{"counter":1,"timestamp":1}`)
	for name, b := range map[string][]byte{
		"broken_json":    []byte(`{"topicConfigSerializeWrapper":`),
		"array":          []byte(`[1,2,3]`),
		"wrong_types":    []byte(`{"topicConfigSerializeWrapper":{"topicConfigTable":[1]}}`),
		"negative_queue": []byte(`{"topicConfigSerializeWrapper":{"topicConfigTable":{"T":{"topicName":"T","readQueueNums":-1,"writeQueueNums":4}}}}`),
	} {
		errCase("register/body_"+name, regWith(b, "bodyCrc32", "0"))
	}
	compressed := map[string][]byte{
		"not_zlib":       []byte("definitely not a zlib stream"),
		"empty_stream":   compressedRaw(t, nil),
		"dv_len_lies":    compressedRaw(t, append(binary.BigEndian.AppendUint32(nil, 1000), dv...)),
		"dv_len_neg":     compressedRaw(t, append(binary.BigEndian.AppendUint32(nil, 0xFFFFFFFF), dv...)),
		"dv_not_json":    compressedRaw(t, chunk([]byte("{{{{"))),
		"count_missing":  compressedRaw(t, chunk(dv)),
		"count_negative": compressedRaw(t, append(chunk(dv), 0xFF, 0xFF, 0xFF, 0xFF)),
		"count_lies":     compressedRaw(t, append(chunk(dv), 0, 0, 0, 50)),
		"topic_len_lies": compressedRaw(t, append(append(chunk(dv), 0, 0, 0, 1), binary.BigEndian.AppendUint32(nil, 9999)...)),
		"topic_bad_nums": compressedRaw(t, append(append(append(chunk(dv), 0, 0, 0, 1), chunk([]byte("T x 4 6 SINGLE_TAG"))...), chunk([]byte("[]"))...)),
		"topic_short":    compressedRaw(t, append(append(append(chunk(dv), 0, 0, 0, 1), chunk([]byte("T 4"))...), chunk([]byte("[]"))...)),
		"topic_neg_nums": compressedRaw(t, append(append(append(chunk(dv), 0, 0, 0, 1), chunk([]byte("T -4 -4 6 SINGLE_TAG"))...), chunk([]byte("[]"))...)),
		"no_filter_list": compressedRaw(t, append(append(chunk(dv), 0, 0, 0, 1), chunk([]byte("T 4 4 6 SINGLE_TAG"))...)),
		"truncated":      compressedRaw(t, append(chunk(dv), 0, 0))[:8],
	}
	for name, b := range compressed {
		errCase("register/compressed_"+name, regWith(b, "compressed", "true", "bodyCrc32", "0"))
	}

	// UNREGISTER_BROKER.
	unreg := map[string]string{"brokerName": "broker-m", "brokerAddr": "127.0.0.1:10911", "clusterName": "DefaultCluster", "brokerId": "0"}
	cs = append(cs, rt.FieldCases("unregister", remoting.CodeUnregisterBroker, unreg, nil,
		[]rt.Field{rt.Str("brokerName"), rt.Str("clusterName"), rt.Str("brokerAddr"), rt.I64("brokerId")},
		[]rt.Field{rt.I64("brokerId")})...)
	errCase("unregister/broker_id_negative", remoting.NewRequest(remoting.CodeUnregisterBroker, rt.WithExt(unreg, "brokerId", "-1"), nil))
	errCase("unregister/addr_no_port", remoting.NewRequest(remoting.CodeUnregisterBroker, rt.WithExt(unreg, "brokerAddr", "host"), nil))
	errCase("unregister/empty_name", remoting.NewRequest(remoting.CodeUnregisterBroker, rt.WithExt(unreg, "brokerName", ""), nil))

	// Topic requests.
	errCase("route/missing_topic", remoting.NewRequest(remoting.CodeGetRouteInfoByTopic, map[string]string{}, nil))
	errCase("route/unknown_topic", remoting.NewRequest(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": "NOPE"}, nil))
	errCase("delete/missing_topic", remoting.NewRequest(remoting.CodeDeleteTopicInNameServer, map[string]string{}, nil))
	for name, topic := range rt.BadTopics {
		errCase("route/topic_"+name, remoting.NewRequest(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": topic}, nil))
		errCase("delete/topic_"+name, remoting.NewRequest(remoting.CodeDeleteTopicInNameServer, map[string]string{"topic": topic}, nil))
	}

	// QUERY_DATA_VERSION.
	errCase("data_version/missing_addr", remoting.NewRequest(remoting.CodeQueryDataVersion, map[string]string{}, dv))
	for name, b := range map[string]string{"empty": "", "broken": `{"counter":`, "array": `[1]`, "wrong_types": `{"counter":"x"}`} {
		errCase("data_version/body_"+name, remoting.NewRequest(remoting.CodeQueryDataVersion,
			map[string]string{"brokerAddr": "127.0.0.1:10911"}, []byte(b)))
	}

	// Oneway flag on requests that need a reply.
	oneway := func(name string, code int16, ext map[string]string, b []byte) {
		r := remoting.NewRequest(code, ext, b)
		r.Flag = remoting.FlagOneway
		cs = append(cs, rt.Case{Name: "oneway/" + name, Req: r, Want: rt.WantNoReply})
	}
	oneway("register", remoting.CodeRegisterBroker, RegisterRequest("broker-ow", "127.0.0.1:10999", "DefaultCluster", 0, body).ExtFields, body)
	oneway("unregister", remoting.CodeUnregisterBroker, rt.WithExt(unreg, "brokerName", "broker-ow", "brokerAddr", "127.0.0.1:10999"), nil)
	oneway("route", remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": "TopicTest"}, nil)
	oneway("cluster_info", remoting.CodeGetBrokerClusterInfo, nil, nil)
	oneway("topic_list", remoting.CodeGetAllTopicListFromNameServer, nil, nil)
	oneway("delete", remoting.CodeDeleteTopicInNameServer, map[string]string{"topic": "NOT_THERE"}, nil)
	oneway("data_version", remoting.CodeQueryDataVersion, map[string]string{"brokerAddr": "127.0.0.1:10911"}, dv)
	oneway("malformed_register", remoting.CodeRegisterBroker, map[string]string{}, nil)

	for _, code := range rt.UnknownCodes {
		errCase(fmt.Sprintf("unknown_code/%d", code), remoting.NewRequest(code, map[string]string{"topic": "TopicTest"}, []byte("?")))
	}
	cs = append(cs, rt.FrameCases(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": "TopicTest"})...)
	return cs
}

// TestMalformedRequestMatrix is T15 for the name server: a registered
// broker keeps re-registering meanwhile and its route stays served.
func TestMalformedRequestMatrix(t *testing.T) {
	pl := rt.NewPanicLog(quietLogger().Handler())
	ts := startServer(t, Options{Logger: slog.New(pl)})
	addr := ts.srv.Addr()
	b := broker{name: "broker-a", addr: "127.0.0.1:10911", topics: defaultTopics(), dv: DataVersion{Counter: 1, Timestamp: 1}}
	ts.register(nil, b)

	// A healthy broker re-registering and a client reading routes, on
	// their own connection, for the whole matrix.
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := newClient()
		defer c.Close()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			req := b.request(t)
			if i%2 == 1 {
				req = remoting.NewRequest(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": "TopicTest"}, nil)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, err := c.Invoke(ctx, addr, req)
			cancel()
			if err == nil && (resp.Code != remoting.RespSuccess || (i%2 == 1 && !bytes.Contains(resp.Body, []byte(b.addr)))) {
				err = fmt.Errorf("code %d %s", resp.Code, resp.Remark)
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				continue
			}
			ok.Add(1)
		}
	}()

	cases := nameServerCases(t)
	valid := func() *remoting.Command {
		return remoting.NewRequest(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": "TopicTest"}, nil)
	}
	began := time.Now()
	rt.RunMatrix(t, rt.Target{Addr: addr, Valid: valid}, cases)
	took := time.Since(began)
	// Nothing the matrix sent changed the real broker's route. (Checked
	// before the healthy client closes: its connection carries the
	// registration, and closing it drops the broker.)
	rd := ts.mustRoute("TopicTest")
	if len(rd.BrokerDatas) != 1 || rd.BrokerDatas[0].BrokerName != "broker-a" {
		t.Errorf("route of TopicTest changed: %+v", rd)
	}
	close(stop)
	wg.Wait()
	t.Logf("T15 name server: %d cases in %v; healthy client made %d requests, %d errors; panics logged: %d",
		len(cases), took.Round(time.Millisecond), ok.Load(), failed.Load(), pl.N.Load())
	if ok.Load() == 0 {
		t.Error("the healthy client made no progress during the matrix")
	}
	if failed.Load() != 0 {
		t.Errorf("the healthy client had %d errors, first: %v", failed.Load(), firstErr.Load())
	}
	if pl.N.Load() != 0 {
		t.Errorf("%d panics logged", pl.N.Load())
	}
}
