package testkit

import (
	"testing"

	"github.com/wharfmq/wharf/nameserver"
)

// StartNameServer starts a name server on loopback, with its options
// adjusted by mut (if not nil), and closes it at the end of the test,
// failing the test if Close fails.
func StartNameServer(t testing.TB, mut func(*nameserver.Options)) *nameserver.Server {
	t.Helper()
	opts := nameserver.Options{Listen: Listen, Logger: Logger(t)}
	if mut != nil {
		mut(&opts)
	}
	ns, err := nameserver.New(opts)
	if err != nil {
		t.Fatalf("open name server: %v", err)
	}
	if err := ns.Start(); err != nil {
		ns.Close()
		t.Fatalf("start name server: %v", err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Errorf("close name server %s: %v", ns.Addr(), err)
		}
	})
	return ns
}
