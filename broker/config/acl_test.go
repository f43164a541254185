package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadACLKeys: aclEnable turns ACL on with plain_acl.yml beside the
// broker.conf by default, a relative aclFile is read from the broker.conf's
// directory, and accessKey/secretKey must come together.
func TestLoadACLKeys(t *testing.T) {
	dir := t.TempDir()
	load := func(conf string) (Config, error) {
		path := filepath.Join(dir, "broker.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path, nil)
		if err != nil {
			return cfg, err
		}
		return cfg, cfg.Validate()
	}
	cfg, err := load("aclEnable=true\naccessKey=brokerAK\nsecretKey=brokerSK\n")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.AclEnable || cfg.AclFile != filepath.Join(dir, "plain_acl.yml") || cfg.AccessKey != "brokerAK" || cfg.SecretKey != "brokerSK" {
		t.Fatalf("got AclEnable=%v AclFile=%q AccessKey=%q SecretKey=%q", cfg.AclEnable, cfg.AclFile, cfg.AccessKey, cfg.SecretKey)
	}
	if cfg, err = load("aclEnable=true\naclFile=acl/mine.yml\n"); err != nil || cfg.AclFile != filepath.Join(dir, "acl/mine.yml") {
		t.Fatalf("relative aclFile: %q, %v", cfg.AclFile, err)
	}
	if cfg, err = load("aclEnable=true\naclFile=/etc/wharf/acl.yml\n"); err != nil || cfg.AclFile != "/etc/wharf/acl.yml" {
		t.Fatalf("absolute aclFile: %q, %v", cfg.AclFile, err)
	}
	if _, err = load("accessKey=onlyAK\n"); err == nil || !strings.Contains(err.Error(), "accessKey and secretKey") {
		t.Fatalf("accessKey without secretKey: %v", err)
	}
	c := Default()
	c.AclEnable = true
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "aclFile") {
		t.Fatalf("aclEnable without a file: %v", err)
	}
}
