package broker_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	tu "github.com/sampan-io/sampan/internal/testutil"
)

// Tests of the migration from the legacy in-memory metadata group (data dirs of builds before the
// on-disk registry) to the on-disk registry: the old data dirs are made by nodes run with
// Hooks.LegacyMetadata, which behave as those builds did.

// migNode is one node of a migration test: its config (fixed ports, so that peers know it across
// restarts) and the broker running on it, if any.
type migNode struct {
	t   *testing.T
	cfg broker.Config
	b   *broker.Broker
}

func newMigNodes(t *testing.T, n int) []*migNode {
	var nodes []*migNode
	var peers []string
	for i := 1; i <= n; i++ {
		cfg := tu.Config(t, t.TempDir())
		cfg.NodeID = uint64(i)
		cfg.Listen, cfg.HTTP, cfg.Actor = tu.FreePort(t), tu.FreePort(t), tu.FreePort(t)
		cfg.Channels.IdleTimeout = broker.Duration(time.Hour) // channels stay hot: no passivation under the test
		nodes = append(nodes, &migNode{t: t, cfg: cfg})
		peers = append(peers, fmt.Sprintf("%d@%s", i, cfg.Raft))
	}
	for _, n := range nodes {
		n.cfg.Peers = strings.Join(peers, ",")
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	return nodes
}

// start starts the node with its config changed by mod (hooks), retrying while the ports of its last
// run are not free yet.
func (n *migNode) start(mod func(*broker.Hooks)) {
	n.t.Helper()
	cfg := n.cfg
	if mod != nil {
		mod(&cfg.Hooks)
	}
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; {
		n.b, err = broker.Start(cfg, tu.Logger(n.t))
		if err == nil || time.Now().After(deadline) || !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(50 * time.Millisecond) // a port of the last run, not released yet
	}
	if err != nil {
		n.t.Fatalf("start node %d: %v", n.cfg.NodeID, err)
	}
}

func (n *migNode) stop() {
	if n.b == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.b.Close(ctx); err != nil {
		n.t.Errorf("stop node %d: %v", n.cfg.NodeID, err)
	}
	n.b = nil
}

func (n *migNode) status() broker.ClusterStatus {
	n.t.Helper()
	var st broker.ClusterStatus
	getJSON(n.t, "GET", "http://"+n.b.HTTPAddr()+"/cluster/status", "", &st)
	return st
}

// step is the node's migration step ("" when it runs none).
func (n *migNode) step() string {
	if st := n.status(); st.Migration != nil {
		return st.Migration.Step
	}
	return ""
}

func (n *migNode) halted() bool {
	st := n.status()
	return st.Migration != nil && st.Migration.Halted
}

func waitReadyAll(t *testing.T, nodes ...*migNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, n := range nodes {
		if err := n.b.WaitReady(ctx); err != nil {
			t.Fatalf("node %d not ready: %v", n.cfg.NodeID, err)
		}
	}
}

// waitMigrated waits until every node uses the on-disk registry and has removed its legacy replica.
func waitMigrated(t *testing.T, nodes ...*migNode) {
	t.Helper()
	tu.Eventually(t, 90*time.Second, "every node migrated", func() bool {
		for _, n := range nodes {
			st := n.status()
			legacy, registry := n.b.MetaReplicas()
			if st.MetaShard != 2 || (st.Migration != nil && st.Migration.Step != "done") || legacy || !registry {
				return false
			}
		}
		return true
	})
}

// fill publishes per messages to each of n channels "mig.<i>" through the given nodes in turn and
// returns the payloads each channel holds, in seq order.
func fill(t *testing.T, ctx context.Context, nodes []*migNode, n, per int) map[string][]string {
	t.Helper()
	want := map[string][]string{}
	var clients []*client.Client
	for _, node := range nodes {
		clients = append(clients, connect(t, ctx, node.b))
	}
	for i := 0; i < n; i++ {
		ch := fmt.Sprintf("mig.%02d", i)
		for j := 0; j < per; j++ {
			p := fmt.Sprintf("%s-%d", ch, j)
			seq, err := clients[(i+j)%len(clients)].Publish(ctx, ch, []byte(p), client.WithIdempotencyKey(p))
			if err != nil {
				t.Fatalf("publish to %s: %v", ch, err)
			}
			if seq != uint64(j+1) {
				t.Fatalf("%s: seq %d, want %d", ch, seq, j+1)
			}
			want[ch] = append(want[ch], p)
		}
	}
	return want
}

// checkData checks, through the first node, that a subscriber from the earliest message of each
// channel of want gets them all (which also activates the channel: its replicas run and catch up);
// on every node, that the registry lists every channel and that the node's replicas hold its messages
// (replicas replicas of each channel in all); and that the channels and a new one take publishes with
// the next seqs.
func checkData(t *testing.T, ctx context.Context, nodes []*migNode, want map[string][]string, replicas int) {
	t.Helper()
	names := make([]string, 0, len(want))
	for ch := range want {
		names = append(names, ch)
	}
	slices.Sort(names)
	c := connect(t, ctx, nodes[0].b)
	for _, ch := range names {
		var col collector
		sub, err := c.Subscribe(ctx, ch, client.StartEarliest(), col.handle)
		if err != nil {
			t.Fatalf("subscribe %s: %v", ch, err)
		}
		tu.Eventually(t, 30*time.Second, "subscriber of "+ch+" got the stored messages", func() bool { return col.len() >= len(want[ch]) })
		col.check(t, 1, uint64(len(want[ch])))
		for i, m := range col.msgs {
			if string(m.Payload) != want[ch][i] {
				t.Fatalf("%s seq %d: %q, want %q", ch, m.Seq, m.Payload, want[ch][i])
			}
		}
		_ = sub.Unsubscribe(ctx)
	}
	found := map[string]int{}
	for _, n := range nodes {
		var listed []string
		for after := ""; ; {
			var page broker.ChannelList
			if code := getJSON(t, "GET", "http://"+n.b.HTTPAddr()+"/channels?prefix=mig.&limit=7&after="+after, "", &page); code != 200 {
				t.Fatalf("node %d: GET /channels: %d", n.cfg.NodeID, code)
			}
			for _, c := range page.Channels {
				listed = append(listed, c.Name)
			}
			if after = page.Next; after == "" {
				break
			}
		}
		if !slices.Equal(listed, names) {
			t.Fatalf("node %d lists %v, want %v", n.cfg.NodeID, listed, names)
		}
		for _, ch := range names {
			var msgs []string
			tu.Eventually(t, 30*time.Second, fmt.Sprintf("node %d's replica of %s caught up", n.cfg.NodeID, ch), func() bool {
				got, ok, err := n.b.ReplicaMessages(ctx, ch, 1, 1000)
				if err != nil {
					t.Fatalf("node %d: replica of %s: %v", n.cfg.NodeID, ch, err)
				}
				if !ok {
					msgs = nil
					return true
				}
				msgs = msgs[:0]
				for _, m := range got {
					msgs = append(msgs, string(m.Payload))
				}
				return len(msgs) >= len(want[ch])
			})
			if msgs == nil {
				continue
			}
			found[ch]++
			if !slices.Equal(msgs, want[ch]) {
				t.Fatalf("node %d's replica of %s holds %v, want %v", n.cfg.NodeID, ch, msgs, want[ch])
			}
		}
	}
	for _, ch := range names {
		if found[ch] != replicas {
			t.Fatalf("%s has %d replicas holding its messages, want %d", ch, found[ch], replicas)
		}
	}
	for _, ch := range names[:3] {
		p := fmt.Sprintf("%s-after", ch)
		if seq, err := c.Publish(ctx, ch, []byte(p)); err != nil || seq != uint64(len(want[ch])+1) {
			t.Fatalf("publish to %s after the migration: seq %d, %v", ch, seq, err)
		}
		want[ch] = append(want[ch], p)
	}
	fresh := fmt.Sprintf("fresh.%d", time.Now().UnixNano())
	if seq, err := c.Publish(ctx, fresh, []byte("x")); err != nil || seq != 1 {
		t.Fatalf("publish to a new channel after the migration: seq %d, %v", seq, err)
	}
	var cs broker.ChannelStatus
	getJSON(t, "GET", "http://"+nodes[0].b.HTTPAddr()+"/channels/"+fresh, "", &cs)
	for _, ch := range names {
		var old broker.ChannelStatus
		getJSON(t, "GET", "http://"+nodes[0].b.HTTPAddr()+"/channels/"+ch, "", &old)
		if old.ShardID >= cs.ShardID || len(cs.Replicas) != replicas {
			t.Fatalf("new channel %+v next to %+v: shard ids must keep growing", cs, old)
		}
	}
}

// copyDir copies a stopped node's data dir.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", from+"/.", to).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v %s", from, err, out)
	}
}

// haltAt returns a migration hook that halts the migration the nth time (from 1) it reaches step,
// and reports the halt on the returned channel.
func haltAt(step string, nth int) (func(string) bool, <-chan struct{}) {
	var seen atomic.Int32
	halted := make(chan struct{})
	var once sync.Once
	return func(s string) bool {
		if s == step && int(seen.Add(1)) == nth {
			once.Do(func() { close(halted) })
			return false
		}
		return true
	}, halted
}

func waitHalt(t *testing.T, halted <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-halted:
	case <-time.After(60 * time.Second):
		t.Fatalf("the migration never reached %s", what)
	}
}

// TestMigrationOneNode: a single node's data dir from a build before the on-disk registry, with
// channels and messages, restarted with this build: it migrates, and every channel and message is
// still there; so they are when the node stops before any one step of the migration (or between
// writing its marker and removing the legacy data) and restarts.
func TestMigrationOneNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	nodes := newMigNodes(t, 1)
	n := nodes[0]
	n.start(func(h *broker.Hooks) { h.LegacyMetadata = true })
	waitReadyAll(t, n)
	if st := n.status(); st.MetaShard != 1 || st.Migration != nil {
		t.Fatalf("an old build's node: %+v", st)
	}
	want := fill(t, ctx, nodes, 12, 4)
	orig := map[string][]string{}
	for ch, msgs := range want {
		orig[ch] = slices.Clone(msgs)
	}
	n.stop()
	legacyDir := t.TempDir()
	copyDir(t, n.cfg.Data, legacyDir)

	// The plain upgrade.
	n.start(func(h *broker.Hooks) { h.MigrationChunkBytes = 200 })
	waitMigrated(t, n)
	if _, err := os.Stat(filepath.Join(n.cfg.Data, "registry-migrated")); err != nil {
		t.Fatal(err)
	}
	checkData(t, ctx, nodes, want, 1)
	n.stop()
	n.start(nil) // after the migration: the marker, no legacy data
	waitReadyAll(t, n)
	if st := n.status(); st.MetaShard != 2 || st.Migration != nil {
		t.Fatalf("restart after the migration: %+v", st)
	}
	checkData(t, ctx, nodes, want, 1)
	n.stop()

	steps := []struct {
		step string
		nth  int
	}{{"propose-migrate", 1}, {"start-registry", 1}, {"import", 3}, {"switch", 1}, {"register", 1}, {"cleanup", 1}}
	for _, s := range steps {
		t.Run(fmt.Sprintf("stop-before-%s-%d", s.step, s.nth), func(t *testing.T) {
			outer := n.t
			n.t = t
			t.Cleanup(func() { n.stop(); n.t = outer })
			if err := os.RemoveAll(n.cfg.Data); err != nil {
				t.Fatal(err)
			}
			copyDir(t, legacyDir, n.cfg.Data)
			hook, halted := haltAt(s.step, s.nth)
			n.start(func(h *broker.Hooks) { h.MigrationChunkBytes = 200; h.MigrationStep = hook })
			waitHalt(t, halted, s.step)
			n.stop()
			if s.step == "cleanup" {
				// As if the node stopped between writing its marker and removing the legacy data.
				if err := os.WriteFile(filepath.Join(n.cfg.Data, "registry-migrated"), []byte("x\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			n.start(func(h *broker.Hooks) { h.MigrationChunkBytes = 200 })
			waitMigrated(t, n)
			data := map[string][]string{}
			for ch, msgs := range orig {
				data[ch] = slices.Clone(msgs)
			}
			checkData(t, ctx, []*migNode{n}, data, 1)
			n.stop()
		})
	}
}

// TestMigrationThreeNodes: a three-node cluster of an old build, upgraded node by node. While one node
// still runs the old build the migration waits; once every node runs this build it proceeds, with one
// node stopped before it started its registry replica and the node importing the legacy state
// stopped after its first chunk: the others finish the import, and both stopped nodes catch up when
// they restart. Every channel and message is there on every replica afterwards.
func TestMigrationThreeNodes(t *testing.T) {
	tu.SkipMultiNodeUnderRace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	nodes := newMigNodes(t, 3)
	for _, n := range nodes {
		n.start(func(h *broker.Hooks) { h.LegacyMetadata = true })
	}
	waitReadyAll(t, nodes...)
	want := fill(t, ctx, nodes, 10, 3)
	for _, n := range nodes {
		n.stop()
	}

	// Nodes 1 and 2 upgraded, node 3 still on the old build: the migration waits for it. The second
	// import step taken in the cluster halts its node's migration: the node leading the registry's
	// group stops after one chunk.
	var imports atomic.Int32
	importerCh := make(chan *migNode, 1)
	startNew := func(i int, extra func(string) bool) {
		nodes[i].start(func(h *broker.Hooks) {
			h.MigrationChunkBytes = 200
			h.MigrationStep = func(s string) bool {
				if s == "import" && imports.Add(1) == 2 {
					importerCh <- nodes[i]
					return false
				}
				return extra == nil || extra(s)
			}
		})
	}
	startNew(0, nil)
	startNew(1, nil)
	nodes[2].start(func(h *broker.Hooks) { h.LegacyMetadata = true })
	waitReadyAll(t, nodes...)
	for _, n := range nodes[:2] {
		tu.Eventually(t, 10*time.Second, "the migration waits for node 3", func() bool { return n.step() == "wait-for-nodes" })
		if st := n.status(); st.MetaShard != 1 {
			t.Fatalf("node %d with an old-build node in the cluster: %+v", n.cfg.NodeID, st)
		}
	}

	// Node 3 upgraded, but stopped before it starts its registry replica.
	nodes[2].stop()
	stop3, halted3 := haltAt("start-registry", 1)
	startNew(2, stop3)
	waitHalt(t, halted3, "start-registry on node 3")
	var importer *migNode
	select {
	case importer = <-importerCh:
	case <-time.After(60 * time.Second):
		t.Fatal("no node imported a chunk")
	}
	other := nodes[0]
	if importer == other {
		other = nodes[1]
	}
	// Node 3 restarts and starts its registry replica; the importer goes down for good: the other
	// node leads and finishes the import.
	nodes[2].stop()
	nodes[2].start(func(h *broker.Hooks) { h.MigrationChunkBytes = 200 })
	importer.stop()
	tu.Eventually(t, 90*time.Second, "the import finished without the first importer", func() bool {
		return other.status().MetaShard == 2 && nodes[2].status().MetaShard == 2
	})
	// The step shown is the one last taken: "switch" until the node's next look registers it.
	tu.Eventually(t, 30*time.Second, "the node left up registers and waits for the one down", func() bool {
		s := other.step()
		return s == "wait-for-nodes-to-switch" || s == "done"
	})
	importer.start(nil)
	waitMigrated(t, nodes...)
	for _, n := range nodes {
		if _, err := os.Stat(filepath.Join(n.cfg.Data, "registry-migrated")); err != nil {
			t.Fatal(err)
		}
	}
	// The importer just restarted: a channel whose actor it runs answers "metadata not ready" until
	// it has caught up, and a first subscribe does not retry that.
	waitReadyAll(t, nodes...)
	checkData(t, ctx, nodes, want, 3)

	// And a restart of the whole cluster on the migrated data dirs.
	for _, n := range nodes {
		n.stop()
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); n.start(nil) }()
	}
	wg.Wait()
	waitReadyAll(t, nodes...)
	checkData(t, ctx, nodes, want, 3)
}

// TestLegacyRejectsRegistryDir: a data dir that runs the on-disk registry cannot be started as the
// legacy group (the hook that makes old-build nodes refuses it with a clear error).
func TestLegacyRejectsRegistryDir(t *testing.T) {
	nodes := newMigNodes(t, 1)
	nodes[0].start(nil)
	waitReadyAll(t, nodes[0])
	nodes[0].stop()
	cfg := nodes[0].cfg
	cfg.Hooks.LegacyMetadata = true
	b, err := broker.Start(cfg, tu.Logger(t))
	if err == nil {
		b.Close(context.Background())
		t.Fatal("a registry data dir started as the legacy group")
	}
	if !strings.Contains(err.Error(), "on-disk registry") {
		t.Fatalf("unclear error: %v", err)
	}
}
