package broker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	tu "github.com/sampan-io/sampan/internal/testutil"
)

// startCluster starts n nodes in this process, each with its own data dir and real TCP listeners
// (client, HTTP, Raft, actor remote), and waits until every node is ready.
func startCluster(t *testing.T, n int) []*broker.Broker {
	t.Helper()
	tu.SkipMultiNodeUnderRace(t)
	cfgs := make([]broker.Config, n)
	var peers []string
	for i := range cfgs {
		cfgs[i] = tu.Config(t, t.TempDir())
		cfgs[i].NodeID = uint64(i + 1)
		peers = append(peers, fmt.Sprintf("%d@%s", i+1, cfgs[i].Raft))
	}
	nodes := make([]*broker.Broker, n)
	for i := range cfgs {
		cfgs[i].Peers = strings.Join(peers, ",")
		nodes[i] = tu.StartBroker(t, cfgs[i])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, b := range nodes {
		if err := b.WaitReady(ctx); err != nil {
			t.Fatalf("node %d not ready: %v", i+1, err)
		}
	}
	return nodes
}

// TestClusterPublishSubscribeAcrossNodes: three nodes, R = 3. A client on node 1 publishes; subscribers
// on every node get every message in seq order; each node's replica stores them.
func TestClusterPublishSubscribeAcrossNodes(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var cols []*collector
	for _, b := range nodes {
		c := connect(t, ctx, b)
		col := &collector{}
		if _, err := c.Subscribe(ctx, "cluster.orders", client.StartEarliest(), col.handle); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, col)
	}
	const total = 500
	for i, b := range nodes {
		pub := connect(t, ctx, b)
		var last *client.PubFuture
		for j := 0; j < total/len(nodes)+1 && i*(total/len(nodes)+1)+j < total; j++ {
			f, err := pub.PublishAsync(ctx, "cluster.orders", []byte(fmt.Sprintf("n%d-%d", i+1, j)))
			if err != nil {
				t.Fatal(err)
			}
			last = f
		}
		if _, err := last.Wait(ctx); err != nil {
			t.Fatalf("publish via node %d: %v", i+1, err)
		}
	}
	for i, col := range cols {
		tu.Eventually(t, 30*time.Second, fmt.Sprintf("subscriber on node %d", i+1), func() bool { return col.len() >= total })
		col.check(t, 1, total)
	}
	// Every node holds a replica with every message.
	for i, b := range nodes {
		tu.Eventually(t, 10*time.Second, fmt.Sprintf("replica on node %d", i+1), func() bool {
			st, err := b.LocalChannelState(ctx, "cluster.orders")
			return err == nil && st.LastSeq == total && st.Msgs == total
		})
	}
}

// TestClusterNodeStopFailover stops the node that runs a channel's actor (and one replica) while a
// publisher on another node keeps publishing and a subscriber connected to the stopped node keeps
// reading: the channel keeps accepting publishes on the survivors, the subscriber's client reconnects to
// another node and resumes with no gap and no duplicate, and every acked message is stored once, in order.
func TestClusterNodeStopFailover(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	all := strings.Join([]string{nodes[0].Addr(), nodes[1].Addr(), nodes[2].Addr()}, ",")
	sub, err := client.Connect(ctx, all) // connects to node 1, the first of the list
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var col collector
	if _, err := sub.Subscribe(ctx, "fo.ch", client.StartEarliest(), col.handle); err != nil {
		t.Fatal(err)
	}
	pub := connect(t, ctx, nodes[2])
	acked := map[uint64]string{}
	publish := func(n int, tag string) {
		for i := 0; i < n; i++ {
			payload := fmt.Sprintf("%s-%d", tag, i)
			seq, err := pub.Publish(ctx, "fo.ch", []byte(payload), client.WithIdempotencyKey(payload))
			for err != nil && ctx.Err() == nil {
				// Unavailable while a new activation starts, or timeout (outcome unknown) for a publish in
				// flight when its node stopped: retry with the same idempotency key.
				seq, err = pub.Publish(ctx, "fo.ch", []byte(payload), client.WithIdempotencyKey(payload))
			}
			if err != nil {
				t.Fatal(err)
			}
			if prev, dup := acked[seq]; dup && prev != payload {
				t.Fatalf("seq %d acked for %q and %q", seq, prev, payload)
			}
			acked[seq] = payload
		}
	}
	t0 := time.Now()
	publish(200, "before")
	tu.Eventually(t, 30*time.Second, "subscriber caught up", func() bool { return col.len() >= 200 })
	t.Logf("200 published and received in %v", time.Since(t0))
	t0 = time.Now()
	stopCtx, stopCancel := context.WithTimeout(ctx, 30*time.Second)
	if err := nodes[0].Close(stopCtx); err != nil {
		t.Fatalf("stop node 1: %v", err)
	}
	stopCancel()
	t.Logf("node 1 stopped in %v", time.Since(t0))
	t0 = time.Now()
	publish(1, "first-after")
	t.Logf("first publish after the stop acked in %v", time.Since(t0))
	publish(200, "after")
	tu.Eventually(t, 30*time.Second, "subscriber resumed on another node", func() bool { return col.len() >= len(acked) })
	col.check(t, 1, uint64(len(acked)))
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, m := range col.msgs {
		if acked[m.Seq] != string(m.Payload) {
			t.Fatalf("seq %d holds %q, acked for %q", m.Seq, m.Payload, acked[m.Seq])
		}
	}
	if s := sub.Server(); s == nodes[0].Addr() || s == "" {
		t.Fatalf("subscriber's client is on %q, want a surviving node", s)
	}
}
