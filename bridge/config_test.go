package bridge

import (
	"errors"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	ok := func() Config {
		e, _ := ParseExportFlag("orders.*=sampan.orders.*")
		i, _ := ParseImportFlag("ext.*=fromnats.*")
		return Config{URL: "nats://127.0.0.1:4222", Export: []ExportRule{e}, Import: []ImportRule{i}}
	}
	c := ok()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"nats://u:p@h1:4222, tls://h2:4443", "wss://h:443", "127.0.0.1:4222"} {
		c2 := ok()
		c2.URL = u
		if err := c2.Validate(); err != nil {
			t.Fatalf("%q: %v", u, err)
		}
	}
	if c.Export[0].Name != "export:orders.*=sampan.orders.*" || c.Import[0].Name != "import:ext.*=fromnats.*" {
		t.Fatalf("default names: %q %q", c.Export[0].Name, c.Import[0].Name)
	}
	if got, _ := c.Import[0].mapping.Map("ext.x"); got != "fromnats.x" {
		t.Fatalf("import mapping: %q", got)
	}
	empty := Config{}
	if err := empty.Validate(); err != nil || empty.Enabled() {
		t.Fatalf("empty config: %v", err)
	}

	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no url", func(c *Config) { c.URL = "" }, "no NATS url"},
		{"bad url", func(c *Config) { c.URL = "nats://a:4222,,b" }, "want URL[,URL...]"},
		{"bad scheme", func(c *Config) { c.URL = "http://127.0.0.1:4222" }, "want nats, tls, ws or wss"},
		{"no host", func(c *Config) { c.URL = "nats://" }, "want URL[,URL...]"},
		{"invalid subject", func(c *Config) { c.Export[0].Subject = "sampan..orders.*" }, "empty token"},
		{"invalid channel", func(c *Config) { c.Import[0].Channel = "from:nats.*" }, "channel tokens are"},
		{"wildcards differ", func(c *Config) { c.Export[0].Subject = "sampan.orders" }, "wildcards do not match"},
		{"wildcards differ import", func(c *Config) { c.Import[0].Channel = "a.>" }, "wildcards do not match"},
		{"two credentials", func(c *Config) { c.Token, c.User = "t", "u" }, "at most one"},
		{"password alone", func(c *Config) { c.Password = "p" }, "password without user"},
		{"missing creds file", func(c *Config) { c.CredsFile = "/nonexistent/x.creds" }, "creds_file"},
		{"cert without key", func(c *Config) { c.TLS.CertFile = "/etc/hostname" }, "go together"},
		{"duplicate names", func(c *Config) { c.Export[0].Name, c.Import[0].Name = "r", "r" }, "two rules named"},
		{"stream without jetstream", func(c *Config) { c.Import[0].Stream = "S" }, "need jetstream"},
		{"bad durable", func(c *Config) { c.Import[0].JetStream, c.Import[0].Durable = true, "a.b" }, "durable name"},
	}
	for _, tc := range cases {
		c := ok()
		tc.edit(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an ErrInvalidConfig saying %q", tc.name, err, tc.want)
		}
	}
	c = ok()
	c.Import[0].JetStream = true
	if err := c.Validate(); err != nil || c.Import[0].Durable != "sampan-import_ext___fromnats__" {
		t.Fatalf("default durable %q: %v", c.Import[0].Durable, err)
	}
}

func TestParseFlags(t *testing.T) {
	if r, err := ParseImportFlag("a=b.c=chan.x"); err != nil || r.Subject != "a=b.c" || r.Channel != "chan.x" {
		t.Fatalf("import flag split at the last '=': %+v %v", r, err)
	}
	if r, err := ParseExportFlag("orders.*=s.a=b"); err != nil || r.Channels != "orders.*" || r.Subject != "s.a=b" {
		t.Fatalf("export flag split at the first '=': %+v %v", r, err)
	}
	for _, bad := range []string{"", "a", "=b", "a="} {
		if _, err := ParseExportFlag(bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("export %q: %v", bad, err)
		}
		if _, err := ParseImportFlag(bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("import %q: %v", bad, err)
		}
	}
}
