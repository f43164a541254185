package acl

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Scope says which server a Checker guards: the two differ in which codes
// need admin and which need nothing.
type Scope int

// Scopes.
const (
	// Broker: RocketMQ's broker rules (see resources.go).
	Broker Scope = iota
	// NameServer: read-only codes (routes, cluster info, topic lists, KV
	// reads) are open to every peer; codes that change what every client
	// sees (broker registration, topic delete, KV put/delete,
	// write-permission changes, name server and controller config, a
	// broker's controller identity) need an admin account; everything else
	// needs a valid signature of any account.
	NameServer
)

// DefaultPollInterval is how often a Checker rereads its file.
const DefaultPollInterval = time.Second

// Options configures a Checker.
type Options struct {
	// Scope: Broker (the zero value) or NameServer.
	Scope Scope
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// PollInterval between rereads of the file: 0 means
	// DefaultPollInterval, negative disables reloading.
	PollInterval time.Duration
}

// Request is what a decision reads from one request.
type Request struct {
	Code int16
	Ext  map[string]string
	Body []byte
	// RemoteAddr is the peer's "ip:port" (or a bare IP).
	RemoteAddr string
}

// Denied is a refusal. Its text names the missing right and the access
// key, never a secret; it is safe to send to the peer.
type Denied struct{ Reason string }

func (d *Denied) Error() string { return "acl: " + d.Reason }

// Stats are a Checker's counters since it started.
type Stats struct {
	// Allowed counts requests let in.
	Allowed uint64
	// AuthFailures counts refusals for missing or unknown access keys and
	// bad signatures.
	AuthFailures uint64
	// PermDenied counts signed requests refused for a missing permission.
	PermDenied uint64
	// Reloads counts files read again and put in force after a change;
	// ReloadFailures changed files that did not parse.
	Reloads, ReloadFailures uint64
}

// Checker decides requests against the rules of one plain_acl.yml and keeps
// them in step with the file. Safe for concurrent use.
type Checker struct {
	path  string
	scope Scope
	log   *slog.Logger
	rules atomic.Pointer[Rules]

	allowed, authFail, permDenied, reloads, reloadFail atomic.Uint64

	// The refusal log is rate limited: one line per refusalLogEvery, with
	// the count of those not logged since.
	lastLog    atomic.Int64 // unix nanos of the last refusal line
	suppressed atomic.Uint64

	// hash of the file content in force, and of the last broken one
	// reported; touched by the poller and Reload only (mu).
	mu         sync.Mutex
	hash       [32]byte
	brokenHash [32]byte

	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// refusalLogEvery bounds refusal logging to one line per interval.
const refusalLogEvery = time.Second

// Open reads path and starts watching it. A missing or invalid file is an
// error naming the file.
func Open(path string, opts Options) (*Checker, error) {
	data, r, err := readRules(path)
	if err != nil {
		return nil, err
	}
	c := &Checker{path: path, scope: opts.Scope, log: opts.Logger, quit: make(chan struct{})}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("component", "acl")
	c.rules.Store(r)
	c.hash = sha256.Sum256(data)
	c.log.Info("acl: rules loaded", "file", path, "accounts", r.Len())
	every := opts.PollInterval
	if every == 0 {
		every = DefaultPollInterval
	}
	if every > 0 {
		c.wg.Add(1)
		go c.poll(every)
	}
	return c, nil
}

// Close stops watching the file. The rules in force stay usable.
func (c *Checker) Close() error {
	c.once.Do(func() { close(c.quit) })
	c.wg.Wait()
	return nil
}

// Path returns the file the rules come from.
func (c *Checker) Path() string { return c.path }

// Rules returns the rules in force.
func (c *Checker) Rules() *Rules { return c.rules.Load() }

// Stats returns the counters.
func (c *Checker) Stats() Stats {
	return Stats{
		Allowed: c.allowed.Load(), AuthFailures: c.authFail.Load(), PermDenied: c.permDenied.Load(),
		Reloads: c.reloads.Load(), ReloadFailures: c.reloadFail.Load(),
	}
}

func (c *Checker) poll(every time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
			_ = c.Reload() // Reload logs
		}
	}
}

// Reload reads the file now and puts it in force if it changed and parses.
// A file that does not parse leaves the rules as they are, is logged once
// (per distinct content) and returned as the error.
func (c *Checker) Reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	data, err := os.ReadFile(c.path)
	if err != nil {
		// Mid-rename, or removed: keep the rules; say so once.
		h := sha256.Sum256([]byte("\x00missing"))
		if h != c.brokenHash {
			c.brokenHash = h
			c.reloadFail.Add(1)
			c.log.Error("acl: cannot read the ACL file; the rules in force stay", "file", c.path, "err", err)
		}
		return fmt.Errorf("acl: %w", err)
	}
	h := sha256.Sum256(data)
	if h == c.hash {
		return nil
	}
	r, err := Parse(data)
	if err != nil {
		if h != c.brokenHash {
			c.brokenHash = h
			c.reloadFail.Add(1)
			c.log.Error("acl: the changed ACL file does not parse; the rules in force stay", "file", c.path, "err", err)
		}
		return fmt.Errorf("acl: %s: %w", c.path, err)
	}
	c.rules.Store(r)
	c.hash, c.brokenHash = h, [32]byte{}
	c.reloads.Add(1)
	c.log.Info("acl: rules reloaded", "file", c.path, "accounts", r.Len())
	return nil
}

// Check decides one request: nil lets it in, a *Denied refuses it.
func (c *Checker) Check(req Request) error {
	err := c.decide(req, nil)
	if err == nil {
		c.allowed.Add(1)
		return nil
	}
	return c.refuse(req, err)
}

// CheckTopic decides whether the sender of req, which Check let in, may
// also use topic with permission p: a topic the request does not name but
// reaches, as the stored message behind a CommitLog offset. The rules are
// Check's with that one resource in place of the code's own: white-listed
// addresses and admin accounts without rights entries pass, and a topic
// "%RETRY%G" stands for group G. A refusal is a *Denied, counted and
// logged as Check's; a pass is not counted again.
func (c *Checker) CheckTopic(req Request, topic string, p Perm) error {
	err := c.decide(req, []resource{{topic, p}})
	if err == nil {
		return nil
	}
	return c.refuse(req, err)
}

// refuse logs a refusal and returns it as a *Denied.
func (c *Checker) refuse(req Request, err error) error {
	var d *Denied
	if !errors.As(err, &d) {
		d = &Denied{Reason: err.Error()}
	}
	c.logRefusal(req, d)
	return d
}

// decide is the decision of Check; a non-nil only replaces the resources
// the request code names (CheckTopic).
func (c *Checker) decide(req Request, only []resource) error {
	if c.scope == NameServer && namesrvOpen[req.Code] {
		return nil
	}
	ip := peerIP(req.RemoteAddr)
	a, err := admit(c.rules.Load(), req.Code, req.Ext[FieldAccessKey], ip)
	if err != nil {
		c.authFail.Add(1)
		return err
	}
	if a == nil || a.white.match(ip) {
		return nil
	}
	if !verify(req.Ext, req.Body, a.secretKey) {
		c.authFail.Add(1)
		return &Denied{Reason: fmt.Sprintf("signature check failed for accessKey=%s", a.AccessKey)}
	}
	if err := c.authorize(a, req, only); err != nil {
		c.permDenied.Add(1)
		return err
	}
	return nil
}

// admit is the first steps of a decision, those that read no signature: it
// returns nil when the peer at ip matches a global white address (let in
// as no account), else the account of accessKey, or a *Denied when there
// is none. It counts nothing.
func admit(r *Rules, code int16, accessKey string, ip netip.Addr) (*Account, error) {
	for i := range r.globalWhite {
		if r.globalWhite[i].match(ip) {
			return nil, nil
		}
	}
	if accessKey == "" {
		return nil, &Denied{Reason: fmt.Sprintf("request code %d needs a signed request: no AccessKey", code)}
	}
	a, ok := r.accounts[accessKey]
	if !ok {
		return nil, &Denied{Reason: fmt.Sprintf("no account for accessKey=%s", accessKey)}
	}
	return a, nil
}

// Account returns the account a request that Check let in was let in as:
// its AccessKey, or "" when the peer's address is globally white listed
// (the request needs no account, so the AccessKey it names, if any, is
// not proven). The broker records it on the clients a heartbeat announces,
// for Allowed to decide later what may be sent to them. It allocates
// nothing.
func (c *Checker) Account(req Request) string {
	a, err := admit(c.rules.Load(), req.Code, req.Ext[FieldAccessKey], peerIP(req.RemoteAddr))
	if err != nil || a == nil {
		return ""
	}
	return a.AccessKey
}

// Allowed reports whether the peer at remoteAddr, proven to be account
// (what Account returned for one of its requests; "" for none), holds
// permission p on topic under the rules in force now: Check's decision
// without the signature, which is checked already, and with topic as the
// only resource, as CheckTopic. White-listed addresses and admin accounts
// without rights entries pass; an account no longer in the file does
// not. It counts and logs nothing: it asks on the broker's behalf (whom
// to send a transaction check-back), not on the peer's.
func (c *Checker) Allowed(account, remoteAddr, topic string, p Perm) bool {
	ip := peerIP(remoteAddr)
	a, err := admit(c.rules.Load(), 0, account, ip)
	if err != nil {
		return false
	}
	if a == nil || a.white.match(ip) {
		return true
	}
	return c.authorize(a, Request{RemoteAddr: remoteAddr}, []resource{{topic, p}}) == nil
}

// authorize is RocketMQ's checkPerm for a signed request of account a,
// over the resources of its code or, when only is not nil, over only.
func (c *Checker) authorize(a *Account, req Request, only []resource) error {
	admin := brokerAdmin
	if c.scope == NameServer {
		admin = namesrvAdmin
	}
	if admin[req.Code] && !a.Admin {
		return &Denied{Reason: fmt.Sprintf("request code %d needs admin, and accessKey=%s is not", req.Code, a.AccessKey)}
	}
	if c.scope == NameServer {
		return nil
	}
	res := only
	if res == nil {
		var err error
		if res, err = resourcesOf(req.Code, req.Ext, req.Body); err != nil {
			return &Denied{Reason: fmt.Sprintf("request code %d: %v", req.Code, err)}
		}
	}
	if len(res) == 0 || (a.Perms == nil && a.Admin) {
		return nil
	}
	for _, rs := range res {
		// The account's own entry decides; without one, the default
		// (RocketMQ 4.x checkPerm: an entry "topicA=DENY" refuses even
		// under defaultTopicPerm: PUB).
		owned, ok := a.Perms[rs.name]
		if !ok {
			owned = a.DefaultTopicPerm
			if isGroup(rs.name) {
				owned = a.DefaultGroupPerm
			}
		}
		if !owned.Allows(rs.perm) {
			return &Denied{Reason: fmt.Sprintf("no %s permission on %s for accessKey=%s", rs.perm, describe(rs.name), a.AccessKey)}
		}
	}
	return nil
}

// peerIP parses the host of "ip:port" (or a bare IP); IPv4-mapped IPv6
// becomes IPv4. An unparsable address is the zero Addr, which only "*"
// matches.
func peerIP(addr string) netip.Addr {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

// logRefusal logs at most one line per refusalLogEvery, with how many
// refusals went unlogged before it.
func (c *Checker) logRefusal(req Request, d *Denied) {
	now := time.Now().UnixNano()
	last := c.lastLog.Load()
	if now-last < int64(refusalLogEvery) || !c.lastLog.CompareAndSwap(last, now) {
		c.suppressed.Add(1)
		return
	}
	c.log.Warn("acl: request refused", "code", req.Code, "remote", req.RemoteAddr, "reason", d.Reason,
		"refused_unlogged_since_last_line", c.suppressed.Swap(0))
}
