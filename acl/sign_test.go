package acl

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/wharfmq/wharf/remoting"
)

// TestSignatureKnownVector: the MAC was computed outside Go, with
// `printf 'rocketmq2TopicTestPUB|SUBhello' | openssl dgst -sha1 -hmac 12345678`:
// the ext values in key order (AccessKey, topic, x), then the body.
func TestSignatureKnownVector(t *testing.T) {
	const wantHex = "cf90d848ee970d1105b9d30556bdc9cc4837f451"
	ext := map[string]string{"topic": "TopicTest", "x": "PUB|SUB"}
	Sign(ext, []byte("hello"), "rocketmq2", "12345678")
	got, err := base64.StdEncoding.DecodeString(ext[FieldSignature])
	if err != nil || hex.EncodeToString(got) != wantHex || ext[FieldAccessKey] != "rocketmq2" {
		t.Fatalf("Sign gave %v (%x), want HMAC %s", ext, got, wantHex)
	}
	if !verify(ext, []byte("hello"), "12345678") {
		t.Fatal("verify refuses what Sign made")
	}
	if verify(ext, []byte("hellO"), "12345678") || verify(ext, []byte("hello"), "12345679") {
		t.Fatal("verify accepts a tampered body or a wrong secret")
	}
	ext["topic"] = "TopicTest2"
	if verify(ext, []byte("hello"), "12345678") {
		t.Fatal("verify accepts a tampered ext field")
	}
}

// TestSignatureMatchesGoClient captures requests the official Go client
// signs (its ACLInterceptor, which cannot be imported): a producer asks a
// fake name server for the route (which points at the same server) and
// sends one message (SEND_MESSAGE, 10, from this client). Without a SecurityToken the client's content is the
// broker's; with one, the client leaves it out of the content while
// sending it, and verify accepts that form too.
func TestSignatureMatchesGoClient(t *testing.T) {
	if testing.Short() {
		// make test's race pass runs -short: the Go client races
		// internally.
		t.Skip("the official Go client races internally; runs in the main pass")
	}
	got := make(chan *remoting.Command, 16)
	srv := remoting.NewServer(remoting.ServerOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv.Handle(105, func(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
		got <- req
		resp := remoting.NewResponse(req, remoting.RespSuccess, "")
		resp.Body = []byte(`{"brokerDatas":[{"brokerAddrs":{"0":"` + srv.Addr() + `"},"brokerName":"b","cluster":"c"}],` +
			`"queueDatas":[{"brokerName":"b","perm":6,"readQueueNums":1,"writeQueueNums":1,"topicSysFlag":0}]}`)
		return resp
	})
	send := func(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
		got <- req
		resp := remoting.NewResponse(req, remoting.RespSuccess, "")
		resp.SetExt("msgId", "0A0000010000000000000000")
		resp.SetExt("queueId", "0")
		resp.SetExt("queueOffset", "0")
		return resp
	}
	srv.Handle(10, send)
	srv.Handle(310, send)
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	for i, cred := range []primitive.Credentials{
		{AccessKey: "goclient-ak", SecretKey: "goclient-sk-1"},
		{AccessKey: "goclient-ak2", SecretKey: "goclient-sk-2", SecurityToken: "tok-123"},
	} {
		p, err := rocketmq.NewProducer(producer.WithNameServer([]string{srv.Addr()}), producer.WithCredentials(cred),
			producer.WithInstanceName(fmt.Sprintf("acl-sign-%d", i)), producer.WithRetry(0))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		msg := primitive.NewMessage("SignedTopic", []byte("a signed body"))
		msg.WithTag("tagA")
		_, err = p.SendSync(ctx, msg)
		cancel()
		_ = p.Shutdown()
		if err != nil {
			t.Fatalf("credentials %d: send: %v", i, err)
		}
		var codes []int16
		for drained := false; !drained; {
			select {
			case req := <-got:
				codes = append(codes, req.Code)
				if req.ExtFields[FieldAccessKey] != cred.AccessKey {
					t.Fatalf("credentials %d: code %d unsigned: %v", i, req.Code, req.ExtFields)
				}
				if !verify(req.ExtFields, req.Body, cred.SecretKey) {
					t.Fatalf("credentials %d: the Go client's signature of code %d does not verify (ext %v)", i, req.Code, req.ExtFields)
				}
				if verify(req.ExtFields, req.Body, cred.SecretKey+"x") {
					t.Fatalf("credentials %d: verifies under a wrong secret", i)
				}
				// Recomputed independently of verify: the broker's content
				// matches exactly when there is no token.
				s := Signature(Content(req.ExtFields, req.Body), cred.SecretKey)
				if (s == req.ExtFields[FieldSignature]) != (cred.SecurityToken == "") {
					t.Fatalf("credentials %d: Signature(Content) = %s, the client sent %s", i, s, req.ExtFields[FieldSignature])
				}
				if cred.SecurityToken != "" && req.ExtFields[FieldSecurityToken] != cred.SecurityToken {
					t.Fatalf("credentials %d: token not sent: %v", i, req.ExtFields)
				}
			default:
				drained = true
			}
		}
		if !slices.Contains(codes, 105) || !(slices.Contains(codes, 10) || slices.Contains(codes, 310)) {
			t.Fatalf("credentials %d: captured codes %v, want a route query (105) and a send (10 or 310)", i, codes)
		}
	}
}

// BenchmarkVerify is the cost of checking one signed SEND_MESSAGE_V2 as
// the broker does (content, HMAC-SHA1, compare) with a 1 KiB body.
func BenchmarkVerify(b *testing.B) {
	ext := map[string]string{"a": "producerGroup", "b": "BenchTopic", "c": "TBW102", "d": "4", "e": "0",
		"f": "0", "g": "1700000000000", "h": "0", "i": "UNIQ_KEY\x01AC1100010000\x02WAIT\x01true\x02", "j": "0",
		"k": "false", "m": "false"}
	body := make([]byte, 1024)
	Sign(ext, body, "benchAK", "benchSecretKey")
	c, err := newTestChecker(b, "accounts:\n  - {accessKey: benchAK, secretKey: benchSecretKey, defaultTopicPerm: PUB}\n")
	if err != nil {
		b.Fatal(err)
	}
	req := Request{Code: codeSendMessageV2, Ext: ext, Body: body, RemoteAddr: "10.0.0.1:5555"}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Check(req); err != nil {
			b.Fatal(err)
		}
	}
}
