package config

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// boolsDiffer reports whether a and b (the same struct type) differ in a
// bool field, nested structs included.
func boolsDiffer(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Bool:
		return a.Bool() != b.Bool()
	case reflect.Struct:
		for i := range a.NumField() {
			if boolsDiffer(a.Field(i), b.Field(i)) {
				return true
			}
		}
	}
	return false
}

// booleanKeys returns the broker.conf keys (the tls.* ones included) whose
// value turns a bool of Config on and off: every key "TRUE" and "false"
// are tried on, so a boolean key added later is covered without a list.
func booleanKeys(t *testing.T) []string {
	t.Helper()
	keys := []string{"tls.enable", "tls.test.mode.enable", "tls.server.authClient", "tls.client.authServer"}
	for k := range configKeys {
		keys = append(keys, k)
	}
	var bools []string
	for _, k := range keys {
		on, off := Default(), Default()
		if Parse(strings.NewReader(k+"=TRUE\n"), &on, slog.New(slog.DiscardHandler)) != nil ||
			Parse(strings.NewReader(k+"=false\n"), &off, slog.New(slog.DiscardHandler)) != nil {
			continue
		}
		if boolsDiffer(reflect.ValueOf(on), reflect.ValueOf(off)) {
			bools = append(bools, k)
		}
	}
	slices.Sort(bools)
	return bools
}

// TestBooleanKeysRefuseTypos: every boolean key of broker.conf takes true
// and false in any case and refuses anything else with one line naming the
// file, the line, the key and the value (aclEnable=ture used to turn ACL
// off silently, as Java's Boolean.parseBoolean does).
func TestBooleanKeysRefuseTypos(t *testing.T) {
	bools := booleanKeys(t)
	for _, must := range []string{"aclEnable", "autoCreateTopicEnable", "slaveReadEnable", "tls.enable", "tls.client.authServer"} {
		if !slices.Contains(bools, must) {
			t.Fatalf("%s not found among the boolean keys %v", must, bools)
		}
	}
	t.Logf("boolean keys: %v", bools)
	if len(bools) < 20 {
		t.Fatalf("only %d boolean keys found: %v", len(bools), bools)
	}
	for _, k := range bools {
		for _, v := range []string{"True", "tRuE", "FALSE", " false"} {
			cfg := Default()
			if err := Parse(strings.NewReader(k+"="+v+"\n"), &cfg, slog.New(slog.DiscardHandler)); err != nil {
				t.Errorf("%s=%s refused: %v", k, v, err)
			}
		}
		for _, v := range []string{"ture", "yes please", "yes", "1", "on"} {
			cfg := Default()
			err := Parse(strings.NewReader("# c\n"+k+"="+v+"\n"), &cfg, slog.New(slog.DiscardHandler))
			if err == nil {
				t.Errorf("%s=%s accepted", k, v)
				continue
			}
			if msg := err.Error(); !strings.Contains(msg, "line 2") || !strings.Contains(msg, k) || !strings.Contains(msg, v) || strings.Contains(msg, "\n") {
				t.Errorf("%s=%s: error %q, want one line naming line 2, the key and the value", k, v, msg)
			}
		}
	}
	// Through Load, the error names the file as well.
	path := filepath.Join(t.TempDir(), "broker.conf")
	if err := os.WriteFile(path, []byte("brokerName=b\naclEnable=ture\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `line 2: aclEnable="ture"`) {
		t.Fatalf("Load: %v, want an error naming %s, line 2, aclEnable and ture", err, path)
	}
}
