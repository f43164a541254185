package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestTransactionConfigKeys(t *testing.T) {
	cfg := Default()
	if cfg.TransactionTimeOut != 6*time.Second || cfg.TransactionCheckInterval != time.Minute || cfg.TransactionCheckMax != 15 || cfg.RejectTransactionMessage {
		t.Fatalf("defaults %v %v %d %v", cfg.TransactionTimeOut, cfg.TransactionCheckInterval, cfg.TransactionCheckMax, cfg.RejectTransactionMessage)
	}
	conf := "transactionTimeOut=1500\ntransactionCheckInterval=250\ntransactionCheckMax=3\nrejectTransactionMessage=true\n"
	if err := Parse(strings.NewReader(conf), &cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if cfg.TransactionTimeOut != 1500*time.Millisecond || cfg.TransactionCheckInterval != 250*time.Millisecond ||
		cfg.TransactionCheckMax != 3 || !cfg.RejectTransactionMessage {
		t.Fatalf("parsed %v %v %d %v", cfg.TransactionTimeOut, cfg.TransactionCheckInterval, cfg.TransactionCheckMax, cfg.RejectTransactionMessage)
	}
	if err := Parse(strings.NewReader("transactionCheckMax=many\n"), &cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("transactionCheckMax=many accepted")
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.TransactionCheckMax = 0 },
		func(c *Config) { c.TransactionCheckInterval = 0 },
		func(c *Config) { c.TransactionTimeOut = -time.Second },
	} {
		c := Default()
		bad(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "transaction") {
			t.Errorf("Validate: %v", err)
		}
	}
}

// TestEnablePropertyFilterKey: the broker.conf key, off by default.
func TestEnablePropertyFilterKey(t *testing.T) {
	cfg := Default()
	if cfg.EnablePropertyFilter {
		t.Fatal("enablePropertyFilter on by default")
	}
	if err := Parse(strings.NewReader("enablePropertyFilter=TRUE\n"), &cfg, slog.New(slog.DiscardHandler)); err != nil || !cfg.EnablePropertyFilter {
		t.Fatalf("enablePropertyFilter=TRUE: %v, set %v", err, cfg.EnablePropertyFilter)
	}
}
