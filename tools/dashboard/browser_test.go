package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/wharfmq/wharf/broker/brokertest"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/systopic"
	"github.com/wharfmq/wharf/tools/admin"
)

// chromiumPath is Debian's chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// Test data: n messages with keys in topic, group consumes half of each
// queue, one message dead-lettered.
const (
	bTopic  = "DashTopic"
	bGroup  = "DashGroup"
	bQueues = 4
	bN      = 40
	// bClient is the client id the test's producer and consumer
	// heartbeats name.
	bClient = "10.0.0.9@dash"
	// evilBody is key-7's body: shown as text, it must never become an
	// element or run.
	evilBody = `<img src=x onerror="window.pwned=1">hello & "quotes"`
)

// browser starts a headless chromium (skipped when it is missing, unless
// WHARF_BROWSER_REQUIRED is set) and returns a context of one tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("WHARF_BROWSER_REQUIRED") != "" {
			t.Fatalf("WHARF_BROWSER_REQUIRED is set but %s is missing: %v", chromiumPath, err)
		}
		t.Skipf("no %s (apt-get install chromium; .ci/run does)", chromiumPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // kills the browser and waits for it
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return ctx
}

// artifacts is where screenshots go: $WHARF_ARTIFACTS/dashboard, else a
// temporary directory.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if a := os.Getenv("WHARF_ARTIFACTS"); a != "" {
		dir = filepath.Join(a, "dashboard")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// page drives one tab.
type page struct {
	t   *testing.T
	ctx context.Context
	dir string
}

func (p *page) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// open loads url and waits for sel to show.
func (p *page) open(url, sel string) {
	p.t.Helper()
	p.run("open "+url, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(sel)))
}

func js(v string) string { b, _ := json.Marshal(v); return string(b) }

// text waits until sel's trimmed text is want (pages refresh on timers).
func (p *page) text(sel, want string) {
	p.t.Helper()
	expr := fmt.Sprintf(`(() => { const e = document.querySelector(%s); return !!e && e.textContent.trim() === %s; })()`, js(sel), js(want))
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		p.t.Fatalf("%s: want text %q, have %q (%v)", sel, want, p.eval(fmt.Sprintf(`document.querySelector(%s)?.textContent ?? "(no element)"`, js(sel))), err)
	}
}

// eval returns a JavaScript expression's value as a string.
func (p *page) eval(expr string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return fmt.Sprint(v)
}

func (p *page) count(sel string) int {
	p.t.Helper()
	n, err := strconv.Atoi(p.eval(fmt.Sprintf(`String(document.querySelectorAll(%s).length)`, js(sel))))
	if err != nil {
		p.t.Fatal(err)
	}
	return n
}

func (p *page) shot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, name+".png"), b, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// fill loads a broker through a name server with the test data.
func fill(t *testing.T, nsAddr, brokerAddr string) *testkit.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ac := admin.New(admin.Options{Namesrv: nsAddr})
	defer ac.Close()
	if _, err := ac.CreateTopicOn(ctx, admin.TopicConfig{TopicName: bTopic, ReadQueueNums: bQueues, WriteQueueNums: bQueues, Perm: 6}, brokerAddr, ""); err != nil {
		t.Fatal(err)
	}
	c := testkit.NewClient(t, brokerAddr)
	var phys7 int64
	for i := range bN {
		body := fmt.Sprintf("hello %d", i)
		if i == 7 {
			body = evilBody
		}
		resp := c.Send(bTopic, i%bQueues, testkit.Props("KEYS", fmt.Sprintf("key-%d order-%d", i, i), "TAGS", "tagA", "UNIQ_KEY", fmt.Sprintf("UNIQ%028d", i)), body)
		if i == 7 {
			_, off, err := msg.ParseOffsetMsgID(resp.ExtFields["msgId"])
			if err != nil {
				t.Fatal(err)
			}
			phys7 = off
		}
	}
	// The producer traced key-7's send, as the official clients write a
	// trace record (fields split by \x01, records ended by \x02).
	if _, err := ac.CreateTopicOn(ctx, admin.TopicConfig{TopicName: systopic.Trace, ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}, brokerAddr, ""); err != nil {
		t.Fatal(err)
	}
	uniq7 := fmt.Sprintf("UNIQ%028d", 7)
	rec := strings.Join([]string{"Pub", strconv.FormatInt(time.Now().UnixMilli(), 10), "DefaultRegion", "PG", bTopic, uniq7, "tagA",
		"key-7 order-7", brokerAddr, "52", "3", "0", "", "true"}, "\x01") + "\x02"
	c.Send(systopic.Trace, 0, testkit.Props("KEYS", uniq7+" key-7"), rec)
	testkit.Eventually(t, 10*time.Second, func() bool {
		qs, err := ac.TopicStatus(ctx, bTopic, "")
		var n int64
		for _, q := range qs {
			n += q.MaxOffset
		}
		return err == nil && n == bN
	}, "route and dispatch of %d messages", bN)
	// The group consumes the first half of every queue: pulls, then
	// commits what it pulled.
	per := bN / bQueues
	for q := range bQueues {
		resp := c.MustOK(remoting.CodePullMessage, map[string]string{"consumerGroup": bGroup, "topic": bTopic, "queueId": strconv.Itoa(q),
			"queueOffset": "0", "maxMsgNums": strconv.Itoa(per / 2), "sysFlag": "0", "commitOffset": "0", "suspendTimeoutMillis": "0", "subVersion": "0"}, nil)
		got := 0
		for b := resp.Body; len(b) > 0; got++ {
			r, err := msg.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			b = b[len(r.Raw):]
		}
		if got != per/2 {
			t.Fatalf("queue %d: pulled %d, want %d", q, got, per/2)
		}
		c.MustOK(remoting.CodeUpdateConsumerOffset, map[string]string{"consumerGroup": bGroup, "topic": bTopic, "queueId": strconv.Itoa(q), "commitOffset": strconv.Itoa(per / 2)}, nil)
	}
	// The client says it produces for DashProducer and consumes for the
	// group (as the official clients' heartbeats do); its connection stays
	// open, so the brokers list it.
	c.MustOK(remoting.CodeHeartBeat, nil, fmt.Appendf(nil, `{"clientID":%q,"producerDataSet":[{"groupName":"DashProducer"}],
"consumerDataSet":[{"groupName":%q,"consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET",
"unitMode":false,"subscriptionDataSet":[{"classFilterMode":false,"topic":%q,"subString":"tagA || tagB","tagsSet":["tagA","tagB"],"codeSet":[],
"subVersion":1,"expressionType":"TAG"}]}]}`, bClient, bGroup, bTopic))
	// key-7's message fails for good: straight to %DLQ%DashGroup.
	c.MustOK(remoting.CodeConsumerSendMsgBack, map[string]string{"group": bGroup, "offset": strconv.FormatInt(phys7, 10), "delayLevel": "-1",
		"originMsgId": "", "originTopic": bTopic, "unitMode": "false", "maxReconsumeTimes": "16", "bname": "broker-a"}, nil)
	testkit.Eventually(t, 10*time.Second, func() bool {
		qs, err := ac.TopicStats(ctx, brokerAddr, "%DLQ%"+bGroup)
		return err == nil && len(qs) == 1 && qs[0].MaxOffset == 1
	}, "the DLQ message")
	return c
}

// TestDashboardInBrowser loads every page of a read-only and an admin
// dashboard in headless chromium against a live broker with data, checks
// what each shows, and uses the admin one to create a topic and resend a
// dead letter.
func TestDashboardInBrowser(t *testing.T) {
	ctx := browser(t)
	cl := brokertest.StartCluster(t, 1, nil)
	ns, b := cl.NS.Addr(), cl.Brokers[0].Addr()
	c := fill(t, ns, b)
	p := &page{t: t, ctx: ctx, dir: artifacts(t)}

	ro, err := New(Options{Listen: "127.0.0.1:0", Namesrv: ns, Logger: brokertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	u := ro.URL()
	half := strconv.Itoa(bN / 2)

	p.open(u+"#/cluster", `#brokers tr[data-broker="broker-a/0"]`)
	p.text(`#brokers tr[data-broker="broker-a/0"] td[data-field="role"]`, "ASYNC_MASTER")
	p.text(`#mode`, "read-only")
	p.shot("cluster")

	p.open(u+"#/topics", `#topics tr[data-topic="`+bTopic+`"]`)
	p.text(`#topics tr[data-topic="`+bTopic+`"] td[data-field="messages"]`, strconv.Itoa(bN))
	p.text(`#topics tr[data-topic="`+bTopic+`"] td[data-field="groups"]`, bGroup)
	if n := p.count(`#create-topic, #topics button`); n != 0 {
		t.Fatalf("read-only topics page shows %d change controls", n)
	}
	p.shot("topics")

	p.open(u+"#/topic/"+bTopic, `#topic-groups`)
	p.text(`#topic-messages`, strconv.Itoa(bN))
	p.text(`#topic-groups tr[data-group="`+bGroup+`"] td[data-field="lag"]`, half)
	p.shot("topic")

	p.open(u+"#/groups", `#groups tr[data-group="`+bGroup+`"]`)
	p.text(`#groups tr[data-group="`+bGroup+`"] td[data-field="lag"]`, half)
	p.text(`#groups tr[data-group="`+bGroup+`"] td[data-field="clients"]`, "1")
	p.shot("groups")

	p.open(u+"#/group/"+bGroup, `#group-queues`)
	p.text(`#group-lag`, half)
	p.text(`#group-clients`, "1")
	p.text(`#group-clients-list tr[data-client="`+bClient+`"] td`, bClient)
	p.text(`#group-subs tr[data-topic="`+bTopic+`"] td[data-field="expr"]`, "tagA || tagB")
	p.text(`#group-queues tr[data-queue="`+bTopic+`/broker-a/1"] td[data-field="lag"]`, strconv.Itoa(bN/bQueues/2))
	p.run("lag chart", chromedp.WaitVisible(chromedp.CSS(`#lag-chart polyline`)))
	// The group catches up on queue 0: the live figures and chart follow.
	c.MustOK(remoting.CodeUpdateConsumerOffset, map[string]string{"consumerGroup": bGroup, "topic": bTopic, "queueId": "0", "commitOffset": strconv.Itoa(bN / bQueues)}, nil)
	p.text(`#group-lag`, strconv.Itoa(bN/2-bN/bQueues/2))
	p.text(`#group-queues tr[data-queue="`+bTopic+`/broker-a/0"] td[data-field="lag"]`, "0")
	if pts := p.eval(`document.querySelector("#lag-chart polyline").getAttribute("points")`); len(strings.Fields(pts)) < 2 {
		t.Fatalf("lag chart points %q", pts)
	}
	if n := p.count(`#reset-offset`); n != 0 {
		t.Fatal("read-only group page shows the reset form")
	}
	p.shot("group")

	p.open(u+"#/producers?group=DashProducer", `#producers tr[data-topic="`+bTopic+`"]`)
	p.text(`#producer-conns tr[data-client="`+bClient+`"] td`, bClient)
	p.shot("producers")

	// By key: key-7 is the message with the hostile body.
	p.open(u+"#/messages?topic="+bTopic+"&key=key-7", `#messages tbody tr[data-msgid]`)
	p.text(`#result-count`, "1 message(s)")
	p.text(`#messages td[data-field="keys"]`, "key-7 order-7")
	p.shot("messages-by-key")
	p.run("open the message", chromedp.Click(chromedp.CSS(`#messages tbody tr[data-msgid] a`)), chromedp.WaitVisible(chromedp.CSS(`#msg-body`)))
	p.text(`#msg-body`, evilBody)
	p.text(`td[data-field="KEYS"]`, "key-7 order-7")
	if n := p.count(`#app img`); n != 0 || p.eval(`String(window.pwned)`) != "undefined" {
		t.Fatalf("the message body became markup: %d img elements, pwned=%s", n, p.eval(`String(window.pwned)`))
	}
	p.text(`#trace tbody tr td`, "Pub")
	p.shot("message")

	// By topic and time range (the last hour by default): all of them.
	p.open(u+"#/messages?topic="+bTopic, `#result-count`)
	p.text(`#result-count`, strconv.Itoa(bN)+" message(s)")

	p.open(u+"#/dlq", `#dlq tr[data-group="`+bGroup+`"]`)
	p.text(`#dlq tr[data-group="`+bGroup+`"] td[data-field="messages"]`, "1")
	p.shot("dlq")
	p.open(u+"#/dlq/"+bGroup, `#messages tbody tr[data-msgid]`)
	p.text(`#messages td[data-field="keys"]`, "key-7 order-7")
	if n := p.count(`#messages button`); n != 0 {
		t.Fatal("read-only DLQ page shows Resend")
	}
	// The API refuses what the page does not offer.
	if got := p.eval(`fetch("/api/topic/create", {method: "POST", headers: {"Content-Type": "application/json"}, body: '{"topic":"Nope"}'}).then(r => String(r.status))`); got != "403" {
		t.Fatalf("read-only create topic: %s, want 403", got)
	}

	adm, err := New(Options{Listen: "127.0.0.1:0", Namesrv: ns, Admin: true, Logger: brokertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	u = adm.URL()
	p.open(u+"#/topics", `#create-topic`)
	p.text(`#mode`, "admin")
	p.run("create a topic", chromedp.SendKeys(chromedp.CSS(`#new-topic`), "BrowserMade"), chromedp.Click(chromedp.CSS(`#create-topic button`)),
		chromedp.WaitVisible(chromedp.CSS(`.notice`)))
	p.text(`.notice`, "Created BrowserMade on "+b)
	p.open(u+"#/topics", `#topics tr[data-topic="BrowserMade"]`)
	p.shot("topics-admin")
	ac := admin.New(admin.Options{Namesrv: ns})
	defer ac.Close()
	actx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if tcs, err := ac.TopicConfigs(actx, b); err != nil || tcs["BrowserMade"].WriteQueueNums != 4 {
		t.Fatalf("broker's topic BrowserMade: %+v %v", tcs["BrowserMade"], err)
	}

	// Reset the group to the end of the topic from its page, then delete
	// the new topic from the topics page (the pages ask confirm() first).
	p.open(u+"#/group/"+bGroup, `#reset-offset`)
	p.text(`#group-lag`, strconv.Itoa(bN/2-bN/bQueues/2))
	p.run("choose the topic", chromedp.Poll[chromedp.Void](`document.querySelectorAll("#reset-topic option[value=\"`+bTopic+`\"]").length === 1`))
	p.eval(`window.confirm = () => true; document.querySelector("#reset-topic").value = "` + bTopic + `"; "ok"`)
	p.run("reset to latest", chromedp.Click(chromedp.CSS(`#reset-offset button`)), chromedp.WaitVisible(chromedp.CSS(`.notice`)))
	p.text(`.notice`, "Reset "+strconv.Itoa(bQueues)+" queue(s).")
	p.text(`#group-lag`, "0")
	p.shot("group-reset")
	p.open(u+"#/topics", `#topics tr[data-topic="BrowserMade"] button`)
	p.eval(`window.confirm = () => true; "ok"`)
	p.run("delete a topic", chromedp.Click(chromedp.CSS(`#topics tr[data-topic="BrowserMade"] button`)), chromedp.WaitVisible(chromedp.CSS(`.notice`)))
	p.text(`.notice`, "Deleted BrowserMade")
	p.run("row gone", chromedp.WaitNotPresent(chromedp.CSS(`#topics tr[data-topic="BrowserMade"]`)))
	if tcs, err := ac.TopicConfigs(actx, b); err != nil || tcs["BrowserMade"].TopicName != "" {
		t.Fatalf("BrowserMade after delete: %+v %v", tcs["BrowserMade"], err)
	}

	p.open(u+"#/dlq/"+bGroup, `#messages button`)
	p.run("resend", chromedp.Click(chromedp.CSS(`#messages button`)), chromedp.WaitVisible(chromedp.CSS(`.notice`)))
	if got := p.eval(`document.querySelector(".notice").textContent`); !strings.HasPrefix(got, "Resent to %RETRY%"+bGroup) {
		t.Fatalf("resend: %q", got)
	}
	p.shot("dlq-resend")
	rs, err := ac.MessagesByKey(actx, "%RETRY%"+bGroup, "key-7", b, 0)
	if err != nil || len(rs) != 1 || string(rs[0].Body) != evilBody || rs[0].Properties["RETRY_TOPIC"] != bTopic {
		t.Fatalf("resent message in the retry topic: %+v %v", rs, err)
	}
}
