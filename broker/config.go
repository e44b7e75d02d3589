package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/lni/dragonboat/v4/config"
	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/sampan-io/sampan/auth"
	"github.com/sampan-io/sampan/bridge"
	"github.com/sampan-io/sampan/cluster"
	"github.com/sampan-io/sampan/gateway"
	"github.com/sampan-io/sampan/protocol"
	"github.com/sampan-io/sampan/store"
)

// Default addresses. The client port is deliberately not NATS's 4222: Sampan often runs beside NATS.
const (
	DefaultListen = "127.0.0.1:7420"
	DefaultHTTP   = "127.0.0.1:7480"
	DefaultRaft   = "127.0.0.1:7100"
	DefaultActor  = "127.0.0.1:0"
	DefaultData   = "./sampan-data"
)

// Duration is a time.Duration that reads "90s", "5m", "24h" from YAML.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 90s or 24h", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Config is a node's whole configuration. The YAML file (--config) holds the same keys as the flags;
// flags win over the file, the file over the defaults.
type Config struct {
	NodeID   uint64 `yaml:"node_id"`  // this node's id in the cluster (>= 1, never reused)
	Peers    string `yaml:"peers"`    // every node of the cluster as ID@RAFT_ADDR,... (empty: just this node)
	Replicas int    `yaml:"replicas"` // replicas per channel, capped at the node count
	// Join: this node is added to a running cluster (POST /cluster/nodes or `sampan cluster add`) instead
	// of being one of the nodes that started it; Peers may then be empty.
	Join   bool   `yaml:"join"`
	Data   string `yaml:"data"`   // data dir: raft/ (Dragonboat) and store/ (messages)
	Listen string `yaml:"listen"` // client protocol listener
	// Advertise is the host:port clients reach this node's client listener at, when that is not the
	// listen address (a wildcard host, NAT, a proxy). Other nodes hand it to clients in ROUTE frames.
	// Empty: the listen address, unless its host is a wildcard (then no client is routed here).
	Advertise string `yaml:"advertise"`
	HTTP      string `yaml:"http"` // /healthz, /readyz, /metrics, the admin API and the web console
	// WS is the host:port of the WebSocket listener (the client protocol over WebSocket, for web pages
	// and the console's live tail); empty: none. WSOrigins bounds the web pages that may connect
	// (Origin patterns like https://*.example.com; empty: any page).
	WS        string   `yaml:"ws"`
	WSOrigins []string `yaml:"ws_origins"`
	Raft      string   `yaml:"raft"`      // Raft address; the node's identity in its data dir
	Actor     string   `yaml:"actor"`     // protoactor remote address (port 0: any free port)
	LogLevel  string   `yaml:"log_level"` // debug, info, warn, error
	LogJSON   *bool    `yaml:"log_json"`  // nil: JSON unless stderr is a terminal
	PProf     bool     `yaml:"pprof"`     // serve Go's /debug/pprof/ on the HTTP listener

	Channels ChannelDefaults `yaml:"channels"`
	Limits   Limits          `yaml:"limits"`
	Tuning   Tuning          `yaml:"tuning"`

	NATS bridge.Config `yaml:"nats"` // the NATS bridge (package bridge); no rules: off

	TLS     TLSConfig     `yaml:"tls"`     // the client and HTTP listeners' TLS; empty: plain TCP
	Cluster ClusterConfig `yaml:"cluster"` // between nodes: mutual TLS
	Auth    auth.Config   `yaml:"auth"`    // users and permissions; none: no login, everything allowed
	Metrics MetricsConfig `yaml:"metrics"` // per-consumer series (consumer_metrics.go)

	// Hooks are seams for the testkit (package testkit) to put faults between nodes and under the disks.
	// They are not configuration: no YAML key or flag sets them, and the zero value is production.
	Hooks Hooks `yaml:"-"`
}

// Hooks replace parts of a node's plumbing (never its logic) for simulation tests. Every field is
// optional; nil keeps the production part.
type Hooks struct {
	// RaftTransport replaces Dragonboat's TCP transport between NodeHosts.
	RaftTransport config.TransportFactory
	// RaftFS is the file system under Dragonboat (Raft log, snapshots), e.g. lni/vfs's StrictMem.
	RaftFS config.IFS
	// StoreFS is the file system under the message store (pebble/v2), e.g. pebble's crashable MemFS.
	StoreFS vfs.FS
	// DialActor opens connections to other nodes' actor (remote gRPC) addresses: remote's own
	// connections, the liveness probes and the placement check all go through it.
	DialActor func(ctx context.Context, addr string) (net.Conn, error)
	// GatewayTap is shown every message this node's gateway actor receives; it must not block.
	GatewayTap func(msg any)
	// LegacyMetadata makes the node run the metadata as builds before the on-disk registry did (the
	// in-memory group on shard 1, never migrated): the migration tests make their old data dirs with it
	// (cluster.MetaConfig.Legacy).
	LegacyMetadata bool
	// MigrationStep is called before each step of a migration to the on-disk registry; returning false
	// halts it there as a crash would (cluster.MetaConfig.Hook).
	MigrationStep func(step string) bool
	// MigrationChunkBytes is the size of one chunk of the migration's import (0: 512 KiB), small in
	// tests to cut an import into many chunks.
	MigrationChunkBytes int
}

// ChannelDefaults are the settings every channel gets. Zero limits mean unlimited.
type ChannelDefaults struct {
	IdleTimeout  Duration `yaml:"idle_timeout"`  // passivate a channel after this long without traffic
	MaxActive    int      `yaml:"max_active"`    // channels active (shards resident) per node; the least recently used passivates beyond it
	MaxMsgs      uint64   `yaml:"max_msgs"`      // retention: keep at most this many messages
	MaxBytes     uint64   `yaml:"max_bytes"`     // retention: keep at most this many bytes
	MaxAge       Duration `yaml:"max_age"`       // retention: drop messages older than this
	DedupeWindow Duration `yaml:"dedupe_window"` // how long an idempotency key is remembered
	// Retention is "limits" (the default: only the limits above delete) or "interest" (also delete
	// what every durable consumer of the channel has acked up to its ack floor).
	Retention string `yaml:"retention"`
	// Overrides give the channels matching a pattern other settings: the first match wins, and a
	// setting it leaves out is the one above.
	Overrides []ChannelOverride `yaml:"overrides"`
}

// ChannelOverride is the settings of the channels matching Match (a channel pattern: `*` one token,
// `>` the rest). A nil setting is the default's.
type ChannelOverride struct {
	Match        string    `yaml:"match"`
	Retention    string    `yaml:"retention"`
	MaxMsgs      *uint64   `yaml:"max_msgs"`
	MaxBytes     *uint64   `yaml:"max_bytes"`
	MaxAge       *Duration `yaml:"max_age"`
	DedupeWindow *Duration `yaml:"dedupe_window"`
}

// settings compiles the defaults and overrides into the function that gives a channel its settings.
func (d *ChannelDefaults) settings() (func(channel string) store.ChannelConfig, error) {
	base := store.ChannelConfig{MaxMsgs: d.MaxMsgs, MaxBytes: d.MaxBytes, MaxAge: int64(d.MaxAge), DedupeWindow: int64(d.DedupeWindow)}
	var err error
	if base.Interest, err = interestRetention(d.Retention, "channels.retention"); err != nil {
		return nil, err
	}
	type rule struct {
		p   bridge.Pattern
		cfg store.ChannelConfig
	}
	rules := make([]rule, 0, len(d.Overrides))
	for i, o := range d.Overrides {
		where := fmt.Sprintf("channels.overrides[%d]", i)
		p, err := bridge.ParsePattern(strings.TrimSpace(o.Match), bridge.KindChannel)
		if err != nil {
			return nil, fmt.Errorf("sampan: %s.match: %w", where, err)
		}
		cfg := base
		if o.Retention != "" {
			if cfg.Interest, err = interestRetention(o.Retention, where+".retention"); err != nil {
				return nil, err
			}
		}
		if o.MaxMsgs != nil {
			cfg.MaxMsgs = *o.MaxMsgs
		}
		if o.MaxBytes != nil {
			cfg.MaxBytes = *o.MaxBytes
		}
		if o.MaxAge != nil {
			cfg.MaxAge = int64(*o.MaxAge)
		}
		if o.DedupeWindow != nil {
			cfg.DedupeWindow = int64(*o.DedupeWindow)
		}
		if cfg.MaxAge < 0 || cfg.DedupeWindow < 0 {
			return nil, fmt.Errorf("sampan: %s: max_age and dedupe_window must not be negative", where)
		}
		rules = append(rules, rule{p, cfg})
	}
	if base.MaxAge < 0 || base.DedupeWindow < 0 {
		return nil, errors.New("sampan: channels.max_age and channels.dedupe_window must not be negative")
	}
	return func(channel string) store.ChannelConfig {
		for _, r := range rules {
			if _, ok := r.p.Match(channel); ok {
				return r.cfg
			}
		}
		return base
	}, nil
}

func interestRetention(s, where string) (bool, error) {
	switch s {
	case "", "limits":
		return false, nil
	case "interest":
		return true, nil
	}
	return false, fmt.Errorf("sampan: %s %q: want limits or interest", where, s)
}

// Limits are the per-connection limits advertised to clients.
type Limits struct {
	MaxFrame      uint32 `yaml:"max_frame"`
	MaxPayload    uint32 `yaml:"max_payload"`
	MaxInflight   uint32 `yaml:"max_inflight"`
	MaxInflightMB int    `yaml:"max_inflight_mb"` // MiB of unacknowledged PUB payloads per connection
	MaxWindow     uint32 `yaml:"max_window"`
	DefaultWindow uint32 `yaml:"default_window"`
	// HandshakeTimeout: a connection must say CONNECT (after its TLS handshake) within it, or is closed.
	HandshakeTimeout Duration `yaml:"handshake_timeout"`
	// Keepalive: a connection silent this long gets a PING; silent twice as long, it is closed. 0: off.
	Keepalive Duration `yaml:"keepalive"`
	// MaxConnections bounds the node's client connections, MaxUserConnections one user's,
	// MaxSubscriptions one connection's subscriptions. 0: no bound.
	MaxConnections     int `yaml:"max_connections"`
	MaxUserConnections int `yaml:"max_user_connections"`
	MaxSubscriptions   int `yaml:"max_subscriptions"`
}

// Tuning holds Raft settings. LogDBShards and ExecShards are fixed in the data dir at first start.
type Tuning struct {
	RTTMillisecond  uint64   `yaml:"rtt_ms"`
	LogDBShards     uint64   `yaml:"logdb_shards"`
	ExecShards      uint64   `yaml:"exec_shards"`
	LogDBMemory     string   `yaml:"logdb_memory"` // tiny, small or large memtable budget
	ProposalTimeout Duration `yaml:"proposal_timeout"`
	// StoreMemTableMB is the message store's memtable size in MiB (pebble holds up to two while
	// writing); 0: 32.
	StoreMemTableMB int `yaml:"store_memtable_mb"`
}

// DefaultConfig returns the embedded defaults: `sampan serve` with no file and no flags uses these.
func DefaultConfig() Config {
	return Config{
		NodeID: 1, Replicas: 3,
		Data: DefaultData, Listen: DefaultListen, HTTP: DefaultHTTP, Raft: DefaultRaft, Actor: DefaultActor,
		LogLevel: "info",
		Channels: ChannelDefaults{IdleTimeout: Duration(5 * time.Minute), MaxActive: 2000, DedupeWindow: Duration(2 * time.Minute)},
		Limits: Limits{MaxFrame: protocol.DefaultMaxFrame, MaxPayload: protocol.DefaultMaxPayload,
			MaxInflight: 4096, MaxInflightMB: 64, MaxWindow: 8192, DefaultWindow: 1024, HandshakeTimeout: Duration(10 * time.Second),
			Keepalive: Duration(30 * time.Second), MaxConnections: 65536, MaxSubscriptions: 100000},
		Tuning:  Tuning{RTTMillisecond: 50, LogDBShards: 1, ExecShards: 1, LogDBMemory: "small", ProposalTimeout: Duration(10 * time.Second)},
		Cluster: ClusterConfig{ReplaceAfter: Duration(10 * time.Minute), MovesParallel: 4},
	}
}

// LoadFile reads a YAML config file over c. Unknown keys are an error: a typo must not silently fall
// back to a default.
func (c *Config) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sampan: config: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("sampan: config %s: %w", path, err)
	}
	return nil
}

// Validate reports the first configuration error.
func (c *Config) Validate() error {
	if c.Data == "" {
		return errors.New("sampan: data dir is empty")
	}
	if err := c.TLS.validate(); err != nil {
		return err
	}
	if _, err := c.Cluster.nodeTLS(); err != nil {
		return err
	}
	if _, err := c.Auth.Compile(); err != nil {
		return err
	}
	if _, err := c.Metrics.consumerSeries(nil, zerolog.Nop()); err != nil {
		return err
	}
	for _, a := range []struct{ name, v string }{{"listen", c.Listen}, {"http", c.HTTP}, {"raft", c.Raft}, {"actor", c.Actor}} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			return fmt.Errorf("sampan: %s address %q: %v", a.name, a.v, err)
		}
	}
	if c.Cluster.ReplaceAfter < 0 || c.Cluster.MovesParallel < 1 {
		return fmt.Errorf("sampan: cluster.replace_after must be >= 0 (0: off) and cluster.moves_parallel >= 1, not %s and %d",
			time.Duration(c.Cluster.ReplaceAfter), c.Cluster.MovesParallel)
	}
	if c.WS != "" {
		if _, _, err := net.SplitHostPort(c.WS); err != nil {
			return fmt.Errorf("sampan: ws address %q: %v", c.WS, err)
		}
	}
	if c.Advertise != "" {
		host, port, err := net.SplitHostPort(c.Advertise)
		if err != nil {
			return fmt.Errorf("sampan: advertise address %q: %v", c.Advertise, err)
		}
		if host == "" || port == "0" || isWildcard(host) {
			return fmt.Errorf("sampan: advertise address %q: want the host and port clients connect to", c.Advertise)
		}
	}
	if _, _, err := net.SplitHostPort(c.Raft); err == nil {
		if _, p, _ := net.SplitHostPort(c.Raft); p == "0" {
			return errors.New("sampan: raft address needs a fixed port: it is the node's identity")
		}
	}
	if c.NodeID == 0 {
		return errors.New("sampan: node id must be >= 1")
	}
	if c.Replicas < 1 {
		return errors.New("sampan: replicas must be >= 1")
	}
	peers, err := c.PeerList()
	if err != nil {
		return err
	}
	self := false
	for _, p := range peers {
		if p.ID == c.NodeID {
			self = true
			if p.Raft != c.Raft {
				return fmt.Errorf("sampan: peers give node %d the raft address %s, but --raft is %s", p.ID, p.Raft, c.Raft)
			}
		}
	}
	if !self && !c.Join {
		return fmt.Errorf("sampan: node %d is not in peers %q (a node added to a running cluster starts with --join)", c.NodeID, c.Peers)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("sampan: log level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.Channels.IdleTimeout < Duration(10*time.Millisecond) {
		return errors.New("sampan: channels.idle_timeout must be at least 10ms")
	}
	if _, err := c.Channels.settings(); err != nil {
		return err
	}
	switch c.Tuning.LogDBMemory {
	case "tiny", "small", "large":
	default:
		return fmt.Errorf("sampan: tuning.logdb_memory %q: want tiny, small or large", c.Tuning.LogDBMemory)
	}
	if c.Tuning.RTTMillisecond == 0 || c.Tuning.LogDBShards == 0 || c.Tuning.ExecShards == 0 {
		return errors.New("sampan: tuning.rtt_ms, tuning.logdb_shards and tuning.exec_shards must be > 0")
	}
	if c.Tuning.StoreMemTableMB < 0 || c.Tuning.StoreMemTableMB > 1024 {
		return errors.New("sampan: tuning.store_memtable_mb must be between 0 (the default, 32) and 1024")
	}
	if c.Tuning.ProposalTimeout < Duration(100*time.Millisecond) {
		return errors.New("sampan: tuning.proposal_timeout must be at least 100ms")
	}
	gc := c.gatewayConfig()
	if err := gc.Validate(); err != nil {
		return err
	}
	return c.NATS.Validate()
}

// isWildcard reports whether host listens on every interface ("", 0.0.0.0, ::): no client can
// connect to it as such.
func isWildcard(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// PeerList returns the cluster's initial nodes: Peers parsed, or just this node when Peers is empty
// (and it does not join a running cluster).
func (c *Config) PeerList() ([]cluster.Peer, error) {
	if strings.TrimSpace(c.Peers) == "" {
		if c.Join {
			return nil, nil
		}
		return []cluster.Peer{{ID: c.NodeID, Raft: c.Raft}}, nil
	}
	return cluster.ParsePeers(c.Peers)
}

func (c *Config) gatewayConfig() gateway.Config {
	g := gateway.DefaultConfig(c.Listen)
	g.MaxFrame, g.MaxPayload = c.Limits.MaxFrame, c.Limits.MaxPayload
	g.MaxInflight, g.MaxWindow, g.DefaultWindow = c.Limits.MaxInflight, c.Limits.MaxWindow, c.Limits.DefaultWindow
	g.MaxInflightBytes = c.Limits.MaxInflightMB << 20
	g.HandshakeTimeout = time.Duration(c.Limits.HandshakeTimeout)
	g.Keepalive = time.Duration(c.Limits.Keepalive)
	g.MaxConnections, g.MaxUserConnections, g.MaxSubscriptions = c.Limits.MaxConnections, c.Limits.MaxUserConnections, c.Limits.MaxSubscriptions
	g.Tap = c.Hooks.GatewayTap
	g.WSAddr, g.WSOrigins = c.WS, c.WSOrigins
	if g.MaxPendingWrite < int(g.MaxFrame)*2 {
		g.MaxPendingWrite = int(g.MaxFrame) * 2
	}
	return g
}
