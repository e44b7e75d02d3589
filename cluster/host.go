package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"
	"github.com/rs/zerolog"
)

// HostConfig configures the node's Dragonboat NodeHost.
type HostConfig struct {
	// Dir is the NodeHost directory (Raft log, snapshots, node identity).
	Dir string
	// RaftAddr is the host:port other replicas reach this node on. It is the node's Raft identity: it must
	// not change across restarts of the same data dir.
	RaftAddr string
	// RTTMillisecond is the Raft tick. Every resident replica is ticked every RTT, quiet or not, so a
	// small tick costs CPU per resident shard (~7 us per replica per tick on the 2-core machine); channel
	// shards' timeouts are set in milliseconds (ShardConfigFor).
	RTTMillisecond uint64
	// LogDBShards and ExecShards are fixed in the NodeHost dir at first start and cannot change later. Fewer
	// LogDB shards let one fsync cover entries of many channels (group commit): 1 is by far the fastest on
	// small machines; see docs/decisions/0002-dragonboat-tuning.md.
	LogDBShards uint64
	ExecShards  uint64
	// LogDBMemory selects the LogDB memtable budget: "tiny" (4 MiB x 4, tests), "small" (16 MiB x 4, the
	// default) or "large" (Dragonboat's default, ~8 GB). Too small a budget makes Dragonboat pause
	// proposals ("system busy") under heavy write load while the LogDB flushes.
	LogDBMemory string
	// Logger receives Dragonboat's and pebble's logs.
	Logger zerolog.Logger
	// Events, when set, is told of every leader change of every shard on this node.
	Events raftio.IRaftEventListener
	// Transport, when set, replaces Sampan's TCP transport (TCPTransport) between NodeHosts. The
	// testkit passes a fault-injecting one; production leaves it nil.
	Transport config.TransportFactory
	// TLS, when set (and Transport is not), runs the Raft transport over mutual TLS.
	TLS *NodeTLS
	// Elector, when set, is given the NodeHost's inbound message handler, so that channel actors can make
	// their replica campaign at once (Elector.Campaign) instead of waiting for the election timer.
	Elector *Elector
	// Queues are the per-replica Dragonboat queue lengths (zero fields: DefaultQueueSizes). They are
	// process-wide: the first NodeHost started in a process sets them for all (see queues.go).
	Queues QueueSizes
	// FS, when set, is the file system Dragonboat keeps its log, snapshots and node identity on
	// (NodeHostConfig.Expert.FS); nil is the OS. The testkit passes lni/vfs's StrictMem to simulate crashes.
	FS config.IFS
}

var queuesOnce sync.Once

// DefaultHostConfig returns the settings a single small node runs with.
func DefaultHostConfig(dir, raftAddr string) HostConfig {
	return HostConfig{Dir: dir, RaftAddr: raftAddr, RTTMillisecond: 50, LogDBShards: 1, ExecShards: 1, LogDBMemory: "small"}
}

// Validate reports a configuration error in terms the operator can act on.
func (c *HostConfig) Validate() error {
	if c.Dir == "" {
		return errors.New("sampan: raft data dir is empty")
	}
	if c.RaftAddr == "" {
		return errors.New("sampan: raft address is empty")
	}
	if c.RTTMillisecond == 0 {
		return errors.New("sampan: raft rtt must be > 0")
	}
	if c.LogDBShards == 0 || c.ExecShards == 0 {
		return errors.New("sampan: logdb and exec shard counts must be > 0")
	}
	return nil
}

// StartNodeHost opens (or creates) the NodeHost. Close it with NodeHost.Close exactly once.
func StartNodeHost(c HostConfig) (*dragonboat.NodeHost, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	// With an FS set, Dragonboat creates the dir itself, syncing each new parent: creating it here first
	// would leave those directory entries unsynced, and a simulated power loss would lose them.
	if c.FS == nil {
		if err := os.MkdirAll(c.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("sampan: create raft dir: %w", err)
		}
	}
	setDragonboatLogger(c.Logger)
	queuesOnce.Do(func() {
		SetQueueSizes(DefaultQueueSizes)
		SetQueueSizes(c.Queues) // its non-zero fields override the defaults
	})
	transport := c.Transport
	if transport == nil {
		transport = TCPTransport()
		if c.TLS != nil {
			transport = TCPTransportTLS(c.TLS)
		}
	}
	if c.Elector != nil {
		transport = c.Elector.wrap(transport)
	}
	var logdb config.LogDBConfig
	switch c.LogDBMemory {
	case "tiny":
		logdb = config.GetTinyMemLogDBConfig()
	case "small", "":
		logdb = config.GetSmallMemLogDBConfig()
	case "large":
		logdb = config.GetLargeMemLogDBConfig()
	default:
		return nil, fmt.Errorf("sampan: logdb memory %q: want tiny, small or large", c.LogDBMemory)
	}
	logdb.Shards = c.LogDBShards
	engine := config.GetDefaultEngineConfig()
	engine.ExecShards = c.ExecShards
	engine.ApplyShards = c.ExecShards
	engine.CommitShards = c.ExecShards
	nhc := config.NodeHostConfig{
		NodeHostDir:       filepath.Clean(c.Dir),
		RTTMillisecond:    c.RTTMillisecond,
		RaftAddress:       c.RaftAddr,
		RaftEventListener: c.Events,
		Expert: config.ExpertConfig{
			LogDB:            logdb,
			Engine:           engine,
			TransportFactory: transport,
			FS:               c.FS,
		},
	}
	nh, err := dragonboat.NewNodeHost(nhc)
	if err != nil {
		return nil, fmt.Errorf("sampan: start raft node host in %s: %w", c.Dir, err)
	}
	if nh == nil {
		// NewNodeHost recovers panics that are not errors and returns nothing, e.g. for an FS of a
		// type its LogDB does not accept (only lni/vfs's *MemFS and *ErrorFS besides the OS).
		return nil, fmt.Errorf("sampan: start raft node host in %s: dragonboat failed without an error (unsupported FS?)", c.Dir)
	}
	return nh, nil
}

// Channel shards' Raft timing, in milliseconds (converted to ticks of the NodeHost's RTT by
// ShardConfigFor). Elections are the safety net, not the mechanism: a channel activation makes its own
// replica campaign at once (Elector), on a wake, a create and after a failover, so these only decide
// how soon a follower takes over when nothing above it acts (its leader partitioned away while the
// channel's actor lives on, say). A long election timeout is what lets the tick be coarse (every
// resident replica is ticked every RTT, quiet or not), and it also keeps a loaded 2-core machine
// running several nodes from holding needless elections when heartbeats are late (each strands
// proposals).
const (
	channelElectionMs  = 500
	channelHeartbeatMs = 100
)

// ShardConfigFor returns the Raft settings of channel shard replicas on a NodeHost ticking every
// rttMs milliseconds.
func ShardConfigFor(rttMs uint64) func(shardID, replicaID uint64) config.Config {
	heartbeat := max(1, channelHeartbeatMs/rttMs)
	// Dragonboat requires ElectionRTT > 2 x HeartbeatRTT.
	election := max(2*heartbeat+1, channelElectionMs/rttMs)
	return func(shardID, replicaID uint64) config.Config {
		return config.Config{
			ShardID:      shardID,
			ReplicaID:    replicaID,
			ElectionRTT:  election,
			HeartbeatRTT: heartbeat,
			CheckQuorum:  true,
			Quiesce:      true,
			// A replica that comes back (node restarted, partition healed) must not depose a healthy
			// leader by campaigning with a higher term: the leader is where the channel's actor runs.
			PreVote: true,
			// Snapshots of an on-disk state machine only record the applied index (cheap); they let
			// Dragonboat compact the Raft log so it does not grow without bound.
			SnapshotEntries:    10000,
			CompactionOverhead: 5000,
			WaitReady:          false,
		}
	}
}
