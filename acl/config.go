package acl

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode/utf16"

	"go.yaml.in/yaml/v3"

	"github.com/wharfmq/wharf/internal/confval"
)

// RetryPrefix is the prefix of a group's retry topic: group permissions are
// kept, and asked for, under "%RETRY%" + group, as RocketMQ does.
const RetryPrefix = "%RETRY%"

// Account is one entry of accounts in plain_acl.yml.
type Account struct {
	AccessKey        string
	secretKey        string // never printed
	White            string // whiteRemoteAddress as written
	white            addrPattern
	Admin            bool
	DefaultTopicPerm Perm
	DefaultGroupPerm Perm
	// Perms holds topicPerms by topic and groupPerms by retry topic
	// (RetryPrefix + group); nil when the file lists none.
	Perms map[string]Perm
}

// Rules is a parsed plain_acl.yml.
type Rules struct {
	globalWhite []addrPattern
	accounts    map[string]*Account
}

// Account returns the account with this access key.
func (r *Rules) Account(accessKey string) (*Account, bool) {
	a, ok := r.accounts[accessKey]
	return a, ok
}

// Len returns the number of accounts.
func (r *Rules) Len() int { return len(r.accounts) }

// minKeyLen: an accessKey or secretKey must be longer than this, as
// RocketMQ's AclConstants.ACCESS_KEY_MIN_LENGTH and SECRET_KEY_MIN_LENGTH
// (6) are used in PlainPermissionManager.checkPlainAccessConfig
// (length() <= 6 is refused).
const minKeyLen = 6

// javaLen is Java's String.length: UTF-16 code units.
func javaLen(s string) int { return len(utf16.Encode([]rune(s))) }

// fileAccount and fileRules are the YAML shapes. Scalars are read as text
// (yaml.Node) so that secretKey: 12345678, a YAML integer in RocketMQ's own
// sample file, stays the string it is.
type fileAccount struct {
	AccessKey          yaml.Node `yaml:"accessKey"`
	SecretKey          yaml.Node `yaml:"secretKey"`
	WhiteRemoteAddress yaml.Node `yaml:"whiteRemoteAddress"`
	Admin              yaml.Node `yaml:"admin"`
	DefaultTopicPerm   yaml.Node `yaml:"defaultTopicPerm"`
	DefaultGroupPerm   yaml.Node `yaml:"defaultGroupPerm"`
	TopicPerms         []string  `yaml:"topicPerms"`
	GroupPerms         []string  `yaml:"groupPerms"`
}

type fileRules struct {
	GlobalWhiteRemoteAddresses []string      `yaml:"globalWhiteRemoteAddresses"`
	Accounts                   []fileAccount `yaml:"accounts"`
}

// scalar returns a scalar node's text; an absent or null node is "".
func scalar(n yaml.Node, field string) (string, error) {
	switch {
	case n.Kind == 0 || n.Tag == "!!null":
		return "", nil
	case n.Kind != yaml.ScalarNode:
		return "", fmt.Errorf("line %d: %s must be a single value", n.Line, field)
	}
	return strings.TrimSpace(n.Value), nil
}

// Parse reads plain_acl.yml. Keys it does not know (dataVersion, which
// RocketMQ writes back into the file) are ignored.
func Parse(data []byte) (*Rules, error) {
	var f fileRules
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	r := &Rules{accounts: make(map[string]*Account, len(f.Accounts))}
	for _, s := range f.GlobalWhiteRemoteAddresses {
		p, err := parseAddrPattern(s)
		if err != nil {
			return nil, fmt.Errorf("globalWhiteRemoteAddresses: %w", err)
		}
		r.globalWhite = append(r.globalWhite, p)
	}
	for i, fa := range f.Accounts {
		a, err := parseAccount(fa)
		if err != nil {
			return nil, fmt.Errorf("accounts[%d]: %w", i, err)
		}
		if _, dup := r.accounts[a.AccessKey]; dup {
			return nil, fmt.Errorf("accounts[%d]: accessKey %q listed twice", i, a.AccessKey)
		}
		r.accounts[a.AccessKey] = a
	}
	if len(r.accounts) == 0 && len(r.globalWhite) == 0 {
		return nil, errors.New("no accounts and no globalWhiteRemoteAddresses: every request would be refused")
	}
	return r, nil
}

func parseAccount(fa fileAccount) (*Account, error) {
	var a Account
	var admin, topicPerm, groupPerm string
	for _, f := range []struct {
		dst  *string
		node yaml.Node
		name string
	}{
		{&a.AccessKey, fa.AccessKey, "accessKey"}, {&a.secretKey, fa.SecretKey, "secretKey"},
		{&a.White, fa.WhiteRemoteAddress, "whiteRemoteAddress"}, {&admin, fa.Admin, "admin"},
		{&topicPerm, fa.DefaultTopicPerm, "defaultTopicPerm"}, {&groupPerm, fa.DefaultGroupPerm, "defaultGroupPerm"},
	} {
		v, err := scalar(f.node, f.name)
		if err != nil {
			return nil, err
		}
		*f.dst = v
	}
	if a.AccessKey == "" || a.secretKey == "" {
		return nil, errors.New("accessKey and secretKey are required")
	}
	// RocketMQ refuses a file with a key of 6 characters or fewer
	// (PlainPermissionManager.checkPlainAccessConfig). The secret itself is
	// never printed.
	if n := javaLen(a.AccessKey); n <= minKeyLen {
		return nil, fmt.Errorf("accessKey %q is %d characters long; it must be longer than %d", a.AccessKey, n, minKeyLen)
	}
	if n := javaLen(a.secretKey); n <= minKeyLen {
		return nil, fmt.Errorf("accessKey %s: secretKey is %d characters long; it must be longer than %d", a.AccessKey, n, minKeyLen)
	}
	// Not Java's Boolean parsing, which reads a typo as false: admin is
	// true, false (any case) or absent.
	if admin != "" {
		var err error
		if a.Admin, err = confval.ParseBool(admin); err != nil {
			return nil, fmt.Errorf("accessKey %s: admin %q: %w", a.AccessKey, admin, err)
		}
	}
	// An absent default is DENY, as in RocketMQ; a word RocketMQ does not
	// know is DENY there too, silently: here it is refused.
	for _, d := range []struct {
		dst  *Perm
		val  string
		name string
	}{{&a.DefaultTopicPerm, topicPerm, "defaultTopicPerm"}, {&a.DefaultGroupPerm, groupPerm, "defaultGroupPerm"}} {
		*d.dst = Deny
		if d.val == "" {
			continue
		}
		p, ok := LookupPerm(d.val)
		if !ok {
			return nil, fmt.Errorf("accessKey %s: %s %q is not a permission (want %s)", a.AccessKey, d.name, d.val, permWords)
		}
		*d.dst = p
	}
	var err error
	if a.white, err = parseAddrPattern(a.White); err != nil {
		return nil, fmt.Errorf("accessKey %s: whiteRemoteAddress: %w", a.AccessKey, err)
	}
	for _, list := range []struct {
		items  []string
		prefix string
		name   string
	}{{fa.TopicPerms, "", "topicPerms"}, {fa.GroupPerms, RetryPrefix, "groupPerms"}} {
		for _, item := range list.items {
			name, perm, ok := splitPerm(item)
			if !ok {
				return nil, fmt.Errorf("accessKey %s: %s: %q is not NAME=PERM", a.AccessKey, list.name, item)
			}
			p, ok := LookupPerm(perm)
			if !ok {
				return nil, fmt.Errorf("accessKey %s: %s: %q: %q is not a permission (want %s)", a.AccessKey, list.name, item, perm, permWords)
			}
			if a.Perms == nil {
				a.Perms = make(map[string]Perm)
			}
			a.Perms[list.prefix+name] = p
		}
	}
	return &a, nil
}

// splitPerm reads "name=PERM" as RocketMQ's StringUtils.split(s, "=") does:
// empty pieces are dropped, and exactly two must remain.
func splitPerm(s string) (name, perm string, ok bool) {
	var parts []string
	for _, p := range strings.Split(s, "=") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) != 2 || strings.TrimSpace(parts[0]) == "" {
		return "", "", false
	}
	return strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1]), true
}

// LoadFile reads and parses path; errors name the file.
func LoadFile(path string) (*Rules, error) {
	_, r, err := readRules(path)
	return r, err
}

// readRules reads and parses path, returning the bytes read too (Open
// hashes them to see later changes); errors name the file.
func readRules(path string) ([]byte, *Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("acl: %w", err)
	}
	r, err := Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("acl: %s: %w", path, err)
	}
	return data, r, nil
}
