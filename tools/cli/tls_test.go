package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/brokertest"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/internal/wiretls"
	"github.com/wharfmq/wharf/nameserver"
)

// A name server started from a namesrv.conf with tls.* keys and a broker
// enforce TLS: `wharf admin` and `wharf bench` reach them with --tls (and
// verify them with --tls-trust), and fail without it.
func TestTLSFlags(t *testing.T) {
	p := testkit.TLSFiles(t)
	conf := filepath.Join(t.TempDir(), "namesrv.conf")
	body := "tls.server.mode=enforcing\ntls.server.certPath=" + p.ServerCert + "\ntls.server.keyPath=" + p.ServerKey + "\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var ts wiretls.Settings
	props, err := readConf(conf, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := applyTLSKeys(conf, props, &ts); err != nil {
		t.Fatal(err)
	}
	ns, err := startNamesrvWith(nameserver.Options{Listen: "127.0.0.1:0"}, ts)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	b := brokertest.Start(t, func(c *config.Config) {
		c.NamesrvAddr = ns.Addr()
		c.TLS = p.Settings(wiretls.Enforcing)
	})

	testkit.Eventually(t, 10*time.Second, func() bool {
		out, err := adminAt(ns.Addr(), "--tls-trust", p.CA, "cluster", "list")
		return err == nil && strings.Contains(out, b.Config().BrokerName)
	}, "admin --tls-trust to list the broker")
	if out, err := adminAt(ns.Addr(), "--tls", "cluster", "list"); err != nil || !strings.Contains(out, b.Config().BrokerName) {
		t.Fatalf("admin --tls (not verified): %v\n%s", err, out)
	}
	if out, err := adminAt(ns.Addr(), "cluster", "list"); err == nil {
		t.Fatalf("admin without --tls reached an enforcing name server:\n%s", out)
	}
	other := testkit.TLSFiles(t)
	if out, err := adminAt(ns.Addr(), "--tls-trust", other.CA, "cluster", "list"); err == nil {
		t.Fatalf("admin verified a server signed by another CA:\n%s", out)
	}

	var out bytes.Buffer
	root := NewRoot()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"bench", "produce", "--broker", b.Addr(), "--tls-trust", p.CA, "--topic", "TLSBench", "--queues", "1",
		"--count", "50", "--conc", "1", "--size", "64", "--broker-pid", "-1", "--quiet"})
	if err := root.Execute(); err != nil || !strings.Contains(out.String(), "msgs=50 errors=0") {
		t.Fatalf("bench produce over TLS: %v\n%s", err, out.String())
	}
}
