package broker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sampan-io/sampan/store"
)

// channels.retention and channels.overrides from YAML: the first matching override wins, a setting it
// leaves out is the default's; wrong values are refused with an error naming the key.
func TestChannelSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sampan.yaml")
	yaml := `
channels:
  max_msgs: 1000
  max_age: 24h
  overrides:
    - match: "jobs.urgent.*"
      retention: interest
      max_age: 1h
    - match: "jobs.>"
      retention: interest
      max_msgs: 0
    - match: "audit"
      dedupe_window: 0s
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	if err := cfg.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	settings, err := cfg.Channels.settings()
	if err != nil {
		t.Fatal(err)
	}
	day, hour, dedupe := int64(24*time.Hour), int64(time.Hour), int64(2*time.Minute)
	for name, want := range map[string]store.ChannelConfig{
		"orders":        {MaxMsgs: 1000, MaxAge: day, DedupeWindow: dedupe},
		"jobs.urgent.a": {MaxMsgs: 1000, MaxAge: hour, DedupeWindow: dedupe, Interest: true},
		"jobs.urgent":   {MaxMsgs: 0, MaxAge: day, DedupeWindow: dedupe, Interest: true},
		"jobs.eu.x":     {MaxMsgs: 0, MaxAge: day, DedupeWindow: dedupe, Interest: true},
		"audit":         {MaxMsgs: 1000, MaxAge: day},
		"audit.x":       {MaxMsgs: 1000, MaxAge: day, DedupeWindow: dedupe},
	} {
		if got := settings(name); got != want {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
	for _, tc := range []struct {
		name string
		mod  func(*ChannelDefaults)
		want string
	}{
		{"unknown retention", func(d *ChannelDefaults) { d.Retention = "workqueue" }, `channels.retention "workqueue"`},
		{"unknown override retention", func(d *ChannelDefaults) {
			d.Overrides = []ChannelOverride{{Match: "a", Retention: "Interest"}}
		}, `channels.overrides[0].retention`},
		{"bad pattern", func(d *ChannelDefaults) { d.Overrides = []ChannelOverride{{Match: "a.>.b"}} }, "channels.overrides[0].match"},
		{"no pattern", func(d *ChannelDefaults) { d.Overrides = []ChannelOverride{{Retention: "interest"}} }, "channels.overrides[0].match"},
	} {
		c := DefaultConfig()
		c.Data = t.TempDir()
		tc.mod(&c.Channels)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// Wrong metrics.consumers rules stop the start with an error naming the setting.
func TestConsumerMetricsConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    MetricsConfig
		want string
	}{
		{"bad pattern", MetricsConfig{Consumers: []ConsumerMetricsRule{{Channel: "a.>.b", Consumer: "w"}}}, "metrics.consumers[0].channel"},
		{"no channel", MetricsConfig{Consumers: []ConsumerMetricsRule{{Consumer: "w"}}}, "metrics.consumers[0].channel"},
		{"no consumer", MetricsConfig{Consumers: []ConsumerMetricsRule{{Channel: "a"}}}, "metrics.consumers[0].consumer"},
		{"negative bound", MetricsConfig{MaxConsumerSeries: -1}, "metrics.max_consumer_series"},
	} {
		c := DefaultConfig()
		c.Data = t.TempDir()
		c.Metrics = tc.m
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}
