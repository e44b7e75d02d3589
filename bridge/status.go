package bridge

// Status: per-rule counters, GET /bridges and the Prometheus view of them.

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sampan-io/sampan/internal/metrics"
)

// Status is the bridge as GET /bridges shows it.
type Status struct {
	// Active: the bridge runs on this node (it leads the metadata group). On other nodes the counters
	// are those of the last time it ran here.
	Active    bool         `json:"active"`
	Connected bool         `json:"connected"` // connected to a NATS server
	URL       string       `json:"url"`       // configured servers, passwords redacted
	Server    string       `json:"server,omitempty"`
	Rules     []RuleStatus `json:"rules"`
}

// RuleStatus is one rule in Status.
type RuleStatus struct {
	Name      string `json:"name"`
	Direction string `json:"direction"` // export or import
	Channels  string `json:"channels"`  // channel pattern
	Subject   string `json:"subject"`   // subject pattern
	JetStream bool   `json:"jetstream"`
	Connected bool   `json:"connected"` // running on this node with NATS connected
	// Exported: messages published to NATS (re-sends after an outage included; JetStream: acked).
	Exported uint64 `json:"exported"`
	// Imported: NATS messages stored in Sampan (acked).
	Imported uint64 `json:"imported"`
	// Skipped: messages not bridged because they came from the other side (loop prevention).
	Skipped uint64 `json:"skipped"`
	Errors  uint64 `json:"errors"`
	// Lag (export): messages stored in matching channels that NATS has not yet accepted.
	Lag              uint64     `json:"lag"`
	ExportedChannels int        `json:"exported_channels,omitempty"` // export: channels being exported
	LastError        string     `json:"last_error,omitempty"`
	LastErrorAt      *time.Time `json:"last_error_at,omitempty"`
}

// ruleStats are a rule's counters; they outlive sessions (leadership terms).
type ruleStats struct {
	running                              atomic.Bool
	exported, imported, skipped, errored atomic.Uint64
	lag                                  atomic.Uint64
	channels                             atomic.Int64

	mu        sync.Mutex
	lastErr   string
	lastErrAt time.Time
}

func (s *ruleStats) fail(err error) {
	if err == nil {
		return
	}
	s.errored.Add(1)
	s.mu.Lock()
	s.lastErr, s.lastErrAt = err.Error(), time.Now()
	s.mu.Unlock()
}

// note records err as the last error without counting it (connection attempts while NATS is down:
// /bridges should say why, but they are not the rule's errors).
func (s *ruleStats) note(err error) {
	s.mu.Lock()
	s.lastErr, s.lastErrAt = err.Error(), time.Now()
	s.mu.Unlock()
}

func (s *ruleStats) fill(rs *RuleStatus, connected bool) {
	rs.Connected = connected && s.running.Load()
	rs.Exported, rs.Imported, rs.Skipped, rs.Errors = s.exported.Load(), s.imported.Load(), s.skipped.Load(), s.errored.Load()
	rs.Lag, rs.ExportedChannels = s.lag.Load(), int(s.channels.Load())
	s.mu.Lock()
	if s.lastErr != "" {
		rs.LastError = s.lastErr
		at := s.lastErrAt
		rs.LastErrorAt = &at
	}
	s.mu.Unlock()
}

// Status reports the bridge's state. Safe from any goroutine.
func (b *Bridge) Status() Status {
	st := Status{Active: b.active.Load(), URL: redactURL(b.cfg.URL), Rules: []RuleStatus{}}
	if nc := b.nc.Load(); nc != nil && nc.IsConnected() {
		st.Connected, st.Server = true, nc.ConnectedUrlRedacted()
	}
	for _, r := range b.exports {
		rs := RuleStatus{Name: r.cfg.Name, Direction: "export", Channels: r.cfg.Channels, Subject: r.cfg.Subject, JetStream: r.cfg.JetStream}
		r.stats.fill(&rs, st.Connected)
		st.Rules = append(st.Rules, rs)
	}
	for _, r := range b.imports {
		rs := RuleStatus{Name: r.cfg.Name, Direction: "import", Channels: r.cfg.Channel, Subject: r.cfg.Subject, JetStream: r.cfg.JetStream}
		r.stats.fill(&rs, st.Connected)
		st.Rules = append(st.Rules, rs)
	}
	return st
}

// MetricsView returns the rules for internal/metrics' bridge collector.
func (b *Bridge) MetricsView() []metrics.BridgeRule {
	st := b.Status()
	out := make([]metrics.BridgeRule, 0, len(st.Rules))
	for _, r := range st.Rules {
		out = append(out, metrics.BridgeRule{Rule: r.Name, Direction: r.Direction, Connected: r.Connected,
			Exported: r.Exported, Imported: r.Imported, Skipped: r.Skipped, Errors: r.Errors, Lag: r.Lag})
	}
	return out
}
