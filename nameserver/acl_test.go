package nameserver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/acl"
	"github.com/wharfmq/wharf/remoting"
)

// TestACLNameServer: with ACLFile, route queries stay open, and a broker's
// registration and a topic delete need an admin account; a missing file
// fails New naming it.
func TestACLNameServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	yml := "accounts:\n  - {accessKey: nsAdmin, secretKey: nsAdminSecret, admin: true}\n  - {accessKey: nsBroker, secretKey: nsBrokerSecret}\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Options{ACLFile: path})
	addr := ts.srv.Addr()
	// One client per account, kept open: the name server drops a broker
	// whose registering connection closes.
	clients := map[string]*remoting.Client{}
	call := func(ak, sk string, code int16, ext map[string]string, body []byte) *remoting.Command {
		t.Helper()
		c := clients[ak]
		if c == nil {
			opts := remoting.ClientOptions{Logger: quietLogger()}
			if ak != "" {
				opts.Sign = func(c *remoting.Command) {
					if c.ExtFields == nil {
						c.ExtFields = map[string]string{}
					}
					acl.Sign(c.ExtFields, c.Body, ak, sk)
				}
			}
			c = remoting.NewClient(opts)
			clients[ak] = c
			t.Cleanup(func() { _ = c.Close() })
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := c.Invoke(ctx, addr, remoting.NewRequest(code, ext, body))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	regReq := broker{name: "broker-a", addr: "127.0.0.1:10911", topics: map[string]TopicConfig{"AclNsTopic": topicTest("AclNsTopic", 4, 6)}}.request(t)
	reg, regBody := regReq.ExtFields, regReq.Body

	if resp := call("", "", remoting.CodeRegisterBroker, reg, regBody); resp.Code != remoting.RespNoPermission {
		t.Fatalf("unsigned registration: %d %q", resp.Code, resp.Remark)
	}
	// Claiming a broker identity needs an admin account: any other could
	// register a host of its own as a slave and be sent the CommitLog.
	if resp := call("nsBroker", "nsBrokerSecret", remoting.CodeRegisterBroker, reg, regBody); resp.Code != remoting.RespNoPermission ||
		!strings.Contains(resp.Remark, "needs admin") {
		t.Fatalf("registration by a non-admin: %d %q", resp.Code, resp.Remark)
	}
	if resp := call("nsAdmin", "nsAdminSecret", remoting.CodeRegisterBroker, reg, regBody); resp.Code != remoting.RespSuccess {
		t.Fatalf("registration by an admin: %d %q", resp.Code, resp.Remark)
	}
	route := map[string]string{"topic": "AclNsTopic"}
	if resp := call("", "", remoting.CodeGetRouteInfoByTopic, route, nil); resp.Code != remoting.RespSuccess {
		t.Fatalf("anonymous route query: %d %q", resp.Code, resp.Remark)
	}
	if resp := call("", "", remoting.CodeDeleteTopicInNameServer, route, nil); resp.Code != remoting.RespNoPermission {
		t.Fatalf("anonymous topic delete: %d %q", resp.Code, resp.Remark)
	}
	if resp := call("nsBroker", "nsBrokerSecret", remoting.CodeDeleteTopicInNameServer, route, nil); resp.Code != remoting.RespNoPermission ||
		!strings.Contains(resp.Remark, "needs admin") {
		t.Fatalf("non-admin topic delete: %d %q", resp.Code, resp.Remark)
	}
	if resp := call("", "", remoting.CodeGetRouteInfoByTopic, route, nil); resp.Code != remoting.RespSuccess {
		t.Fatalf("route gone after refused deletes: %d %q", resp.Code, resp.Remark)
	}
	if resp := call("nsAdmin", "nsAdminSecret", remoting.CodeDeleteTopicInNameServer, route, nil); resp.Code != remoting.RespSuccess {
		t.Fatalf("admin topic delete: %d %q", resp.Code, resp.Remark)
	}
	if s := ts.srv.ACL().Stats(); s.AuthFailures != 2 || s.PermDenied != 2 {
		t.Fatalf("stats %+v", s)
	}

	missing := filepath.Join(t.TempDir(), "none.yml")
	if _, err := New(Options{Listen: "127.0.0.1:0", ACLFile: missing, Logger: quietLogger()}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing ACL file: %v", err)
	}
}
