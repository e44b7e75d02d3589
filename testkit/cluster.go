package testkit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pvfs "github.com/cockroachdb/pebble/v2/vfs"
	lvfs "github.com/lni/vfs"
	"github.com/rs/zerolog"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/internal/racecheck"
	"github.com/sampan-io/sampan/internal/testutil"
)

var seedFlag = flag.Uint64("testkit.seed", 0, "testkit: replay a run with this seed (0: a new seed per run)")

// SeedFromFlag returns the seed given with -testkit.seed, or 0 when none was.
func SeedFromFlag() uint64 { return *seedFlag }

// Option configures NewCluster.
type Option func(*options)

type options struct {
	nodes    int
	seed     uint64
	onDisk   bool
	logLevel zerolog.Level
	mods     []func(id NodeID, c *broker.Config)
}

// Nodes sets the number of nodes (default 3).
func Nodes(n int) Option { return func(o *options) { o.nodes = n } }

// Seed fixes the seed of every random choice the cluster makes (drop decisions; schedules built with
// Cluster.Schedule). Default: -testkit.seed if given, else a new seed, printed when the test fails.
func Seed(s uint64) Option { return func(o *options) { o.seed = s } }

// OnDisk keeps each node's data in a temporary directory on the real file system instead of in memory.
// Crash then loses only what the process had not written yet (a process crash, not a power loss):
// the OS keeps unsynced writes.
func OnDisk() Option { return func(o *options) { o.onDisk = true } }

// Configure changes every node's broker configuration before it starts (node id, peers, addresses
// and the testkit's hooks are set afterwards and win).
func Configure(f func(id NodeID, c *broker.Config)) Option {
	return func(o *options) { o.mods = append(o.mods, f) }
}

// LogLevel sets the level of the nodes' logs, which go to t.Log (default warn; SAMPAN_TEST_DEBUG=1
// makes it debug).
func LogLevel(l zerolog.Level) Option { return func(o *options) { o.logLevel = l } }

// Cluster is a whole Sampan cluster running inside one test process: every node is a real broker
// (actor system, Dragonboat NodeHost, pebble store, client and HTTP listeners on 127.0.0.1), whose
// Raft traffic and actor traffic go through the cluster's Network and whose disks are, by default,
// in-memory file systems that can lose unsynced writes (Crash).
//
// The nemesis methods (Partition, Crash, ...) may be called from any goroutine.
type Cluster struct {
	t     testing.TB
	seed  uint64
	net   *Network
	nodes []*Node
	log   *testLog
	taps  tapSet

	evMu   sync.Mutex
	start  time.Time
	events []string
	hist   []*History
}

// Node is one node of a Cluster. Its client, HTTP and actor addresses stay the same across restarts.
type Node struct {
	ID      NodeID
	c       *Cluster
	cfg     broker.Config
	raftFS  *lvfs.MemFS // nil with OnDisk
	storeFS *pvfs.MemFS // nil with OnDisk; replaced by its crash clone on Crash
	mu      sync.Mutex  // serialises Stop/Crash/Restart of this node
	b       atomic.Pointer[broker.Broker]
}

var clusterSeq atomic.Uint64 // Dragonboat's channel transport registry is process-global: unique addresses

// NewCluster starts a cluster and waits until every node is ready; it stops every node at t's cleanup.
// Nodes run with small Raft memory budgets and a 3 s proposal timeout. With more than one node it
// skips the test under the race detector (protoactor-go's gRPC logger setup races when several actor
// systems start in one process; see docs/decisions/0005-multi-node-tests-and-race.md).
func NewCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	o := options{nodes: 3, seed: *seedFlag, logLevel: zerolog.WarnLevel}
	if os.Getenv("SAMPAN_TEST_DEBUG") != "" {
		o.logLevel = zerolog.DebugLevel
	}
	for _, f := range opts {
		f(&o)
	}
	if o.nodes < 1 {
		t.Fatalf("testkit: %d nodes", o.nodes)
	}
	if o.nodes > 1 && racecheck.Enabled {
		t.Skip("testkit: several actor nodes in one process trip protoactor-go's grpclog race (upstream); run without -race")
	}
	if o.seed == 0 {
		o.seed = uint64(time.Now().UnixNano())
	}
	c := &Cluster{t: t, seed: o.seed, net: NewNetwork(o.seed), log: newTestLog(t, o.logLevel), start: time.Now()}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testkit: seed %d (replay with -testkit.seed=%d); nemesis events:\n%s", c.seed, c.seed, c.EventLog())
		}
	})
	k := clusterSeq.Add(1)
	base := t.TempDir()
	var peers []string
	for i := 1; i <= o.nodes; i++ {
		id := NodeID(i)
		cfg := broker.DefaultConfig()
		cfg.Listen, cfg.HTTP = "127.0.0.1:0", "127.0.0.1:0"
		cfg.Tuning.LogDBMemory = "tiny"
		cfg.Tuning.ProposalTimeout = broker.Duration(3 * time.Second)
		cfg.LogLevel = "warn"
		for _, f := range o.mods {
			f(id, &cfg)
		}
		cfg.NodeID = id
		cfg.Data = filepath.Join(base, fmt.Sprintf("node%d", i))
		// The actor port must be known before any node starts: the dialers recognise peers by it.
		cfg.Actor = testutil.FreePort(t)
		// Raft runs over the channel transport: the address is a name, never bound.
		cfg.Raft = fmt.Sprintf("sim%d.node%d:7100", k, i)
		// The data dir exists on the real disk even with in-memory disks: the broker keeps its small
		// metadata-role file there (written once, synced).
		if err := os.MkdirAll(cfg.Data, 0o755); err != nil {
			t.Fatal(err)
		}
		n := &Node{ID: id, c: c, cfg: cfg}
		if !o.onDisk {
			quietStdLog()
			n.raftFS, n.storeFS = lvfs.NewStrictMem(), pvfs.NewCrashableMem()
		}
		c.net.raft[cfg.Raft] = id
		c.net.actor[cfg.Actor] = id
		c.nodes = append(c.nodes, n)
		peers = append(peers, fmt.Sprintf("%d@%s", i, cfg.Raft))
	}
	t.Cleanup(c.close)
	for _, n := range c.nodes {
		n.cfg.Peers = strings.Join(peers, ",")
		if err := n.start(); err != nil {
			t.Fatalf("testkit: start node %d: %v", n.ID, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatalf("testkit: %v", err)
	}
	c.event("cluster of %d nodes ready (seed %d)", o.nodes, o.seed)
	return c
}

// WaitReady waits until every running node is ready (registered in the metadata group and caught up).
func (c *Cluster) WaitReady(ctx context.Context) error {
	for _, n := range c.nodes {
		if b := n.Broker(); b != nil {
			if err := b.WaitReady(ctx); err != nil {
				return fmt.Errorf("node %d not ready: %w", n.ID, err)
			}
		}
	}
	return nil
}

// Seed is the seed of this run: pass it as -testkit.seed to replay.
func (c *Cluster) Seed() uint64 { return c.seed }

// Network is the cluster's simulated network (link states).
func (c *Cluster) Network() *Network { return c.net }

// Node returns node id (1-based); it fails the test for an unknown id.
func (c *Cluster) Node(id NodeID) *Node {
	if id < 1 || int(id) > len(c.nodes) {
		c.t.Fatalf("testkit: no node %d (cluster of %d)", id, len(c.nodes))
	}
	return c.nodes[id-1]
}

// Nodes returns every node's id.
func (c *Cluster) Nodes() []NodeID {
	ids := make([]NodeID, len(c.nodes))
	for i := range c.nodes {
		ids[i] = NodeID(i + 1)
	}
	return ids
}

// Running returns the ids of the nodes running now (not crashed or stopped).
func (c *Cluster) Running() []NodeID {
	var ids []NodeID
	for _, n := range c.nodes {
		if n.Broker() != nil {
			ids = append(ids, n.ID)
		}
	}
	return ids
}

// Addrs returns every node's client address, node id's first: a client given this list connects to
// node id and fails over to the others.
func (c *Cluster) Addrs(first NodeID) string {
	addrs := []string{c.Node(first).Addr()}
	for _, n := range c.nodes {
		if n.ID != first {
			addrs = append(addrs, n.Addr())
		}
	}
	return strings.Join(addrs, ",")
}

// Client returns a Go client connected to node id (falling back to the other nodes when that one is
// down, and failing over to them later like any client given the whole list). It is closed at test
// cleanup. It fails the test if no node answers within 30 s.
func (c *Cluster) Client(id NodeID, opts ...client.Option) *client.Client {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := client.Connect(ctx, c.Addrs(id), opts...)
	if err != nil {
		c.t.Fatalf("testkit: connect to node %d: %v", id, err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// Broker returns the running broker, or nil while the node is crashed or stopped.
func (n *Node) Broker() *broker.Broker { return n.b.Load() }

// Addr is the node's client address (stable across restarts).
func (n *Node) Addr() string { return n.cfg.Listen }

// HTTPAddr is the node's HTTP address (stable across restarts).
func (n *Node) HTTPAddr() string { return n.cfg.HTTP }

func (n *Node) start() error {
	cfg := n.cfg
	cfg.Hooks = broker.Hooks{
		RaftTransport: &raftFactory{net: n.c.net, self: n.ID},
		DialActor:     n.c.net.dialer(n.ID),
		GatewayTap:    n.c.tap(n.ID),
	}
	if n.raftFS != nil {
		cfg.Hooks.RaftFS, cfg.Hooks.StoreFS = n.raftFS, n.storeFS
	}
	var b *broker.Broker
	var err error
	for attempt := 0; ; attempt++ {
		b, err = broker.Start(cfg, n.c.log.logger(n.ID))
		// A restart right after a stop can find Dragonboat still releasing the shard, or the old
		// listener's port not yet free: retry for a moment.
		if err == nil || attempt == 20 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	// Restarts keep the addresses clients and peers know.
	n.cfg.Listen, n.cfg.HTTP = b.Addr(), b.HTTPAddr()
	n.b.Store(b)
	return nil
}

// ErrNotRunning is returned when a node that is crashed or stopped is stopped or crashed again, and
// ErrRunning when a running node is restarted.
var (
	ErrNotRunning = errors.New("testkit: node is not running")
	ErrRunning    = errors.New("testkit: node is running")
)

// Stop shuts node id down cleanly (broker.Close: in-flight publishes answered, everything flushed and
// closed), then cuts its links. Restart brings it back.
func (c *Cluster) Stop(ctx context.Context, id NodeID) error {
	n := c.Node(id)
	n.mu.Lock()
	defer n.mu.Unlock()
	b := n.b.Load()
	if b == nil {
		return ErrNotRunning
	}
	c.event("stop node %d", id)
	err := b.Close(ctx)
	n.b.Store(nil)
	c.net.setDown(id, true)
	return err
}

// Crash stops node id abruptly: its links are cut first (nothing it does afterwards reaches anyone),
// then it is closed, and with in-memory disks (the default) every write it had not fsynced is lost, as
// in a power failure. Restart brings it back on what survived.
func (c *Cluster) Crash(ctx context.Context, id NodeID) error {
	n := c.Node(id)
	n.mu.Lock()
	defer n.mu.Unlock()
	b := n.b.Load()
	if b == nil {
		return ErrNotRunning
	}
	c.event("crash node %d", id)
	c.net.setDown(id, true)
	var storeAfter *pvfs.MemFS
	if n.raftFS != nil {
		// The crash point: from here on no write of this node becomes durable.
		n.raftFS.SetIgnoreSyncs(true)
		storeAfter = n.storeFS.CrashClone(pvfs.CrashCloneCfg{})
	}
	// The broker cannot be killed inside a shared process: close it with a short deadline. Its links
	// are cut and its disks no longer persist anything, so what it does while closing is invisible.
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_ = b.Close(cctx)
	cancel()
	n.b.Store(nil)
	if n.raftFS != nil {
		n.raftFS.ResetToSyncedState()
		n.raftFS.SetIgnoreSyncs(false)
		n.storeFS = storeAfter
	}
	return nil
}

// Restart starts a crashed or stopped node again on its data and waits until it is ready.
func (c *Cluster) Restart(ctx context.Context, id NodeID) error {
	n := c.Node(id)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.b.Load() != nil {
		return ErrRunning
	}
	c.event("restart node %d", id)
	c.net.setDown(id, false)
	if err := n.start(); err != nil {
		c.net.setDown(id, true)
		return fmt.Errorf("testkit: restart node %d: %w", id, err)
	}
	return n.Broker().WaitReady(ctx)
}

// Partition splits the cluster: links between nodes of different groups are blocked both ways (Raft
// and actor traffic); nodes named in no group are each cut off from everyone.
func (c *Cluster) Partition(groups ...[]NodeID) {
	c.event("partition %v", groups)
	c.net.Partition(c.Nodes(), groups...)
}

// Isolate cuts node id off from every other node (its clients still reach it).
func (c *Cluster) Isolate(id NodeID) {
	var rest []NodeID
	for _, o := range c.Nodes() {
		if o != id {
			rest = append(rest, o)
		}
	}
	c.event("isolate node %d", id)
	c.net.Partition(c.Nodes(), []NodeID{id}, rest)
}

// Heal removes every link fault (partitions, delays, drops). Crashed and stopped nodes stay down.
func (c *Cluster) Heal() {
	c.event("heal")
	c.net.Heal()
}

// SlowLink delays all traffic from a to b and from b to a by d (0 removes the delay).
func (c *Cluster) SlowLink(a, b NodeID, d time.Duration) {
	c.event("slow link %d<->%d by %v", a, b, d)
	c.net.mu.Lock()
	c.net.update(a, b, func(l *Link) { l.Delay = d })
	c.net.update(b, a, func(l *Link) { l.Delay = d })
	c.net.mu.Unlock()
}

// DropRate makes Raft message batches between a and b (both ways) get lost with probability p.
func (c *Cluster) DropRate(a, b NodeID, p float64) {
	c.event("drop rate %d<->%d %.2f", a, b, p)
	c.net.mu.Lock()
	c.net.update(a, b, func(l *Link) { l.Drop = p })
	c.net.update(b, a, func(l *Link) { l.Drop = p })
	c.net.mu.Unlock()
}

func (c *Cluster) event(format string, args ...any) {
	s := fmt.Sprintf("%8.3fs ", time.Since(c.start).Seconds()) + fmt.Sprintf(format, args...)
	c.evMu.Lock()
	c.events = append(c.events, s)
	hist := c.hist
	c.evMu.Unlock()
	for _, h := range hist {
		h.Event(format, args...)
	}
	c.log.printf("testkit: %s", s)
}

// Record adds the cluster's nemesis events (and schedule steps) to h, so that violations show the
// faults around them.
func (c *Cluster) Record(h *History) {
	c.evMu.Lock()
	c.hist = append(c.hist, h)
	c.evMu.Unlock()
}

// EventLog returns the nemesis events so far, one per line, with the time since the cluster started.
func (c *Cluster) EventLog() string {
	c.evMu.Lock()
	defer c.evMu.Unlock()
	return strings.Join(c.events, "\n")
}

// close stops every running node cleanly at test cleanup.
func (c *Cluster) close() {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		if b := n.b.Swap(nil); b != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				_ = b.Close(ctx)
			}()
		}
	}
	wg.Wait()
	c.log.close()
}
