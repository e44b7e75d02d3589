package bridge

// The bridge's configuration: the `nats:` section of the broker's YAML and the --nats* flags. Pure:
// Validate only reads the files it names (credentials, TLS) to report a missing one at start.

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Config is the `nats:` section of the broker config. The zero value (no rules) disables the bridge.
type Config struct {
	// URL is one NATS server URL or several separated by commas (nats://host:4222,...).
	URL string `yaml:"url"`
	// Name is the NATS connection name (default "sampan-node-ID").
	Name string `yaml:"name"`
	// Credentials: at most one of Token, User (with Password), NKeyFile and CredsFile.
	Token     string `yaml:"token"`
	User      string `yaml:"user"`
	Password  string `yaml:"password"`
	NKeyFile  string `yaml:"nkey_file"`  // file holding an nkey seed (SU...)
	CredsFile string `yaml:"creds_file"` // decentralized auth: a .creds file (JWT + seed)
	TLS       TLS    `yaml:"tls"`

	Export []ExportRule `yaml:"export"`
	Import []ImportRule `yaml:"import"`
}

// TLS configures a TLS connection to NATS. Any field set turns TLS on.
type TLS struct {
	CAFile   string `yaml:"ca_file"`   // PEM roots to verify the server (default: the system's)
	CertFile string `yaml:"cert_file"` // client certificate (mutual TLS), with KeyFile
	KeyFile  string `yaml:"key_file"`
	Insecure bool   `yaml:"insecure_skip_verify"` // tests only
}

// Enabled reports whether any TLS setting is given.
func (t TLS) Enabled() bool {
	return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.Insecure
}

// ExportRule sends the messages of every channel matching Channels to the subject built from Subject.
type ExportRule struct {
	// Name identifies the rule: its cursors are stored under it, so renaming a rule (or, when Name is
	// empty, changing Channels or Subject) starts its export again from each channel's first message.
	Name     string `yaml:"name"`
	Channels string `yaml:"channels"` // channel pattern: "orders.*"
	Subject  string `yaml:"subject"`  // subject pattern with the same wildcards: "sampan.orders.*"
	// JetStream publishes with Nats-Msg-Id = CHANNEL:SEQ and waits for the stream's PubAck; the subject
	// must be captured by a stream.
	JetStream bool `yaml:"jetstream"`

	mapping Mapping
}

// ImportRule publishes the messages of every subject matching Subject into the channel built from
// Channel.
type ImportRule struct {
	Name    string `yaml:"name"`    // identifies the rule in status and metrics (and names its durable)
	Subject string `yaml:"subject"` // subject pattern: "ext.*"
	Channel string `yaml:"channel"` // channel pattern with the same wildcards: "fromnats.*"
	// JetStream consumes with a durable pull consumer on Stream instead of a core subscription.
	JetStream bool   `yaml:"jetstream"`
	Stream    string `yaml:"stream"`  // JetStream: the stream to consume (default: the one capturing Subject)
	Durable   string `yaml:"durable"` // JetStream: the durable consumer's name (default "sampan-" + Name)

	mapping Mapping
}

// ErrInvalidConfig is matched (errors.Is) by every configuration error Validate returns.
var ErrInvalidConfig = errors.New("sampan: invalid nats bridge config")

// Enabled reports whether there is anything to bridge.
func (c *Config) Enabled() bool { return len(c.Export)+len(c.Import) > 0 }

// Validate checks the whole section, fills default rule names and parses the patterns. It returns the
// first error, wrapping ErrInvalidConfig (and ErrInvalidPattern for a bad pattern), naming the rule.
func (c *Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	if strings.TrimSpace(c.URL) == "" {
		return bad("bridge rules are configured but no NATS url (--nats or nats.url)")
	}
	for _, raw := range strings.Split(c.URL, ",") {
		raw = strings.TrimSpace(raw)
		full := raw
		if !strings.Contains(raw, "://") {
			full = "nats://" + raw // nats.go's default scheme
		}
		u, err := url.Parse(full)
		if raw == "" || err != nil || u.Hostname() == "" {
			return bad("nats url %q: want URL[,URL...] like nats://127.0.0.1:4222", c.URL)
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return bad("nats url %q: scheme %q, want nats, tls, ws or wss", raw, u.Scheme)
		}
	}
	creds := 0
	for _, set := range []bool{c.Token != "", c.User != "" || c.Password != "", c.NKeyFile != "", c.CredsFile != ""} {
		if set {
			creds++
		}
	}
	if creds > 1 {
		return bad("give at most one of token, user/password, nkey_file and creds_file")
	}
	if c.Password != "" && c.User == "" {
		return bad("password without user")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return bad("tls.cert_file and tls.key_file go together")
	}
	for _, f := range []struct{ key, path string }{{"nkey_file", c.NKeyFile}, {"creds_file", c.CredsFile},
		{"tls.ca_file", c.TLS.CAFile}, {"tls.cert_file", c.TLS.CertFile}, {"tls.key_file", c.TLS.KeyFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return bad("%s: %v", f.key, err)
		}
	}
	names := map[string]bool{}
	for i := range c.Export {
		r := &c.Export[i]
		m, err := NewMapping(r.Channels, KindChannel, r.Subject, KindSubject)
		if err != nil {
			return fmt.Errorf("%w: export rule %d (%s=%s): %w", ErrInvalidConfig, i+1, r.Channels, r.Subject, err)
		}
		r.mapping = m
		if r.Name == "" {
			r.Name = "export:" + m.String()
		}
		if names[r.Name] {
			return bad("two rules named %q", r.Name)
		}
		names[r.Name] = true
	}
	for i := range c.Import {
		r := &c.Import[i]
		m, err := NewMapping(r.Subject, KindSubject, r.Channel, KindChannel)
		if err != nil {
			return fmt.Errorf("%w: import rule %d (%s=%s): %w", ErrInvalidConfig, i+1, r.Subject, r.Channel, err)
		}
		r.mapping = m
		if r.Name == "" {
			r.Name = "import:" + m.String()
		}
		if names[r.Name] {
			return bad("two rules named %q", r.Name)
		}
		names[r.Name] = true
		if !r.JetStream && (r.Stream != "" || r.Durable != "") {
			return bad("import rule %q: stream and durable need jetstream: true", r.Name)
		}
		if r.JetStream && r.Durable == "" {
			r.Durable = durableName(r.Name)
		}
		if r.Durable != "" && strings.ContainsAny(r.Durable, ".*> \t") {
			return bad("import rule %q: durable name %q may not hold '.', '*', '>' or spaces", r.Name, r.Durable)
		}
	}
	return nil
}

// durableName derives a consumer name from a rule name: NATS consumer names may not hold '.', '*', '>'
// or whitespace.
func durableName(rule string) string {
	var sb strings.Builder
	sb.WriteString("sampan-")
	for _, c := range []byte(rule) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			sb.WriteByte(c)
		default:
			sb.WriteByte('_')
		}
	}
	return sb.String()
}

// ParseExportFlag parses --nats-export CHANNEL_PATTERN=SUBJECT (split at the first '=': channel
// patterns cannot hold one). The rule is checked by Validate.
func ParseExportFlag(s string) (ExportRule, error) {
	ch, subj, ok := strings.Cut(s, "=")
	if !ok || ch == "" || subj == "" {
		return ExportRule{}, fmt.Errorf("%w: --nats-export %q: want CHANNEL_PATTERN=SUBJECT", ErrInvalidConfig, s)
	}
	return ExportRule{Channels: ch, Subject: subj}, nil
}

// ParseImportFlag parses --nats-import SUBJECT=CHANNEL (split at the last '=': channel patterns cannot
// hold one, subjects could).
func ParseImportFlag(s string) (ImportRule, error) {
	i := strings.LastIndexByte(s, '=')
	if i <= 0 || i == len(s)-1 {
		return ImportRule{}, fmt.Errorf("%w: --nats-import %q: want SUBJECT=CHANNEL", ErrInvalidConfig, s)
	}
	return ImportRule{Subject: s[:i], Channel: s[i+1:]}, nil
}
