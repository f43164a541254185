package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/brokertest"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/tools/admin"
)

// apiCall sends one request to a running dashboard and decodes the JSON
// answer into v (when not nil).
func apiCall(t *testing.T, s *Server, method, path, body string, v any) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.Addr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://"+s.Addr())
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

// TestAPIAgainstBroker checks the API's answers to what the pages do not
// send: unknown brokers, topics, groups and keys, a time range that holds
// nothing, a resend of a message that is not a dead letter.
func TestAPIAgainstBroker(t *testing.T) {
	cl := brokertest.StartCluster(t, 1, nil)
	ns, b := cl.NS.Addr(), cl.Brokers[0].Addr()
	ac := admin.New(admin.Options{Namesrv: ns})
	defer ac.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := ac.CreateTopicOn(ctx, admin.TopicConfig{TopicName: "AT", ReadQueueNums: 2, WriteQueueNums: 2, Perm: 6}, b, ""); err != nil {
		t.Fatal(err)
	}
	c := testkit.NewClient(t, b)
	before := time.Now().UnixMilli()
	for i := range 6 {
		c.Send("AT", i%2, testkit.Props("KEYS", "k"+strconv.Itoa(i)), "body-"+strconv.Itoa(i))
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		qs, err := ac.TopicStatus(ctx, "AT", "")
		return err == nil && len(qs) == 2 && qs[0].MaxOffset+qs[1].MaxOffset == 6
	}, "route and dispatch")

	s, err := New(Options{Listen: "127.0.0.1:0", Namesrv: ns, Admin: true, Logger: brokertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// The time range reads each queue, as the pages ask it.
	var got struct{ Messages []msgSummary }
	now := time.Now().UnixMilli()
	if code, body := apiCall(t, s, "GET", "/api/messages?topic=AT&begin="+strconv.FormatInt(before, 10)+"&end="+strconv.FormatInt(now, 10), "", &got); code != 200 || len(got.Messages) != 6 {
		t.Fatalf("time range: %d %s", code, body)
	}
	m := got.Messages[0]
	for _, tc := range []struct {
		path string
		want int
		says string
	}{
		{"/api/messages?topic=AT&begin=0&end=1", 200, `"messages":[]`},
		{"/api/messages?topic=AT&begin=5&end=1", 400, "before begin"},
		{"/api/messages?topic=AT&key=nope", 200, `"messages":[]`},
		{"/api/messages?topic=NoSuchTopic&key=k1", 404, "does not exist"},
		{"/api/messages?key=k1", 400, "topic"},
		{"/api/messages?id=not-an-id", 400, "give the topic"},
		{"/api/messages?id=not-an-id&topic=AT", 200, `"messages":[]`},
		{"/api/message?broker=10.9.9.9:1&offset=0", 400, "not registered"},
		{"/api/message?broker=" + b + "&offset=" + strconv.FormatInt(m.CommitLogOffset, 10), 200, `"body":"body-`},
		{"/api/topic?topic=NoSuchTopic", 404, "does not exist"},
		{"/api/group?group=NoSuchGroup", 404, "not found"},
		{"/api/dlq/messages?group=NoSuchGroup", 404, "does not exist"},
		{"/api/dlq", 200, `"dlq":[]`},
	} {
		code, body := apiCall(t, s, "GET", tc.path, "", nil)
		if code != tc.want || !strings.Contains(body, tc.says) {
			t.Errorf("GET %s: %d %.200s, want %d saying %q", tc.path, code, body, tc.want, tc.says)
		}
	}
	for _, tc := range []struct {
		path, body string
		want       int
		says       string
	}{
		{"/api/dlq/resend", `{"group":"G","broker":"` + b + `","commitLogOffset":` + strconv.FormatInt(m.CommitLogOffset, 10) + `}`, 400, "not in %DLQ%G"},
		{"/api/dlq/resend", `{"group":"G","broker":"10.9.9.9:1","commitLogOffset":0}`, 400, "not registered"},
		{"/api/topic/create", `{"topic":"X","writeQueues":5000}`, 400, "1 to 1024"},
		{"/api/topic/delete", `{"topic":"NoSuchTopic"}`, 404, "does not exist"},
		{"/api/group/reset", `{"group":"G"}`, 400, "required"},
	} {
		code, body := apiCall(t, s, "POST", tc.path, tc.body, nil)
		if code != tc.want || !strings.Contains(body, tc.says) {
			t.Errorf("POST %s %s: %d %.200s, want %d saying %q", tc.path, tc.body, code, body, tc.want, tc.says)
		}
	}
	// Pulls past the end and in an unknown queue answer nothing, no error.
	if ms, err := s.pull(ctx, b, "AT", 0, 100, 8); err != nil || len(ms) != 0 {
		t.Fatalf("pull past the end: %d %v", len(ms), err)
	}
	if off, err := ac.SearchOffset(ctx, b, "AT", 0, 0); err != nil || off != 0 {
		t.Fatalf("search from 0: %d %v", off, err)
	}
	if ms, err := s.pull(ctx, b, "AT", 1, 0, 2); err != nil || len(ms) != 2 || !bytes.HasPrefix(ms[0].Body, []byte("body-")) {
		t.Fatalf("pull 2 from queue 1: %+v %v", ms, err)
	}
}
