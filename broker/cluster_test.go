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
