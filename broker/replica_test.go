package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	tu "github.com/sampan-io/sampan/internal/testutil"
)

// TestOtherActivationStopKeepsServingReplica: a second activation of a channel on another node (placement
// differed during a network fault) makes itself the last starter of this node's replica, then stops. Its
// StopShard must not unload the replica this node's activation serves: that activation stayed up with
// its replica gone, every read answered "unavailable", nothing restarted the replica, and its
// subscribers stalled (the testkit's "channel left without an activation after faults").
func TestOtherActivationStopKeepsServingReplica(t *testing.T) {
	b := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub, sub := connect(t, ctx, b), connect(t, ctx, b)
	var col collector
	if _, err := sub.Subscribe(ctx, "twice.active", client.StartEarliest(), col.handle); err != nil {
		t.Fatal(err)
	}
	publishN(t, ctx, pub, "twice.active", 3)
	tu.Eventually(t, 10*time.Second, "3 deliveries", func() bool { return col.len() == 3 })
	if err := b.ActAsOtherActivation(ctx, "twice.active"); err != nil {
		t.Fatalf("replica after another activation's stop: %v", err)
	}
	publishN(t, ctx, pub, "twice.active", 3)
	tu.Eventually(t, 10*time.Second, "6 deliveries", func() bool { return col.len() == 6 })
	col.check(t, 1, 6)
}

// TestClusterActivationWithoutReplicaStops: an activation whose replica was unloaded under it stops at
// its next replica check, without waiting for a publish to find out, so that the next request activates
// the channel afresh; subscribers that stayed connected on every node resume without reconnecting, and
// a new subscription is served.
func TestClusterActivationWithoutReplicaStops(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const ch = "lost.replica"
	cols := make([]*collector, len(nodes))
	for i, b := range nodes {
		cols[i] = &collector{}
		if _, err := connect(t, ctx, b).Subscribe(ctx, ch, client.StartEarliest(), cols[i].handle); err != nil {
			t.Fatal(err)
		}
	}
	pub := connect(t, ctx, nodes[0])
	publishN(t, ctx, pub, ch, 3)
	all := func(n int) func() bool {
		return func() bool {
			for _, c := range cols {
				if c.len() < n {
					return false
				}
			}
			return true
		}
	}
	tu.Eventually(t, 10*time.Second, "3 deliveries on every node", all(3))
	var host *broker.Broker
	for _, b := range nodes {
		if testutil.ToFloat64(b.Metrics.ActiveChannels) == 1 {
			host = b
		}
	}
	if host == nil {
		t.Fatal("no node runs the channel's actor")
	}
	if err := host.UnloadReplica(ctx, ch); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 10*time.Second, "the activation without its replica stopped", func() bool {
		return testutil.ToFloat64(host.Metrics.ActiveChannels) == 0
	})
	var fresh collector
	if _, err := connect(t, ctx, nodes[1]).Subscribe(ctx, ch, client.StartEarliest(), fresh.handle); err != nil {
		t.Fatal(err)
	}
	publishN(t, ctx, pub, ch, 3)
	tu.Eventually(t, 20*time.Second, "6 deliveries on every node", all(6))
	tu.Eventually(t, 10*time.Second, "6 deliveries to the new subscriber", func() bool { return fresh.len() == 6 })
	for _, c := range append(cols, &fresh) {
		c.check(t, 1, 6)
	}
}
