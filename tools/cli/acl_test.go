package cli

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/brokertest"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/tools/dashboard"
)

// TestACLCredentialFlags: against a broker with aclEnable, `wharf admin`
// and `wharf bench` are refused without an account and work with one,
// given by flags or by WHARF_ACCESS_KEY / WHARF_SECRET_KEY.
func TestACLCredentialFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	yml := "accounts:\n  - {accessKey: cliAdmin, secretKey: cliAdminSecret, admin: true}\n" +
		"  - {accessKey: cliAppAK, secretKey: cliAppSecret, defaultTopicPerm: PUB|SUB, defaultGroupPerm: SUB}\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	bc := brokertest.StartCluster(t, 1, func(_ int, cfg *config.Config) { cfg.AclEnable, cfg.AclFile = true, path })
	ns, b := bc.NS.Addr(), bc.Brokers[0]
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := NewRoot()
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		err := root.Execute()
		return out.String(), err
	}

	out, err := adminAt(ns, "topic", "create", "AclCli", "-b", b.Addr())
	if err == nil || !strings.Contains(err.Error()+out, "16") {
		t.Fatalf("unsigned topic create: %v\n%s", err, out)
	}
	if out, err = adminAt(ns, "topic", "create", "AclCli", "-b", b.Addr(), "--access-key", "cliAppAK", "--secret-key", "cliAppSecret"); err == nil ||
		!strings.Contains(err.Error()+out, "needs admin") {
		t.Fatalf("topic create by a non-admin: %v\n%s", err, out)
	}
	if out, err = adminAt(ns, "topic", "create", "AclCli", "--queues", "2", "-b", b.Addr(), "--access-key", "cliAdmin", "--secret-key", "cliAdminSecret"); err != nil {
		t.Fatalf("topic create by the admin: %v\n%s", err, out)
	}
	if _, err = adminAt(ns, "topic", "list", "--access-key", "cliAdmin"); err == nil {
		t.Fatal("--access-key without --secret-key was accepted")
	}

	// The environment gives the account when the flags do not.
	t.Setenv(envAccessKey, "cliAppAK")
	t.Setenv(envSecretKey, "cliAppSecret")
	if out, err = run("bench", "produce", "--broker", b.Addr(), "--topic", "AclCli", "--count", "20", "--size", "64", "--quiet"); err != nil ||
		!strings.Contains(out, "msgs=20 errors=0") {
		t.Fatalf("signed bench produce: %v\n%s", err, out)
	}
	if err := b.Store().WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if out, err = run("bench", "consume", "--broker", b.Addr(), "--topic", "AclCli", "--quiet"); err != nil || !strings.Contains(out, "msgs=20 errors=0") {
		t.Fatalf("signed bench consume: %v\n%s", err, out)
	}
	// The dashboard signs as its account: the topic's 20 messages show;
	// with no account its broker requests are refused.
	for _, c := range []struct {
		ak, sk string
		want   int
	}{{"", "", http.StatusForbidden}, {"cliAppAK", "cliAppSecret", http.StatusOK}} {
		d, err := dashboard.New(dashboard.Options{Listen: "127.0.0.1:0", Namesrv: ns, AccessKey: c.ak, SecretKey: c.sk})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(d.URL() + "api/topic?topic=AclCli")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d.Close()
		if resp.StatusCode != c.want || (c.want == http.StatusOK && !strings.Contains(string(body), `"maxOffset":10`)) {
			t.Errorf("dashboard as %q: %s %s, want %d", c.ak, resp.Status, body, c.want)
		}
	}

	t.Setenv(envAccessKey, "")
	t.Setenv(envSecretKey, "")
	if out, err = run("bench", "produce", "--broker", b.Addr(), "--topic", "AclCli", "--count", "5", "--stall", "2s", "--quiet"); err == nil {
		t.Fatalf("unsigned bench produce succeeded:\n%s", out)
	}
}
